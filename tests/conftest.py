"""Shared fixtures: real environments and real Jupyter servers in temporary directories."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory to put notebooks and environments in (the server root)."""
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
def server(project: Path, tmp_path: Path) -> Iterator[JupyterServer]:
    """A real jupyter server over ``project`` with the project-kernels spec manager."""
    with running_server(project, tmp_path, PROJECT_KERNELS_CONFIG) as srv:
        yield srv


def pid_alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def processes_mentioning(text: str) -> list[int]:
    """The processes whose command line mentions ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if text.encode() in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found
