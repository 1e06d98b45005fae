"""A real ``jupyter server`` in a subprocess, driven over its REST API and websockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websocket

TOKEN = "project-kernels-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ExecuteResult:
    """What a cell produced: its stream text, its error (if any) and its reply status."""

    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    status: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)


class JupyterServer:
    """A running server; ``url`` is its base URL."""

    def __init__(
        self,
        root: Path,
        config: str,
        env: dict[str, str],
        log: Path,
        wrap: list[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        config_dir = log.parent / f"config-{self.port}"
        config_dir.mkdir(parents=True)
        (config_dir / "jupyter_server_config.py").write_text(config)
        runtime = log.parent / f"runtime-{self.port}"
        self.env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        argv = [
            *(wrap or []),
            python,
            "-m",
            "jupyter_server",
            f"--ServerApp.root_dir={root}",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.open_browser=False",
            f"--IdentityProvider.token={TOKEN}",
            "--ServerApp.allow_root=True",
        ]
        self._log = open(log, "wb")
        self.process = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=root,
            start_new_session=True,
        )
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if self.session.get(self.url + "/api/status", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url + path, timeout=120, **kwargs)

    def start_session(self, notebook: str, kernel: str = "python3") -> requests.Response:
        """``POST /api/sessions`` for a notebook path relative to the root."""
        return self.request(
            "POST",
            "/api/sessions",
            json={
                "path": notebook,
                "type": "notebook",
                "name": Path(notebook).name,
                "kernel": {"name": kernel},
            },
        )

    def kernel_for(self, notebook: str, kernel: str = "python3") -> str:
        response = self.start_session(notebook, kernel)
        assert response.status_code == 201, (response.status_code, response.text, self.log())
        return str(response.json()["kernel"]["id"])

    def execute(self, kernel_id: str, code: str, timeout: float = 90) -> ExecuteResult:
        """Run ``code`` in the kernel through the server's websocket, as JupyterLab does."""
        ws_url = self.url.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {TOKEN}"], timeout=timeout
        )
        try:
            return execute_over(ws, code, timeout)
        finally:
            ws.close()

    def wait_idle(self, kernel_id: str, timeout: float = 90) -> None:
        """Wait until the kernel answers ``kernel_info`` (it has started)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                result = self.execute(kernel_id, "", timeout=30)
                if result.status:
                    return
            except (websocket.WebSocketException, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"kernel {kernel_id} never answered\n{self.log()}")

    def restart(self, kernel_id: str) -> requests.Response:
        return self.request("POST", f"/api/kernels/{kernel_id}/restart")

    def interrupt(self, kernel_id: str) -> requests.Response:
        return self.request("POST", f"/api/kernels/{kernel_id}/interrupt")

    def interrupted_sleep(self, kernel_id: str, after: float = 3.0) -> tuple[ExecuteResult, float]:
        """Run a minute's sleep, interrupted through the server after ``after`` seconds.

        Returns the cell's result and how long it ran.
        """
        timer = threading.Timer(after, lambda: self.interrupt(kernel_id))
        timer.start()
        began = time.monotonic()
        result = self.execute(kernel_id, "import time\ntime.sleep(60)")
        timer.join()
        return result, time.monotonic() - began

    def kernel(self, kernel_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/kernels/{kernel_id}").json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _message(msg_type: str, content: dict[str, Any], channel: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": msg_type,
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
            "date": "",
        },
        "parent_header": {},
        "metadata": {},
        "content": content,
        "channel": channel,
        "buffers": [],
    }


def execute_over(ws: websocket.WebSocket, code: str, timeout: float) -> ExecuteResult:
    """Run ``code`` over an open kernel websocket and collect what it produced."""
    request = _message(
        "execute_request",
        {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "shell",
    )
    ws.send(json.dumps(request))
    msg_id = request["header"]["msg_id"]
    result = ExecuteResult()
    idle = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (idle and result.status):
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "stream":
            result.outputs.append(content)
            if content["name"] == "stdout":
                result.stdout += content["text"]
            else:
                result.stderr += content["text"]
        elif kind == "error":
            result.outputs.append(content)
            result.error = content
        elif kind in ("execute_result", "display_data"):
            result.outputs.append(content)
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
        elif kind == "execute_reply":
            result.status = content["status"]
    if not result.status:
        raise TimeoutError(f"no reply to {code!r}")
    return result


@contextmanager
def running_server(
    root: Path,
    tmp: Path,
    config: str = "",
    env: dict[str, str] | None = None,
    wrap: list[str] | None = None,
    python: str | Path = sys.executable,
) -> Iterator[JupyterServer]:
    """A server over ``root`` with ``config`` as its only configuration.

    ``wrap`` prefixes the server's command (for example to drop privileges); ``python``
    is the interpreter that runs it (by default the tests' own).
    """
    base = clean_environ()
    log = tmp / f"server-{free_port()}.log"
    server = JupyterServer(root, config, {**base, **(env or {})}, log, wrap, str(python))
    try:
        yield server
    finally:
        server.stop()


def clean_environ() -> dict[str, str]:
    """This process's variables without the caller's Jupyter directories or activated venv."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "VIRTUAL_ENV"))}


def write_notebook(path: Path, source: str) -> None:
    """A one-cell notebook saved with the ``python3`` kernel, as JupyterLab saves it."""
    import nbformat

    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.write(notebook, path)


PROJECT_KERNELS_CONFIG = (
    'c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"\n'
)
