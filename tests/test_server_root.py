"""A server started on one notebook walks as outside a server; any other stays within its root.

``voila nb/report.ipynb`` (and ``jupyter lab nb/report.ipynb``) make the notebook's
own directory the server's root. The walk then goes on up, as ``project-kernels
which`` does, and real Voila serving one notebook shows it running in the project's
``.venv`` one level above.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import processes_mentioning
from envfactory import make_env
from jupyter import clean_environ, free_port, write_notebook
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from project_kernels.server_root import walk_root

CODE = "import sys; print('prefix=' + sys.prefix)"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``p/.venv`` and ``p/nb/nb.ipynb``."""
    root = tmp_path_factory.mktemp("one-notebook") / "p"
    make_env(root / ".venv", "uv")
    write_notebook(root / "nb" / "nb.ipynb", CODE)
    return root


def kernel_manager(app: ServerApp) -> Any:
    """The kernel manager a server makes (its root is the server's)."""
    return AsyncMappingKernelManager(parent=app)  # type: ignore[no-untyped-call]


def test_a_server_started_on_one_notebook_has_no_root_for_the_walk(project: Path) -> None:
    notebook = str(project / "nb" / "nb.ipynb")
    app = ServerApp(file_to_run=notebook)
    assert app.root_dir == str(project / "nb")
    assert walk_root(kernel_manager(app)) is None


def test_any_other_server_keeps_its_root(project: Path) -> None:
    chosen = ServerApp(root_dir=str(project / "nb"))
    assert walk_root(kernel_manager(chosen)) == project / "nb"
    wider = ServerApp(root_dir=str(project), file_to_run=str(project / "nb" / "nb.ipynb"))
    assert walk_root(kernel_manager(wider)) == project


def test_voila_serving_one_notebook_runs_it_in_the_projects_environment(
    project: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **clean_environ(),
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = open(tmp_path / "voila.log", "wb")
    voila = subprocess.Popen(
        [sys.executable, "-m", "voila", "nb/nb.ipynb", "--no-browser", f"--port={port}"],
        cwd=project,  # cd p && voila nb/nb.ipynb
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        page = rendered(f"http://127.0.0.1:{port}/", voila, tmp_path / "voila.log")
        assert f"prefix={project / '.venv'}" in page, (tmp_path / "voila.log").read_text()
    finally:
        voila.send_signal(signal.SIGTERM)
        try:
            voila.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(voila.pid, signal.SIGKILL)
            voila.wait()
        log.close()
        left = processes_mentioning(str(project / ".venv"))
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert not left, "Voila left its kernel running"


def rendered(url: str, process: subprocess.Popen[bytes], log: Path) -> str:
    """The page Voila renders (it runs the notebook first), once it answers."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"voila exited:\n{log.read_text()}")
        try:
            response = requests.get(url, timeout=60)
        except requests.ConnectionError:
            time.sleep(0.3)
            continue
        assert response.status_code == 200, log.read_text()
        return response.text
    raise AssertionError(f"voila never answered:\n{log.read_text()}")
