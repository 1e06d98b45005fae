"""Building the package: the wheel ships the prebuilt JupyterLab extension, and without
Node.js the package still builds (without it) and says so.

Real ``pip wheel`` runs through the build backend and hatch-jupyter-builder's hook
(``build_frontend.py``), in pip's isolated build environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).resolve().parents[1]
LABEXTENSION = "share/jupyter/labextensions/project-kernels"
#: What a source tree needs to build the wheel (what the sdist holds, less the front end).
PYTHON_SOURCES = (
    "pyproject.toml",
    "README.md",
    "build_frontend.py",
    "install.json",
    "package.json",
)


def wheel(source: Path, out: Path, path: str) -> tuple[zipfile.ZipFile, str]:
    """``pip wheel`` of ``source`` with ``PATH`` as given; the wheel and pip's output."""
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path},
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    [built] = out.glob("project_kernels-*.whl")
    return zipfile.ZipFile(built), output


def data_files(archive: zipfile.ZipFile) -> set[str]:
    """The wheel's files under ``share/jupyter/labextensions/project-kernels``."""
    prefix = f"project_kernels-{_version()}.data/data/{LABEXTENSION}/"
    return {name[len(prefix) :] for name in archive.namelist() if name.startswith(prefix)}


def _version() -> str:
    from project_kernels import __version__

    return __version__


def test_the_wheel_ships_the_prebuilt_lab_extension(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed, so the extension cannot be built here")
    archive, _ = wheel(SOURCE, tmp_path, os.environ["PATH"])
    files = data_files(archive)
    assert {"package.json", "install.json", "static/style.js"} <= files, sorted(files)
    assert any(f.startswith("static/remoteEntry.") for f in files), sorted(files)
    assert not any(name.startswith(("src/", "node_modules/")) for name in archive.namelist())


def test_without_nodejs_the_package_builds_without_the_extension_and_says_so(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in PYTHON_SOURCES:
        shutil.copy2(SOURCE / name, source / name)
    shutil.copytree(
        SOURCE / "project_kernels",
        source / "project_kernels",
        ignore=shutil.ignore_patterns("labextension", "__pycache__"),
    )
    # Only the interpreter's own directory: no node (pip adds its build tools' jlpm).
    path = Path(sys.executable).parent
    if (path / "node").exists():
        pytest.skip(f"Node.js is installed next to Python, in {path}")
    archive, output = wheel(source, tmp_path / "out", str(path))
    assert "package.json" not in data_files(archive)
    assert "project_kernels/extension.py" in archive.namelist()
    assert "project-kernels: Node.js (node) not found, so the JupyterLab extension" in output
    assert "The package works without it." in output
