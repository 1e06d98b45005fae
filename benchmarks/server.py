"""A real ``jupyter server`` for the benchmarks, instrumented by ``probe/pk_bench_probe.py``.

Independent of ``tests/jupyter.py`` on purpose: benchmarks import nothing from the tests.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests
import websocket

TOKEN = "project-kernels-benchmark-token"
PROBE_DIR = Path(__file__).resolve().parent / "probe"
PROBE_CONFIG = (
    "import pk_bench_probe\n"
    "pk_bench_probe.install()\n"
    'c.ServerApp.jpserver_extensions = {"pk_bench_probe": True}\n'
)
PROJECT_KERNELS_CONFIG = (
    'c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"\n'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server over ``root`` run by ``python`` with ``config`` (plus the probe)."""

    def __init__(
        self,
        python: str,
        root: Path,
        work: Path,
        config: str,
        env: dict[str, str],
        *,
        stalls: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home = work / f"server-{self.port}"
        (home / "config").mkdir(parents=True)
        (home / "config" / "jupyter_server_config.py").write_text(PROBE_CONFIG + config)
        self.log_path = home / "server.log"
        server_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))},
            **env,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(PROBE_DIR), env.get("PYTHONPATH", "")) if p
            ),
            "PK_BENCH_STALLS": "1" if stalls else "0",
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
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
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=server_env,
            cwd=root,
            start_new_session=True,
        )
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {TOKEN}"
        self.started = time.monotonic()
        self._wait_ready()
        self.ready_after = time.monotonic() - self.started

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if self.session.get(self.url + "/api/status", timeout=5).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 120) -> requests.Response:
        return self.session.get(self.url + path, timeout=timeout)

    def report(self, reset: bool = True) -> dict[str, Any]:
        """What the probe recorded inside the server since the last reset."""
        answer = self.get("/pk-bench/report" + ("?reset=1" if reset else ""))
        answer.raise_for_status()
        return dict(answer.json())

    def start_kernel(self, notebook: str, kernel: str, timeout: float = 120) -> dict[str, Any]:
        """``POST /api/sessions``, then ``kernel_info`` over the websocket, timed.

        Returns the seconds from the request to the ``kernel_info`` reply (``total``), to
        the session's creation (``post``), and the session and kernel ids.
        """
        started = time.perf_counter()
        response = self.session.post(
            self.url + "/api/sessions",
            json={
                "path": notebook,
                "type": "notebook",
                "name": Path(notebook).name,
                "kernel": {"name": kernel},
            },
            timeout=timeout,
        )
        posted = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"session start failed: {response.status_code} {response.text}")
        model = response.json()
        kernel_id = model["kernel"]["id"]
        ws = websocket.create_connection(
            self.url.replace("http", "ws")
            + f"/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
            header=[f"Authorization: token {TOKEN}"],
            timeout=timeout,
        )
        try:
            reply = kernel_info(ws, timeout)
        finally:
            ws.close()
        done = time.perf_counter()
        return {
            "total": done - started,
            "post": posted - started,
            "session": model["id"],
            "kernel": kernel_id,
            "language_info": reply.get("language_info", {}).get("version"),
        }

    def end_session(self, session_id: str) -> None:
        self.session.delete(self.url + f"/api/sessions/{session_id}", timeout=120)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def kernel_info(ws: websocket.WebSocket, timeout: float) -> dict[str, Any]:
    """Send ``kernel_info_request`` on the shell channel and wait for its reply."""
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "kernel_info_request",
                    "username": "bench",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(ws.recv())
        if (
            message.get("msg_type") == "kernel_info_reply"
            and message.get("parent_header", {}).get("msg_id") == msg_id
        ):
            return dict(message["content"])
    raise TimeoutError("no kernel_info_reply")


def python_of_server() -> str:
    """The interpreter the servers run with (the benchmark's own)."""
    return sys.executable
