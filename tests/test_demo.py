"""The demo: ``python examples/demo/start.py`` starts JupyterLab (as root too), and stops with it.

The demo is copied to a temporary directory with its environment made beforehand
(start.py makes it only when missing), started as a person would, given a kernel,
and stopped by a signal to start.py: nothing of it may be left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from conftest import processes_mentioning
from envfactory import make_env
from jupyter import TOKEN, clean_environ, free_port

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("demo") / "demo"
    shutil.copytree(DEMO, copy, ignore=shutil.ignore_patterns(".venv", ".ipynb_checkpoints"))
    make_env(copy / "analysis" / ".venv", "uv", packages=("tabulate",))
    return copy


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_demo_starts_and_a_signal_to_it_ends_jupyterlab_and_its_kernels(
    demo: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    env = {
        **clean_environ(),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        start = subprocess.Popen(
            [
                sys.executable,
                str(demo / "start.py"),
                "--no-browser",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={TOKEN}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"token {TOKEN}"}
            wait_until_up(url, headers, start, log_path)
            session = requests.post(
                url + "/api/sessions",
                headers=headers,
                json={"path": "analysis/2024/report.ipynb", "type": "notebook", "name": "r"},
                timeout=60,
            )
            assert session.status_code == 201, log_path.read_text()
            kernel = demo / "analysis" / ".venv" / "bin" / "python"
            assert wait_for(lambda: processes_mentioning(str(kernel))), log_path.read_text()

            start.send_signal(stop)
            start.wait(60)
        finally:
            if start.poll() is None:
                os.killpg(start.pid, signal.SIGKILL)
                start.wait()
            left = processes_mentioning(str(demo))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
    assert not left, f"left running: {left}\n{log_path.read_text()}"


def wait_until_up(
    url: str, headers: dict[str, str], process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo exited:\n{log.read_text()}")
        try:
            if requests.get(url + "/api/status", headers=headers, timeout=5).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the demo never answered:\n{log.read_text()}")


def wait_for(condition: Callable[[], object], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
