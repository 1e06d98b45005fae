"""Real environments for the tests, made by the real tools in temporary directories."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a command, failing the test with its output if it fails."""
    completed = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, check=False
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
