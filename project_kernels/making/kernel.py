"""The kernel a notebook gets while its environment is being made.

It starts at once from the server's Python, so that opening the notebook never
waits for (nor times out on) a long build, and speaks just enough of the Jupyter
protocol: a cell run during the build shows what is being made and streams the
tools' output as it comes. When the build is over, the provisioner writes what
to become (the environment's kernel, or the explaining kernel if the build
failed) into this kernel's instructions file; the kernel answers the cell that
waited ("run it again"), answers any other waiting cell as aborted, closes its
sockets and *execs* that command on the same connection file: same process,
same ports, same key. The server and JupyterLab see a kernel that keeps running
(no restart, no "kernel died" dialog); its next messages come from the real one.

It never runs the notebook's code. An interrupt stops waiting in the cell (the
build goes on); a shutdown ends the kernel (the build goes on, and the next start
uses what it made). The instructions file holds JSON lines:
``{"follow": LOG}`` (show that log from now on) and ``{"exec": ARGV, "env": ENV,
"note": TEXT}`` (become that).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import platform
import signal
import sys
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.session import Session

from .. import __version__
from ..names import INSTRUCTIONS_VARIABLE, MAKING_VARIABLE

__all__ = ["MakingKernel", "main"]

#: How often the log and the instructions are looked at.
TICK = 0.1
#: What jupyter_client's launcher adds to a kernel's variables (not in the plan's): the
#: real kernel needs them too, ``JPY_PARENT_PID`` above all (ipykernel exits with its server).
LAUNCHER_VARIABLES = ("JPY_PARENT_PID", "JPY_INTERRUPT_EVENT", "IPY_INTERRUPT_EVENT")


@dataclass
class Handover:
    """What to become, from the instructions file."""

    argv: list[str]
    env: dict[str, str]
    note: str
    ok: bool


@dataclass
class _Waiting:
    """An execute request held until the build is over."""

    idents: list[bytes]
    message: dict[str, Any]
    #: The log this cell follows, and how much of it it has shown.
    log: Path | None = None
    shown: int = 0
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))


class MakingKernel:
    """The protocol side: sockets, messages, the log followed, the handover."""

    def __init__(self, connection_file: str, instructions: Path, what: dict[str, Any]) -> None:
        with open(connection_file, encoding="utf-8") as handle:
            info = json.load(handle)
        self.info = info
        self.instructions = instructions
        self.what = what
        #: What earlier rounds of this start made (a ``uv sync``, then ipykernel added).
        self.made: list[dict[str, Any]] = []
        self.session = Session(
            key=str(info.get("key", "")).encode(),
            signature_scheme=info.get("signature_scheme", "hmac-sha256"),
            username="project-kernels",
        )
        self.context = zmq.Context()
        self.shell = self._bind(zmq.ROUTER, "shell_port")
        self.control = self._bind(zmq.ROUTER, "control_port")
        self.stdin = self._bind(zmq.ROUTER, "stdin_port")
        self.iopub = self._bind(zmq.PUB, "iopub_port")
        self._stop_heartbeat = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, daemon=True)
        self._heartbeat.start()
        self.log: Path | None = None
        self.read_instructions = 0
        self.handover: Handover | None = None
        self.waiting: _Waiting | None = None
        self.queue: deque[tuple[list[bytes], dict[str, Any]]] = deque()
        self.execution_count = 0
        self.interrupted = False
        self.running = True
        parent = os.environ.get("JPY_PARENT_PID", "")
        #: The server that started this kernel: when it is gone, so is this kernel.
        self.parent_pid = int(parent) if parent.isdigit() and parent != "1" else None

    # -- sockets ---------------------------------------------------------------------------

    def _url(self, key: str) -> str:
        transport = self.info.get("transport", "tcp")
        ip = self.info.get("ip", "127.0.0.1")
        port = self.info[key]
        return f"ipc://{ip}-{port}" if transport == "ipc" else f"tcp://{ip}:{port}"

    def _bind(self, kind: int, key: str) -> zmq.Socket[bytes]:
        socket: zmq.Socket[bytes] = self.context.socket(kind)
        socket.linger = 1000
        if self.info.get("curve_secretkey"):
            socket.curve_secretkey = self.info["curve_secretkey"].encode()
            socket.curve_publickey = self.info["curve_publickey"].encode()
            socket.curve_server = True
        socket.bind(self._url(key))
        return socket

    def _beat(self) -> None:
        beat: zmq.Socket[bytes] = self.context.socket(zmq.REP)
        beat.linger = 0
        if self.info.get("curve_secretkey"):
            beat.curve_secretkey = self.info["curve_secretkey"].encode()
            beat.curve_publickey = self.info["curve_publickey"].encode()
            beat.curve_server = True
        beat.bind(self._url("hb_port"))
        while not self._stop_heartbeat.is_set():
            if beat.poll(100):
                beat.send(beat.recv())
        beat.close()

    # -- messages --------------------------------------------------------------------------

    def publish(
        self, msg_type: str, content: dict[str, Any], parent: dict[str, Any] | None
    ) -> None:
        self.session.send(
            self.iopub, msg_type, content, parent=parent, ident=f"kernel.making.{msg_type}".encode()
        )

    def status(self, state: str, parent: dict[str, Any] | None) -> None:
        self.publish("status", {"execution_state": state}, parent)

    def stream(self, text: str, parent: dict[str, Any], name: str = "stdout") -> None:
        if text:
            self.publish("stream", {"name": name, "text": text}, parent)

    def reply(
        self,
        socket: zmq.Socket[bytes],
        idents: list[bytes],
        parent: dict[str, Any],
        msg_type: str,
        content: dict[str, Any],
    ) -> None:
        self.session.send(socket, msg_type, content, parent=parent, ident=idents)

    def kernel_info(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "protocol_version": "5.3",
            "implementation": "project-kernels-making",
            "implementation_version": __version__,
            "language_info": {
                "name": "python",
                "version": platform.python_version(),
                "mimetype": "text/x-python",
                "file_extension": ".py",
                "codemirror_mode": {"name": "ipython", "version": 3},
                "pygments_lexer": "ipython3",
                "nbconvert_exporter": "python",
            },
            "banner": self.intro(),
            "help_links": [],
        }

    def intro(self) -> str:
        made = "".join(f"[project-kernels] Made {_described(w)}.\n" for w in self.made)
        return made + self._making_text() + "The kernel starts there when it is ready.\n"

    def _making_text(self) -> str:
        commands = "".join(f"  {c}\n" for c in self.what.get("commands", []))
        what = self.what.get("what", "the environment")
        return f"[project-kernels] Making {what} for this notebook:\n{commands}"

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until shut down, or until it becomes the real kernel."""
        self.status("starting", None)
        poller = zmq.Poller()
        poller.register(self.shell, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        while self.running:
            ready = dict(poller.poll(int(TICK * 1000)))
            if self.control in ready:
                self._serve(self.control)
            if self.shell in ready:
                self._serve(self.shell)
            self._follow()
            self._tick()
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self.running = False  # the server died: nobody will ever read this kernel

    def _serve(self, socket: zmq.Socket[bytes]) -> None:
        while self.running:
            try:
                idents, message = self.session.recv(socket, mode=zmq.NOBLOCK)
            except (ValueError, zmq.ZMQError):
                return  # a message that fails its signature is dropped, as ipykernel does
            if message is None:
                return
            self._handle(socket, idents or [], message)

    def _handle(
        self, socket: zmq.Socket[bytes], idents: list[bytes], message: dict[str, Any]
    ) -> None:
        msg_type = message["header"]["msg_type"]
        if msg_type == "execute_request":
            self.queue.append((idents, message))
            return
        self.status("busy", message)
        kind = msg_type.rsplit("_", 1)[0]
        content = self._answer(msg_type, message)
        if content is not None:
            self.reply(socket, idents, message, f"{kind}_reply", content)
        self.status("idle", message)
        if msg_type == "shutdown_request":
            self.running = False

    def _answer(self, msg_type: str, message: dict[str, Any]) -> dict[str, Any] | None:
        content = message.get("content", {})
        if msg_type == "kernel_info_request":
            return self.kernel_info()
        if msg_type == "shutdown_request":
            return {"status": "ok", "restart": bool(content.get("restart"))}
        if msg_type == "interrupt_request":
            self.interrupted = True
            return {"status": "ok"}
        if msg_type == "is_complete_request":
            return {"status": "complete"}
        if msg_type == "complete_request":
            position = content.get("cursor_pos", 0)
            return {
                "status": "ok",
                "matches": [],
                "cursor_start": position,
                "cursor_end": position,
                "metadata": {},
            }
        if msg_type == "inspect_request":
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        if msg_type == "history_request":
            return {"status": "ok", "history": []}
        if msg_type == "comm_info_request":
            return {"status": "ok", "comms": {}}
        return None

    def _tick(self) -> None:
        if self.waiting is None and self.queue:
            idents, message = self.queue.popleft()
            self._start_waiting(idents, message)
        if self.waiting is not None:
            self._show_log(self.waiting)
            if self.interrupted:
                self._finish_waiting("KeyboardInterrupt", self._interrupted_text())
            elif self.handover is not None:
                self._finish_waiting(*self._handover_error())
        self.interrupted = False
        if self.handover is not None and self.waiting is None:
            # Answer everything already here (cells as not run), then change at once: a
            # message sent from now on waits in the sender's queue for the real kernel.
            self._serve(self.control)
            self._serve(self.shell)
            while self.queue:
                idents, message = self.queue.popleft()
                self._abort(idents, message)
            self._become(self.handover)

    def _start_waiting(self, idents: list[bytes], message: dict[str, Any]) -> None:
        content = message.get("content", {})
        silent = bool(content.get("silent"))
        if not silent and content.get("store_history", True):
            self.execution_count += 1
        self.status("busy", message)
        self.publish(
            "execute_input",
            {"code": content.get("code", ""), "execution_count": self.execution_count},
            message,
        )
        if not str(content.get("code", "")).strip() or silent:
            self._reply_execute(idents, message, {"status": "ok"})
            return
        self.waiting = _Waiting(idents, message)
        self.stream(self.intro() + "The tools say:\n", message)

    def _show_log(self, waiting: _Waiting) -> None:
        if self.log is None:
            return
        if waiting.log != self.log:  # the next round's build: its log from the start
            waiting.log, waiting.shown = self.log, 0
        try:
            with open(self.log, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < waiting.shown:  # the same build began its log again
                    waiting.shown = 0
                handle.seek(waiting.shown)
                data = handle.read()
        except OSError:
            return
        waiting.shown += len(data)
        self.stream(waiting.decoder.decode(data), waiting.message)

    def _finish_waiting(self, ename: str, text: str) -> None:
        assert self.waiting is not None
        waiting, self.waiting = self.waiting, None
        error = {"ename": ename, "evalue": text.splitlines()[0], "traceback": [text]}
        self.publish("error", error, waiting.message)
        self._reply_execute(waiting.idents, waiting.message, {"status": "error", **error})

    def _reply_execute(
        self, idents: list[bytes], message: dict[str, Any], content: dict[str, Any]
    ) -> None:
        content = {**content, "execution_count": self.execution_count}
        if content["status"] == "ok":
            content.update(payload=[], user_expressions={})
        self.reply(self.shell, idents, message, "execute_reply", content)
        self.status("idle", message)

    def _abort(self, idents: list[bytes], message: dict[str, Any]) -> None:
        self.status("busy", message)
        self._reply_execute(idents, message, {"status": "aborted"})

    def _interrupted_text(self) -> str:
        return (
            "[project-kernels] Interrupted: the environment is still being made. Run a cell "
            "again to follow it; the kernel starts there when it is ready."
        )

    def _handover_error(self) -> tuple[str, str]:
        assert self.handover is not None
        note = f"[project-kernels] {self.handover.note}"
        if self.handover.ok:
            return "EnvironmentReady", note + "\nThis cell did not run: run it again."
        return "EnvironmentNotMade", note

    # -- instructions ----------------------------------------------------------------------

    def _follow(self) -> None:
        try:
            with open(self.instructions, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError:
            return
        for line in lines[self.read_instructions :]:
            try:
                instruction = json.loads(line)
            except ValueError:
                return  # a line being written: read it next time
            self.read_instructions += 1
            if "follow" in instruction:
                self._next_round(Path(instruction["follow"]), instruction.get("what", {}))
            if "exec" in instruction:
                self.handover = Handover(
                    [str(a) for a in instruction["exec"]],
                    {str(k): str(v) for k, v in instruction.get("env", {}).items()},
                    str(instruction.get("note", "")),
                    bool(instruction.get("ok", True)),
                )

    def _next_round(self, log: Path, what: dict[str, Any]) -> None:
        """Follow the build of ``what``; a round after the first tells a waiting cell so."""
        next_round = self.log is not None and log != self.log
        if next_round:
            self.made.append(self.what)
            if self.waiting is not None:
                self._show_log(self.waiting)  # the end of the round before
        self.log = log
        self.what = {**self.what, **what}
        if next_round and self.waiting is not None:
            self.stream(self._making_text(), self.waiting.message)

    def _become(self, handover: Handover) -> None:
        """Close everything and exec the real kernel on the same connection file."""
        # As a restart would: front ends ask again what the kernel runs from (the status bar).
        self.status("starting", None)
        self._stop_heartbeat.set()
        self._heartbeat.join(2)
        for socket in (self.shell, self.control, self.stdin, self.iopub):
            socket.close(linger=1000)
        self.context.term()
        with contextlib.suppress(OSError):
            self.instructions.unlink()
        sys.stdout.flush()
        sys.stderr.flush()
        env = dict(handover.env)
        for name in LAUNCHER_VARIABLES:
            if name in os.environ:
                env.setdefault(name, os.environ[name])
        os.execve(handover.argv[0], handover.argv, env)


def _described(what: Mapping[str, Any]) -> str:
    """``the uv environment of /p (uv.lock) (uv sync)``: what a round made, and how."""
    made = str(what.get("what", "the environment"))
    commands = "; ".join(str(c) for c in what.get("commands", []))
    return f"{made} ({commands})" if commands else made


def _connection_file(argv: list[str]) -> str:
    for index, arg in enumerate(argv):
        if arg == "-f" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--f="):
            return arg[len("--f=") :]
    raise SystemExit("usage: python -m project_kernels.making.kernel -f CONNECTION_FILE")


def main() -> None:
    """Entry point: ``-f CONNECTION_FILE``, with what to show in the environment."""
    try:
        what = json.loads(os.environ.get(MAKING_VARIABLE, "{}"))
    except ValueError:
        what = {}
    instructions = Path(os.environ.get(INSTRUCTIONS_VARIABLE, "/nonexistent"))
    kernel = MakingKernel(_connection_file(sys.argv[1:]), instructions, what)
    signal.signal(signal.SIGINT, lambda *_: setattr(kernel, "interrupted", True))
    kernel.run()


if __name__ == "__main__":
    main()
