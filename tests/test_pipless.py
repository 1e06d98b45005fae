"""Environments without pip (uv's): ``!pip`` and ``%pip`` in a cell act on the notebook's.

A real uv environment (no pip in it), a real server, a real kernel; the packages
installed are local wheels built once, so nothing but the package index is needed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server
from making import local_wheel

from project_kernels.pipless import STARTUP_FILE, with_server_tools

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pipless")
    (base / "root").mkdir()
    make_env(base / "root" / "uvproj" / ".venv", "uv")
    assert not (base / "root" / "uvproj" / ".venv" / "bin" / "pip").exists()
    return base / "root"


@pytest.fixture(scope="module")
def server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_server(root, tmp_path_factory.mktemp("server"), PROJECT_KERNELS_CONFIG) as srv:
        yield srv


def test_pip_in_a_cell_installs_into_and_uninstalls_from_the_notebooks_environment(
    root: Path, server: JupyterServer
) -> None:
    built = local_wheel(root.parent / "a", "shellpkg")
    kernel = server.kernel_for("uvproj/nb.ipynb")
    installed = server.execute(kernel, f"!pip install --no-index {built}", timeout=300)
    assert installed.status == "ok" and "Successfully installed shellpkg" in installed.stdout
    found = server.execute(kernel, "import shellpkg, sys; print(shellpkg.__file__)")
    assert found.stdout.strip().startswith(str(root / "uvproj" / ".venv" / "lib")), found
    assert not list(Path(sys.prefix).glob("lib/python3*/site-packages/shellpkg"))
    removed = server.execute(kernel, "!pip uninstall --yes shellpkg", timeout=300)
    assert "Successfully uninstalled shellpkg" in removed.stdout, removed
    check = (
        "import importlib.metadata as m\n"
        "try:\n    m.version('shellpkg')\nexcept m.PackageNotFoundError:\n    print('gone')"
    )
    gone = server.execute(kernel, check)
    assert gone.stdout.strip() == "gone"


def test_pip_magic_installs_into_the_notebooks_environment(
    root: Path, server: JupyterServer
) -> None:
    built = local_wheel(root.parent / "b", "magicpkg")
    kernel = server.kernel_for("uvproj/other.ipynb")
    installed = server.execute(kernel, f"%pip install --no-index {built}", timeout=300)
    assert installed.status == "ok", installed
    assert "Successfully installed magicpkg" in installed.stdout, installed
    found = server.execute(kernel, "import magicpkg; print(magicpkg.__file__)")
    assert found.stdout.strip().startswith(str(root / "uvproj" / ".venv" / "lib")), found


def test_a_startup_file_set_before_still_runs(tmp_path: Path) -> None:
    mine = tmp_path / "mine.py"
    mine.write_text("MINE = 1\n")
    env = make_env(tmp_path / ".venv", "uv", ipykernel=False)
    from project_kernels.discovery import named_directories

    [candidate] = named_directories()(tmp_path)
    assert candidate.environment is not None
    kernel_env = with_server_tools(
        {"PATH": "/usr/bin", "PYTHONSTARTUP": str(mine)}, candidate.environment
    )
    assert kernel_env["PYTHONSTARTUP"] == str(STARTUP_FILE)
    assert kernel_env["PIP_PYTHON"] == str(env)
    code = (
        "import os, runpy; ns = runpy.run_path(os.environ['PYTHONSTARTUP']); "
        "print(ns.get('MINE'), os.environ.get('PYTHONSTARTUP'))"
    )
    ran = subprocess.run(
        [str(env), "-c", code], env=kernel_env, capture_output=True, text=True, check=True
    )
    assert ran.stdout.split() == ["1", str(mine)]  # ours ran theirs, and handed it back
