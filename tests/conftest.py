"""Shared fixtures: real environments and real Jupyter servers in temporary directories."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from envfactory import copy_installation, make_tools, pyenv_python
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server


def pytest_configure(config: pytest.Config) -> None:
    """Servers stop on SIGINT even when the tests run as a background job.

    A shell starts a background job (``cmd &``) with SIGINT ignored, and every process
    the tests start would inherit that: jupyter_server (which installs no SIGINT handler
    without a terminal) would then ignore the SIGINT that stops it, be killed 20 s later,
    and leave its Slurm jobs behind. With a handler of Python's own here, the processes
    the tests start begin with SIGINT's default.
    """
    del config
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture(scope="session")
def tools_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real poetry, pipenv, pdm and hatch, in a throwaway venv (never on the server's PATH)."""
    return make_tools(tmp_path_factory.mktemp("tools") / "venv")


@pytest.fixture(scope="session")
def base_python() -> Path:
    """The Python the tools make environments from: another one than the server's if possible."""
    return pyenv_python("3.12") or Path(sys.executable)


@pytest.fixture(scope="session")
def base_with_ipykernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base Python installation (not a venv) that has ipykernel: its ``bin/python3``.

    Made explicitly, a copy of the test runner's base installation, so that the
    ``--system-site-packages`` tests mean the same from a venv and from a base interpreter.
    """
    copy = copy_installation(Path(sys.base_prefix), tmp_path_factory.mktemp("base") / "python")
    if copy is None:
        pytest.skip(f"{sys.base_prefix} is not a self-contained Python installation to copy")
    return copy / "bin" / "python3"


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
