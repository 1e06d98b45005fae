"""Helpers of the tests of making environments: local packages, locked uv projects, and
waiting for a kernel that changes process (the making kernel becomes the real one)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from envfactory import uv
from jupyter import ExecuteResult, JupyterServer

PREFIX = "import sys; print(sys.prefix)"
LOCAL = "import localdep; print(localdep.VALUE)"
#: Tools' own settings that must not come from the test runner's shell.
TOOL_VARIABLES = ("VIRTUAL_ENV", "CONDA", "POETRY_", "PIPENV_", "PDM_", "HATCH_", "PYENV", "XDG_")


def uv_env() -> dict[str, str]:
    """uv as the tests run it: the machine's cache (fast installs), never a Python download."""
    cache = subprocess.check_output([uv(), "cache", "dir"], text=True).strip()
    return {"UV_CACHE_DIR": cache, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}


def tools_environ(home: Path) -> dict[str, str]:
    """The runner's variables without any tool's settings, with ``home`` as the home."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(TOOL_VARIABLES)}
    return {
        **kept,
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def local_package(
    where: Path, name: str = "localdep", value: int = 42, build_seconds: float = 0
) -> Path:
    """A local package that uv builds from its directory (what a project's own code is).

    With ``build_seconds``, building its wheel takes at least that long (an in-tree build
    backend around hatchling's), so that a test sees the build while it runs.
    """
    package = where / name
    (package / name).mkdir(parents=True)
    backend = 'build-backend = "hatchling.build"\n'
    if build_seconds:
        backend = 'build-backend = "slow_backend"\nbackend-path = ["_build"]\n'
        (package / "_build").mkdir()
        (package / "_build" / "slow_backend.py").write_text(
            "import time\n"
            "from hatchling.build import *  # noqa: F403\n"
            "from hatchling.build import build_wheel as _build_wheel\n\n\n"
            "def build_wheel(*args, **kwargs):\n"
            f"    time.sleep({build_seconds!r})\n"
            "    return _build_wheel(*args, **kwargs)\n"
        )
    (package / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0"\n\n'
        f'[build-system]\nrequires = ["hatchling"]\n{backend}'
        '\n[tool.hatch.build.targets.wheel]\npackages = ["' + name + '"]\n'
    )
    (package / name / "__init__.py").write_text(f"VALUE = {value}\n")
    return package


def local_wheel(where: Path, name: str = "localdep", value: int = 42) -> Path:
    """A wheel of a local package (installable with no build backend at hand)."""
    source = local_package(where / "src", name, value)
    out = where / "dist"
    subprocess.run(
        [uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)], check=True
    )
    return next(out.glob(f"{name}-1.0-*.whl"))


def uv_project(root: Path, name: str, dependency: str = "localdep", source: str = "") -> Path:
    """A locked uv project with a notebook directory, as a clone has it: no .venv."""
    project = root / name
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        f'dependencies = ["{dependency}"]\n\n'
        f"[tool.uv]\npackage = false\n\n[tool.uv.sources]\n{dependency} = {{ path = "
        f'"{source or "../localdep"}" }}\n'
    )
    subprocess.run(
        [uv(), "lock", "--quiet"], cwd=project, env={**os.environ, **uv_env()}, check=True
    )
    assert (project / "uv.lock").is_file() and not (project / ".venv").exists()
    return project


def until(check: Callable[[], ExecuteResult | None], timeout: float = 120) -> ExecuteResult:
    """Retry ``check`` until it returns a result (the kernel changes process in between)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:
            last = error
            result = None
        if result is not None:
            return result
        time.sleep(0.5)
    raise TimeoutError(f"gave up waiting: {last!r}")


def runs_in(server: JupyterServer, kernel: str, code: str = PREFIX) -> ExecuteResult:
    """The first answer of the kernel (once made) that ran ``code``."""
    answers: list[ExecuteResult] = []

    def ran() -> ExecuteResult | None:
        result = server.execute(kernel, code, timeout=300)
        answers.append(result)
        return result if result.status == "ok" else None

    try:
        return until(ran)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; last answers: {answers[-2:]}") from None
