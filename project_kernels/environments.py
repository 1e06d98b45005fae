"""What a Python environment is, read from its files alone.

Everything here answers "what is in this directory?" by reading ``pyvenv.cfg``,
``dist-info`` directories and the interpreter's first bytes. Nothing runs: an
environment that someone else may have planted must not be executed merely to
find out what it is, and on shared file systems a subprocess per directory
would cost far more than a few ``stat`` calls.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .slurm.options import SlurmOptions

__all__ = [
    "MIN_IPYKERNEL",
    "MIN_PYTHON",
    "Environment",
    "Kind",
    "NotAnEnvironment",
    "Problem",
    "ProblemCode",
    "base_site_packages",
    "find_distribution_version",
    "inspect_venv",
    "install_command",
    "interpreter_problems",
    "lib_python_dirs",
    "parse_python_version",
    "read_pyvenv_cfg",
]

#: The oldest ipykernel accepted. Measured against jupyter_client 8.10 / jupyter_server 2.21:
#: 6.0.3 runs (given the ipython_genutils it forgets to declare); 5.5.6 starts but fails
#: every cell with the IPython 8+ that pip installs beside it today, and lacks the
#: debugger protocol JupyterLab uses. tests/test_failures.py checks both ends.
MIN_IPYKERNEL = Version("6.0")
#: The oldest Python any supported ipykernel runs on.
MIN_PYTHON = Version("3.7")


class Kind(str, Enum):
    """The tool that made an environment; decides how it is activated and repaired."""

    VENV = "venv"
    VIRTUALENV = "virtualenv"
    UV = "uv"
    CONDA = "conda"
    PIXI = "pixi"
    POETRY = "poetry"
    PIPENV = "pipenv"
    PDM = "pdm"
    HATCH = "hatch"
    PYENV = "pyenv"


class ProblemCode(str, Enum):
    """Why an environment cannot run a kernel. The values are part of the JSON output."""

    UNREADABLE = "unreadable"
    BAD_CONFIG = "bad-config"
    BASE_MISSING = "base-missing"
    NOT_EXECUTABLE = "not-executable"
    FOREIGN_BINARY = "foreign-binary"
    PYTHON_TOO_OLD = "python-too-old"
    NO_IPYKERNEL = "no-ipykernel"
    IPYKERNEL_TOO_OLD = "ipykernel-too-old"
    UNTRUSTED = "untrusted"
    MODULES = "modules"
    SLURM = "slurm-options"
    STARTUP_FAILED = "startup-failed"
    #: A project or notebook names an environment that is not there (or is no environment).
    CHOSEN_MISSING = "chosen-missing"
    #: A project or notebook names its environment in a way that cannot be followed.
    CHOSEN_INVALID = "chosen-invalid"


@dataclass(frozen=True)
class Problem:
    """One reason an environment cannot run a kernel, written for the notebook's reader."""

    code: ProblemCode
    summary: str
    fix: str


@dataclass(frozen=True)
class Environment:
    """A Python environment as found on disk.

    ``interpreter`` is the environment's own ``bin/python``, never resolved through
    its symlink: the symlink is what makes a venv a venv.
    """

    root: Path
    kind: Kind
    interpreter: Path
    python_version: Version | None = None
    ipykernel_version: Version | None = None
    base_home: Path | None = None
    system_site_packages: bool = False
    problems: tuple[Problem, ...] = ()
    #: Where this environment was found from and why it was chosen, for diagnostics.
    reason: str = ""
    #: Variables the tool's own activation sets beyond the standard ones (conda, pixi).
    extra_variables: Mapping[str, str] = field(default_factory=dict)
    #: Assignments made after ``extra_variables``, in order: each template is expanded
    #: against the variables built so far (``${NAME}``, ``${NAME:-default}``, ``$$`` for
    #: ``$``); None unsets. From conda's ``activate.d`` scripts and pixi's manifest.
    activation_exports: tuple[tuple[str, str | None], ...] = ()
    #: What a person may want to know that does not stop the launch (shown by the CLI).
    notes: tuple[str, ...] = ()
    #: Environment modules loaded before activation, as the environment declares (`.modules`).
    modules: tuple[str, ...] = ()
    #: What its kernels' Slurm jobs ask for (its declaration's ``[slurm]`` table), if anything.
    slurm: SlurmOptions | None = None

    @property
    def usable(self) -> bool:
        """True when nothing known stands in the way of launching a kernel."""
        return not self.problems

    @property
    def bin_dir(self) -> Path:
        """The directory that activation puts first on ``PATH``."""
        return self.interpreter.parent

    def with_problems(self, *problems: Problem) -> Environment:
        """A copy with more problems attached."""
        return replace(self, problems=self.problems + problems)


class NotAnEnvironment(Exception):
    """A directory carries an environment's name but is not one (skipped by discovery)."""


def read_pyvenv_cfg(text: str) -> dict[str, str]:
    """Parse ``pyvenv.cfg`` the way CPython's ``site`` module does: ``key = value`` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


_VERSION_PREFIX = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def parse_python_version(text: str) -> Version | None:
    """The ``X.Y[.Z]`` at the start of ``3.11.7`` or ``3.11.7.final.0``; None if absent."""
    match = _VERSION_PREFIX.match(text.strip())
    if not match:
        return None
    return Version(".".join(part for part in match.groups() if part is not None))


def inspect_venv(root: Path) -> Environment:
    """Inspect a venv-style environment (``pyvenv.cfg`` plus ``bin/python``).

    Raises :class:`NotAnEnvironment` when ``root`` is not one, and returns an
    :class:`Environment` with problems attached when it is one that cannot work.
    """
    cfg_path = root / "pyvenv.cfg"
    interpreter = root / "bin" / "python"
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError as error:
        raise NotAnEnvironment(_not_an_environment_reason(root)) from error
    except NotADirectoryError as error:
        raise NotAnEnvironment("is a file, not a directory") from error
    except PermissionError:
        return _unreadable(root, interpreter, cfg_path)
    except IsADirectoryError as error:
        raise NotAnEnvironment("its pyvenv.cfg is a directory") from error
    if not os.path.lexists(interpreter):
        raise NotAnEnvironment("has pyvenv.cfg but no bin/python")

    cfg = _decode_cfg(raw)
    if cfg is None:
        return Environment(
            root=root,
            kind=Kind.VENV,
            interpreter=interpreter,
            problems=(
                Problem(
                    ProblemCode.BAD_CONFIG,
                    f"{cfg_path} is not a text file of 'key = value' lines.",
                    f"Recreate the environment: {_recreate_command(root, Kind.VENV)}",
                ),
            ),
        )
    kind = _venv_kind(cfg)
    version = parse_python_version(cfg.get("version_info") or cfg.get("version") or "")
    lib_dirs = lib_python_dirs(root)
    if version is None:
        version = _version_from_lib_dirs(lib_dirs)
    home = Path(cfg["home"]) if cfg.get("home") else None
    system_site = cfg.get("include-system-site-packages", "false").lower() == "true"
    environment = Environment(
        root=root,
        kind=kind,
        interpreter=interpreter,
        python_version=version,
        base_home=home,
        system_site_packages=system_site,
    )
    site_dirs = [d / "site-packages" for d in lib_dirs]
    if system_site and home is not None and version is not None:
        site_dirs += base_site_packages(home.parent, version)
    ipykernel = find_distribution_version("ipykernel", site_dirs)
    environment = replace(environment, ipykernel_version=ipykernel)
    return environment.with_problems(*interpreter_problems(environment, cfg_path, home))


def interpreter_problems(
    env: Environment, cfg_path: Path | None = None, home: Path | None = None
) -> list[Problem]:
    """Problems that stop ``env.interpreter`` from running ipykernel, from files only."""
    problems: list[Problem] = []
    if cfg_path is not None and home is None:
        problems.append(
            Problem(
                ProblemCode.BAD_CONFIG,
                f"{cfg_path} does not say which Python it was made from (no 'home' line).",
                f"Recreate the environment: {_recreate_command(env.root, env.kind)}",
            )
        )
    if not env.interpreter.exists() or (home is not None and not home.is_dir()):
        problems.append(_base_missing(env, home))
        return problems
    binary_problem = _binary_problem(env)
    if binary_problem is not None:
        problems.append(binary_problem)
        return problems
    if env.python_version is not None and env.python_version < MIN_PYTHON:
        problems.append(
            Problem(
                ProblemCode.PYTHON_TOO_OLD,
                f"{env.root} uses Python {env.python_version}; Jupyter kernels (ipykernel "
                f"{MIN_IPYKERNEL} or newer) need Python {MIN_PYTHON} or newer.",
                "Recreate the environment with a newer Python, for example: "
                f"{_recreate_command(env.root, env.kind, newer_python=True)}",
            )
        )
    elif env.ipykernel_version is None:
        problems.append(
            Problem(
                ProblemCode.NO_IPYKERNEL,
                f"ipykernel is not installed in {env.root}, so it cannot run a Jupyter kernel.",
                f"Install it: {install_command(env, 'ipykernel')}",
            )
        )
    elif env.ipykernel_version < MIN_IPYKERNEL:
        problems.append(
            Problem(
                ProblemCode.IPYKERNEL_TOO_OLD,
                f"{env.root} has ipykernel {env.ipykernel_version}; this Jupyter server needs "
                f"ipykernel {MIN_IPYKERNEL} or newer.",
                f"Upgrade it: {install_command(env, 'ipykernel', upgrade=True)}",
            )
        )
    return problems


def install_command(env: Environment, requirement: str, *, upgrade: bool = False) -> str:
    """The shell command that installs ``requirement`` into ``env`` with the tool that made it."""
    flag = " --upgrade" if upgrade else ""
    if env.kind is Kind.UV or not (env.bin_dir / "pip").exists():
        return f"uv pip install{flag} --python {env.interpreter} {requirement}"
    return f"{env.interpreter} -m pip install{flag} {requirement}"


def base_site_packages(prefix: Path, version: Version) -> list[Path]:
    """Where a base interpreter under ``prefix`` keeps its packages (CPython and Debian layouts)."""
    xy = f"{version.major}.{version.minor}"
    dirs = [
        prefix / "lib" / f"python{xy}" / "site-packages",
        prefix / "local" / "lib" / f"python{xy}" / "dist-packages",
        prefix / "lib" / "python3" / "dist-packages",
    ]
    user_base = os.environ.get("PYTHONUSERBASE") or str(Path.home() / ".local")
    dirs.append(Path(user_base) / "lib" / f"python{xy}" / "site-packages")
    return dirs


def find_distribution_version(name: str, site_dirs: Iterable[Path]) -> Version | None:
    """The version of distribution ``name`` in the first of ``site_dirs`` that has it.

    Reads one directory listing per site directory, looking for
    ``name-X.Y.dist-info`` (or ``.egg-info``), as ``importlib.metadata`` would.
    """
    normalized = re.sub(r"[-_.]+", "_", name).lower()
    for site_dir in site_dirs:
        try:
            entries = os.listdir(site_dir)
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist, _, version = stem.partition("-")
            if re.sub(r"[-_.]+", "_", dist).lower() != normalized:
                continue
            try:
                return Version(version.split("-")[0])
            except InvalidVersion:
                continue
    return None


def _decode_cfg(raw: bytes) -> dict[str, str] | None:
    if b"\0" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    cfg = read_pyvenv_cfg(text)
    return cfg or None


def _venv_kind(cfg: Mapping[str, str]) -> Kind:
    if "uv" in cfg:
        return Kind.UV
    if "virtualenv" in cfg:
        return Kind.VIRTUALENV
    return Kind.VENV


def lib_python_dirs(root: Path) -> list[Path]:
    """An environment's ``lib/pythonX.Y`` (and ``lib64``, ``pypy``) directories."""
    dirs: list[Path] = []
    for lib in ("lib", "lib64"):
        try:
            names = sorted(os.listdir(root / lib))
        except OSError:
            continue
        dirs += [root / lib / n for n in names if n.startswith(("python", "pypy"))]
    return dirs


def _version_from_lib_dirs(lib_dirs: Iterable[Path]) -> Version | None:
    for lib_dir in lib_dirs:
        version = parse_python_version(lib_dir.name.removeprefix("python").removeprefix("pypy"))
        if version is not None:
            return version
    return None


def _not_an_environment_reason(root: Path) -> str:
    if root.is_file():
        return "is a file, not a directory"
    if root.is_dir():
        return "is a directory without pyvenv.cfg, so not a virtual environment"
    return "does not exist"


def _unreadable(root: Path, interpreter: Path, cfg_path: Path) -> Environment:
    owner = _owner_name(root)
    return Environment(
        root=root,
        kind=Kind.VENV,
        interpreter=interpreter,
        problems=(
            Problem(
                ProblemCode.UNREADABLE,
                f"Permission denied reading {cfg_path}"
                + (f" (the environment belongs to {owner})" if owner else "")
                + ".",
                f"Make it readable to you (for example `chmod -R u+rX,go+rX {root}` by its "
                "owner), or create your own environment here.",
            ),
        ),
    )


def _owner_name(path: Path) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError, ImportError):
        return None


def _base_missing(env: Environment, home: Path | None) -> Problem:
    broken = broken_link(env.interpreter)
    where = ""
    if broken is not None:
        link, target = broken
        where = f" ({link} points to {target}, which does not exist"
        where += f"; {env.interpreter} leads there)" if link != env.interpreter else ")"
    base = f"The Python it was made from, {home}, is gone" if home else "Its Python is gone"
    return Problem(
        ProblemCode.BASE_MISSING,
        f"{base}{where}: it was upgraded, removed, or (on a cluster) its module is not loaded.",
        f"Recreate the environment: {_recreate_command(env.root, env.kind)}; "
        "on a cluster, declare the modules it needs: `project-kernels pin-modules "
        f"{env.root}` after `module load ...`.",
    )


#: Links followed at most, as the kernel does (Linux's own limit): beyond that it is a loop.
_MAX_LINKS = 40


def broken_link(path: Path) -> tuple[Path, str] | None:
    """The last link of ``path``'s symlink chain and the target it names that is missing.

    For ``bin/python -> python3.12 -> /gone/bin/python3.12`` that is ``bin/python3.12``
    and ``/gone/bin/python3.12``: the link to repair or the Python to bring back.
    None when the chain ends at something that exists (or cannot be read).
    """
    current = os.fspath(path)
    for _ in range(_MAX_LINKS):
        try:
            # Relative targets are relative to the link's directory, as the OS reads them.
            target = os.path.join(os.path.dirname(current), os.readlink(current))
        except OSError:
            return None
        if not os.path.lexists(target):
            return Path(current), target
        if not os.path.islink(target):
            return None
        current = target
    return None


_ELF_MAGIC = b"\x7fELF"


@lru_cache(maxsize=1)
def _own_elf_identity() -> bytes | None:
    """Class, byte order and machine of the running interpreter, to compare others with."""
    try:
        with open(os.path.realpath(sys.executable), "rb") as handle:
            return _elf_identity(handle.read(20))
    except OSError:
        return None


def _elf_identity(header: bytes) -> bytes | None:
    if not header.startswith(_ELF_MAGIC) or len(header) < 20:
        return None
    return header[4:6] + header[18:20]


def _binary_problem(env: Environment) -> Problem | None:
    path = env.interpreter
    if not os.access(path, os.X_OK):
        return Problem(
            ProblemCode.NOT_EXECUTABLE,
            f"{path} is not executable by you.",
            f"Make it executable (`chmod +x {os.path.realpath(path)}`) or recreate the "
            f"environment: {_recreate_command(env.root, env.kind)}",
        )
    if not os.path.isfile(path):
        # A FIFO or device planted as bin/python would block the open() below forever.
        return Problem(
            ProblemCode.NOT_EXECUTABLE,
            f"{path} is not a regular file, so it is not a Python interpreter.",
            f"Recreate the environment: {_recreate_command(env.root, env.kind)}",
        )
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError as error:
        return Problem(
            ProblemCode.NOT_EXECUTABLE,
            f"{path} cannot be read: {error.strerror}.",
            f"Recreate the environment: {_recreate_command(env.root, env.kind)}",
        )
    if header.startswith(b"#!"):
        return None
    own = _own_elf_identity()
    identity = _elf_identity(header)
    if identity is not None and (own is None or identity == own):
        return None
    return Problem(
        ProblemCode.FOREIGN_BINARY,
        f"{path} is not a program this machine can run (it was built for another "
        "operating system or processor, or is not a program at all).",
        f"Recreate the environment on this machine: {_recreate_command(env.root, env.kind)}",
    )


def _recreate_command(root: Path, kind: Kind, *, newer_python: bool = False) -> str:
    version = "3.12" if newer_python else f"{sys.version_info.major}.{sys.version_info.minor}"
    if kind is Kind.UV:
        return (
            f"`uv venv --clear --python {version} {root}`, then install your packages and ipykernel"
        )
    python = f"python{version}" if newer_python else "python3"
    return f"`{python} -m venv --clear {root}`, then install your packages and ipykernel"
