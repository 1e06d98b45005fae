"""Real environments for the tests, made by the real tools in temporary directories."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def run(*argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command, failing the test with its output if it fails."""
    completed = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"{argv} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )
    return completed.stdout


@functools.cache
def pyenv_python(version: str) -> Path | None:
    """The pyenv interpreter for ``3.12`` (any patch release), or None when absent."""
    versions = PYENV_ROOT / "versions"
    if not versions.is_dir():
        return None
    for entry in sorted(versions.iterdir(), reverse=True):
        if entry.name == version or entry.name.startswith(version + "."):
            for name in (f"python{version}", "python3", "python"):
                exe = entry / "bin" / name
                if exe.exists():
                    return exe
    return None


def uv() -> str:
    return shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def make_env(
    path: Path,
    tool: str = "venv",
    *,
    python: str | Path | None = None,
    ipykernel: bool = True,
    system_site_packages: bool = False,
    packages: tuple[str, ...] = (),
) -> Path:
    """Create an environment at ``path`` with ``tool`` (venv, uv or virtualenv).

    ipykernel and ``packages`` are installed with uv, which is fast from its cache.
    Returns the environment's ``bin/python``.
    """
    base = str(python or sys.executable)
    flags = ["--system-site-packages"] if system_site_packages else []
    if tool == "venv":
        run(base, "-m", "venv", *flags, path)
    elif tool == "uv":
        run(uv(), "venv", "--quiet", "--python", base, *flags, path)
    elif tool == "virtualenv":
        run(sys.executable, "-m", "virtualenv", "--quiet", "--python", base, *flags, path)
    else:
        raise ValueError(tool)
    interpreter = path / "bin" / "python"
    wanted = (["ipykernel"] if ipykernel else []) + list(packages)
    if wanted:
        install(interpreter, *wanted)
    return interpreter


def install(interpreter: Path, *requirements: str) -> None:
    """Install into the environment of ``interpreter``.

    Files are copied, not hard-linked from uv's cache: tests damage, chmod and chown
    installed files, which must never reach the cache that other environments share.
    """
    run(
        uv(),
        "pip",
        "install",
        "--quiet",
        "--link-mode=copy",
        "--python",
        interpreter,
        *requirements,
    )


#: The tools whose rules and environments the tests check against the real thing.
TOOLS = ("poetry", "pipenv", "pdm", "hatch")


def make_tools(venv: Path) -> Path:
    """The real poetry, pipenv, pdm and hatch in a throwaway venv; returns its ``bin``."""
    env = {**os.environ, "VIRTUAL_ENV": ""}
    run(uv(), "venv", "--quiet", "--python", sys.executable, venv, env=env)
    # pdm[locked]: the versions pdm was released with (a newer hishel breaks its locking).
    wanted = [f"{tool}[locked]" if tool == "pdm" else tool for tool in TOOLS]
    run(uv(), "pip", "install", "--quiet", "--python", venv / "bin" / "python", *wanted, env=env)
    return venv / "bin"


def python_prefix(interpreter: Path) -> Path:
    """The installation prefix of a (non-venv) interpreter."""
    code = "import sys; print(sys.base_prefix)"
    return Path(subprocess.check_output([str(interpreter), "-c", code], text=True).strip())


def python_version(interpreter: Path) -> str:
    """``X.Y.Z`` of an interpreter."""
    code = "import platform; print(platform.python_version())"
    return subprocess.check_output([str(interpreter), "-c", code], text=True).strip()


def copy_installation(source: Path, copy: Path) -> Path | None:
    """A copy of the Python installation at ``source``, without its packages, with ipykernel.

    A base Python that has ipykernel, whatever the test runner's own base has: what an
    HPC module or a distribution's Python gives ``--system-site-packages`` venvs.
    None when ``source`` is not a self-contained installation (a distribution's split one).
    """
    if not (source / "bin").is_dir() or not list(source.glob("lib/python3*/os.py")):
        return None
    skip = shutil.ignore_patterns(
        "test", "tests", "__pycache__", "idlelib", "tkinter", "turtledemo", "*.a", "lib2to3"
    )

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(skip(directory, names))
        if Path(directory).name.startswith("python") and "site-packages" in names:
            ignored.add("site-packages")
        return ignored

    shutil.copytree(source, copy, symlinks=True, ignore=ignore)
    for lib in (copy / "lib").glob("python3*"):
        if (lib / "os.py").exists():
            (lib / "site-packages").mkdir(exist_ok=True)
    install(copy / "bin" / "python3", "ipykernel")
    return copy
