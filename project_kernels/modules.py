"""Environment modules (Lmod, Environment Modules) that an environment was built with.

On clusters people run ``module load GCC/10.3.0 Python/3.9.5``, then make a venv
with ``--system-site-packages``, and must load the same modules every time before
activating it. The environment records them in a declaration file,
``<env>/project-kernels.toml``::

    modules = ["GCC/10.3.0", "Python/3.9.5"]

(``project-kernels pin-modules`` writes it from the shell's ``LOADEDMODULES``).
Reading it is pure: one ``open`` of the chosen environment's file, which fails at
once when the environment declares nothing.

When a kernel starts from an environment that declares modules, the site's
module system computes the environment they make (``$LMOD_CMD python load A B``,
or ``modulecmd python load A B``), in a subprocess bounded by a timeout, and the
venv's activation goes on top of it. That takes a second or more on a busy login
node, so the result is cached per user, keyed by the module list and the base
environment and checked against the modulefiles' modification times; a file lock
makes ten kernels starting at once compute it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import declaration

# Re-exported (see __all__): the declaration's names were first defined here.
from .bounded import TimedOut, run_bounded
from .declaration import DECLARATION_NAME, DeclarationError, check_module_name
from .discovery import Walk
from .environments import Environment, Problem, ProblemCode
from .files import write_atomically
from .trust import is_untrusted

__all__ = [
    "DECLARATION_NAME",
    "DEFAULT_INIT_FILES",
    "FAILURE_TTL",
    "VOLATILE_VARIABLES",
    "Computed",
    "DeclarationError",
    "ModuleSettings",
    "ModuleSystem",
    "ModulesError",
    "apply_changes",
    "cache_key",
    "check_module_name",
    "compute",
    "environment_changes",
    "file_stamps",
    "find_module_system",
    "module_environment",
    "parse_declaration",
    "read_declaration",
    "render_declaration",
    "sourced_environment",
    "stamps_of",
    "system_for",
    "system_from_variables",
    "with_modules",
    "write_declaration",
]

#: Shell files that set up the module system at login, sourced (in this order) when the
#: server's own environment has neither ``LMOD_CMD`` nor ``MODULESHOME``.
DEFAULT_INIT_FILES: tuple[str, ...] = (
    "/etc/profile.d/lmod.sh",
    "/etc/profile.d/z00_lmod.sh",
    "/etc/profile.d/modules.sh",
    "/usr/share/lmod/lmod/init/profile",
    "/usr/share/Modules/init/profile.sh",
)

#: Variables that differ from one kernel start to the next without changing what modules do.
VOLATILE_VARIABLES: frozenset[str] = frozenset(
    {"JPY_SESSION_NAME", "JPY_PARENT_PID", "PWD", "OLDPWD", "SHLVL", "_"}
)

#: How long a failed load is remembered: long enough for kernels that waited on the lock
#: to share it, short enough that a fixed modulefile is picked up at the next try.
FAILURE_TTL = 5.0

# -- the declaration (pure; see .declaration) ----------------------------------------


def parse_declaration(text: str) -> tuple[str, ...]:
    """The module names in a declaration's text, in load order."""
    return declaration.parse(text).modules


def read_declaration(root: Path) -> tuple[str, ...]:
    """The modules ``root`` declares; empty when it has no declaration file."""
    return declaration.read(root).modules


def render_declaration(modules: Sequence[str]) -> str:
    """The declaration file's text for ``modules`` (what ``pin-modules`` writes)."""
    return declaration.render_modules(modules)


def write_declaration(root: Path, modules: Sequence[str]) -> Path:
    """Write ``root``'s module list atomically (keeping its other tables); returns its path."""
    return declaration.write_modules(root, modules)


# -- settings and errors -----------------------------------------------------------------


@dataclass(frozen=True)
class ModuleSettings:
    """How the module system is found and its results kept (see :mod:`.config`)."""

    #: ``lmod`` or ``modulecmd``; empty: found from the environment or the init files.
    command: str = ""
    init_files: tuple[str, ...] = DEFAULT_INIT_FILES
    #: Where computed module environments are cached; None: the user's cache directory.
    cache_dir: Path | None = None
    timeout: float = 60.0

    def cache_path(self) -> Path:
        """The cache directory in use."""
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        return Path(base) / "project-kernels" / "modules"


class ModulesError(Exception):
    """Loading the modules failed; ``summary`` and ``fix`` are for the notebook's reader.

    The same failure is shared (and cached) by every environment declaring the same
    modules, so the fix names no environment; with ``repin`` the launch adds the
    command that records the right modules for the environment at hand.
    """

    def __init__(self, summary: str, fix: str, *, repin: bool = False) -> None:
        super().__init__(summary)
        self.summary = summary
        self.fix = fix
        self.repin = repin

    def fix_for(self, environment: Path) -> str:
        """The fix, said for ``environment``."""
        if not self.repin:
            return self.fix
        return f"{self.fix} `module load ...; project-kernels pin-modules {environment}`."


# -- finding the module system -----------------------------------------------------------


@dataclass(frozen=True)
class ModuleSystem:
    """A module command and the shell-independent way to call it."""

    name: str  # "Lmod" or "Environment Modules"
    command: str

    def load_argv(self, modules: Sequence[str]) -> list[str]:
        """The command that prints Python code loading ``modules``."""
        return [self.command, "python", "load", *modules]


def system_for(command: str) -> ModuleSystem:
    """The module system a command path belongs to, judged by its name."""
    name = "Lmod" if os.path.basename(command).startswith("lmod") else "Environment Modules"
    return ModuleSystem(name, command)


def system_from_variables(env: Mapping[str, str]) -> ModuleSystem | None:
    """The module system that a shell with ``env`` would use, as its ``module`` function does."""
    candidates = [
        ("Lmod", env.get("LMOD_CMD", "")),
        ("Environment Modules", env.get("MODULES_CMD", "")),
    ]
    home = env.get("MODULESHOME", "")
    if home:
        candidates += [
            ("Lmod", os.path.join(home, "libexec", "lmod")),
            ("Environment Modules", os.path.join(home, "libexec", "modulecmd.tcl")),
            ("Environment Modules", os.path.join(home, "bin", "modulecmd")),
        ]
    for name, command in candidates:
        if command and os.path.isfile(command) and os.access(command, os.X_OK):
            return ModuleSystem(name, command)
    return None


def find_module_system(
    base: Mapping[str, str], settings: ModuleSettings
) -> tuple[ModuleSystem, dict[str, str]]:
    """The module system, and ``base`` plus what the site's init file set up (if one ran).

    In the order a login shell would find it: the configured command, ``LMOD_CMD``
    or ``MODULESHOME`` in the environment, else the first init file that sets one up.
    """
    if settings.command:
        if not os.access(settings.command, os.X_OK):
            raise ModulesError(
                f"The configured module command {settings.command} does not exist or is not "
                "executable.",
                "Set c.ProjectKernels.module_command to the path of `lmod` or `modulecmd` "
                "(on a login node: `echo $LMOD_CMD`), or to '' to find it automatically.",
            )
        return system_for(settings.command), dict(base)
    found = system_from_variables(base)
    if found is not None:
        return found, dict(base)
    for init in settings.init_files:
        if not os.path.isfile(init):
            continue
        env = sourced_environment(init, base, settings.timeout)
        found = system_from_variables(env)
        if found is not None:
            return found, env
    tried = ", ".join(settings.init_files) or "none configured"
    raise ModulesError(
        "No module system (Lmod or Environment Modules) was found: the server's environment "
        f"has neither LMOD_CMD nor MODULESHOME, and no init file sets one up ({tried}).",
        "Set c.ProjectKernels.module_command to the path of `lmod` or `modulecmd` (on a login "
        "node: `echo $LMOD_CMD`), or start Jupyter from a shell in which `module` works.",
    )


_DUMP_ENVIRONMENT = "import json, os, sys; json.dump(dict(os.environ), sys.stdout)"


def sourced_environment(init: str, base: Mapping[str, str], timeout: float) -> dict[str, str]:
    """``base`` after ``. init`` in ``/bin/sh``, as a login shell would have it."""
    argv = [
        "/bin/sh",
        "-c",
        '. "$0" >/dev/null 2>&1 </dev/null; exec "$@"',
        init,
        sys.executable,
        "-I",
        "-c",
        _DUMP_ENVIRONMENT,
    ]
    returncode, stdout, _ = _run(argv, base, timeout)
    if returncode != 0:
        return dict(base)
    try:
        loaded = json.loads(stdout)
    except ValueError:
        return dict(base)
    return {str(k): str(v) for k, v in loaded.items()}


# -- computing and caching the module environment ----------------------------------------

#: Runs the module command and executes its Python output, in a child process (never in
#: the server: modulefiles may emit any code), then reports the resulting environment.
_LOAD_SCRIPT = r"""
import json, os, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
namespace = {"os": os}
ok, error = done.returncode == 0, ""
if ok:
    try:
        exec(done.stdout, namespace)
    except Exception as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}"
ok = ok and namespace.get("_mlstatus", True) is not False
json.dump({"ok": ok, "stderr": done.stderr, "error": error, "env": dict(os.environ)}, sys.stdout)
"""


@dataclass(frozen=True)
class Computed:
    """One module load's outcome: the variables it changed, and the files it depends on."""

    changes: dict[str, str | None]
    stamps: dict[str, int | None]


def compute(modules: Sequence[str], base: Mapping[str, str], settings: ModuleSettings) -> Computed:
    """Load ``modules`` with the site's module system, in a subprocess; no cache."""
    system, prepared = find_module_system(base, settings)
    argv = [sys.executable, "-I", "-c", _LOAD_SCRIPT, *system.load_argv(modules)]
    returncode, stdout, stderr = _run(argv, prepared, settings.timeout)
    try:
        report = json.loads(stdout)
    except ValueError:
        raise _load_failed(modules, system, (stderr or stdout).strip()) from None
    if returncode != 0 or not report.get("ok"):
        raise _load_failed(
            modules, system, (report.get("stderr") or report.get("error") or "").strip()
        )
    after = {str(k): str(v) for k, v in report["env"].items()}
    changes = environment_changes(base, after)
    files = [f for f in after.get("_LMFILES_", "").split(":") if f]
    return Computed(changes, file_stamps([system.command, *files]))


def module_environment(
    modules: Sequence[str], base: Mapping[str, str], settings: ModuleSettings
) -> dict[str, str]:
    """``base`` with ``modules`` loaded, from the cache when nothing they depend on changed.

    Raises :class:`ModulesError` with a person-facing explanation when they cannot load.
    """
    cache = settings.cache_path()
    key = cache_key(modules, base, settings)
    entry = _read_entry(cache / f"{key}.json") or _locked_compute(modules, base, settings, key)
    if not entry["ok"]:
        raise ModulesError(str(entry["summary"]), str(entry["fix"]), repin=bool(entry.get("repin")))
    changes = entry["changes"]
    assert isinstance(changes, dict)
    return apply_changes(base, changes)


def _locked_compute(
    modules: Sequence[str], base: Mapping[str, str], settings: ModuleSettings, key: str
) -> dict[str, object]:
    """Compute under the cache's lock, unless another kernel start did while we waited."""
    from filelock import FileLock, Timeout

    cache = settings.cache_path()
    try:
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(str(cache / f"{key}.lock"), timeout=settings.timeout + 10)
        lock.acquire()
    except Timeout:
        listed = " ".join(modules)
        raise ModulesError(
            f"Another kernel start has been loading the modules {listed} for more than "
            f"{settings.timeout:g} seconds.",
            f"Try again in a moment; if it persists, try `module load {listed}` in a terminal.",
        ) from None
    except OSError:
        # An unusable cache directory must not stop the kernel: compute without it.
        return _compute_entry(modules, base, settings)
    try:
        entry = _read_entry(cache / f"{key}.json")
        if entry is None:
            entry = _compute_entry(modules, base, settings)
            with contextlib.suppress(OSError):
                write_atomically(cache / f"{key}.json", json.dumps(entry))
        return entry
    finally:
        lock.release()


def cache_key(modules: Sequence[str], base: Mapping[str, str], settings: ModuleSettings) -> str:
    """What a module load's result depends on besides the modulefiles themselves."""
    stable = sorted((k, v) for k, v in base.items() if k not in VOLATILE_VARIABLES)
    payload = json.dumps(
        {
            "modules": list(modules),
            "command": settings.command,
            "init": list(settings.init_files),
            "env": stable,
            "python": sys.executable,
            # Module loads may differ between nodes sharing one home directory.
            "node": platform.node(),
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def environment_changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, str | None]:
    """The variables set (to a value) or removed (None) between two environments."""
    changes: dict[str, str | None] = {
        k: v for k, v in after.items() if before.get(k) != v and k not in VOLATILE_VARIABLES
    }
    changes.update({k: None for k in before if k not in after and k not in VOLATILE_VARIABLES})
    return changes


def apply_changes(base: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """A copy of ``base`` with ``changes`` made."""
    env = dict(base)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def file_stamps(paths: Iterable[str]) -> dict[str, int | None]:
    """Modification times of files and of their directories (where a new version would appear)."""
    return stamps_of(item for path in paths for item in (path, os.path.dirname(path)) if item)


def stamps_of(paths: Iterable[str]) -> dict[str, int | None]:
    """The modification time of each path (None when it is gone)."""
    stamps: dict[str, int | None] = {}
    for path in paths:
        if path not in stamps:
            try:
                stamps[path] = os.stat(path).st_mtime_ns
            except OSError:
                stamps[path] = None
    return stamps


def _compute_entry(
    modules: Sequence[str], base: Mapping[str, str], settings: ModuleSettings
) -> dict[str, object]:
    try:
        computed = compute(modules, base, settings)
    except ModulesError as error:
        return {
            "ok": False,
            "summary": error.summary,
            "fix": error.fix,
            "repin": error.repin,
            "created": time.time(),
        }
    return {"ok": True, "changes": computed.changes, "stamps": computed.stamps}


def _read_entry(path: Path) -> dict[str, object] | None:
    """A cache entry that is still valid, or None."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    if not entry.get("ok"):
        fresh = time.time() - float(entry.get("created", 0)) < FAILURE_TTL
        return entry if fresh else None
    stamps = entry.get("stamps")
    if not isinstance(stamps, dict) or stamps_of(stamps) != stamps:
        return None
    return entry


def _load_failed(modules: Sequence[str], system: ModuleSystem, message: str) -> ModulesError:
    listed = " ".join(modules)
    # Module systems wrap and pad their messages for a terminal; the notebook shows one paragraph.
    said = " ".join(message.split())
    said = f" {system.name} says: {said}" if said else ""
    return ModulesError(
        f"The environment modules this environment needs could not be loaded "
        f"(module load {listed}).{said}",
        "Check the names with `module spider NAME` in a terminal; then load the right ones "
        "and record them for this environment:",
        repin=True,
    )


def _run(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[int, str, str]:
    """Run ``argv``; on timeout kill its whole process group (the module command included)."""
    try:
        finished = run_bounded(argv, timeout, env)
    except OSError as error:
        raise ModulesError(
            f"The module command could not be started: {error.strerror} ({argv[0]}).",
            "Set c.ProjectKernels.module_command to the path of `lmod` or `modulecmd`.",
        ) from error
    except TimedOut:
        raise ModulesError(
            f"Loading the environment modules took longer than {timeout:g} seconds "
            "(a slow file system or a hanging modulefile).",
            "Try again; if loading them in a terminal is this slow too, raise "
            "c.ProjectKernels.module_timeout.",
        ) from None
    return finished.returncode, finished.stdout, finished.stderr


# -- the launch path -----------------------------------------------------------------


def with_modules(
    walk: Walk | None, base: Mapping[str, str], settings: ModuleSettings
) -> tuple[Walk | None, dict[str, str]]:
    """The walk with its environment's declared modules, and the base to activate it on.

    An environment that declares no modules costs one failed ``open``. One whose
    modules cannot load gets a :data:`ProblemCode.MODULES` problem (and the plain
    base), so it reaches the fallback kernel like any other unusable environment.
    An untrusted environment's declaration is not read: its only problems stay the
    trust checks' (see :mod:`.decision`).
    """
    environment = walk.environment if walk is not None else None
    if walk is None or environment is None or is_untrusted(environment):
        return walk, dict(base)
    try:
        declared = declaration.read(environment.root)
    except DeclarationError as error:
        return walk.with_environment(
            environment.with_problems(_bad_declaration(environment, error))
        ), dict(base)
    environment = replace(environment, modules=declared.modules, slurm=declared.slurm)
    if not declared.modules:
        return walk.with_environment(environment), dict(base)
    try:
        loaded = module_environment(declared.modules, base, settings)
    except ModulesError as error:
        problem = Problem(ProblemCode.MODULES, error.summary, error.fix_for(environment.root))
        return walk.with_environment(environment.with_problems(problem)), dict(base)
    return walk.with_environment(environment), loaded


def _bad_declaration(environment: Environment, error: DeclarationError) -> Problem:
    path = environment.root / DECLARATION_NAME
    if error.part == "slurm":
        return Problem(
            ProblemCode.SLURM,
            f"{path} says how this environment's kernels run as Slurm jobs, but {error}.",
            f"Correct the [slurm] table in {path} (see `project-kernels which`), or remove it "
            "to run the kernels where the server runs.",
        )
    return Problem(
        ProblemCode.MODULES,
        f"{path} should list the environment modules this environment needs, but {error}.",
        f"Load the modules in a shell and record them: `module load ...; project-kernels "
        f"pin-modules {environment.root}`, or delete {path} if it needs none.",
    )
