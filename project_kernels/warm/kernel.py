"""One warm kernel: a launcher process of one environment, from its start to its hand-over or end.

Each warm kernel has a thread of its own (never the event loop's) that starts the
process, reads what the launcher says (see :mod:`.launcher`), discards it when it was not
used in time, and reaps it unless it was handed over. The process is a session and
process group of its own, as jupyter_client makes every kernel, so a handed-over kernel
is interrupted and killed as any other; before that, the server keeps the write end of a
pipe the launcher waits on, so the launcher ends with the server however the server ends.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from .launcher import NICE
from .spec import Assignment, WarmSpec

__all__ = ["LAUNCHER", "HandOver", "State", "WarmKernel"]

#: The launcher's file, run by the environment's interpreter.
LAUNCHER = str(Path(__file__).with_name("launcher.py"))
#: Seconds a handed-over launcher has to say that its kernel's sockets are bound.
STARTED_WITHIN = 60.0


class State(str, Enum):
    """Where a warm kernel is in its life."""

    BOOTING = "booting"  # importing
    READY = "ready"  # waiting for a notebook
    TAKEN = "taken"  # handed to a notebook: the provisioner owns the process now
    ENDED = "ended"  # discarded, or died


class HandOver(str, Enum):
    """What became of a hand-over."""

    STARTED = "started"  # the notebook's kernel has bound its sockets
    ASSIGNED = "assigned"  # it took the notebook, but has not said it started (died since?)
    REFUSED = "refused"  # the launcher was gone before it took the notebook: start cold


class WarmKernel:
    """A launcher process from ``spec``'s environment, waiting to become a notebook's kernel."""

    def __init__(
        self,
        spec: WarmSpec,
        idle_timeout: float,
        log: logging.Logger | logging.LoggerAdapter[Any],
        on_end: Callable[[WarmKernel], None],
    ) -> None:
        self.spec = spec
        self.state = State.BOOTING
        self.process: subprocess.Popen[bytes] | None = None
        self.spawned_at = time.monotonic()
        self.ready_at: float | None = None
        self.resident_bytes = 0
        #: Resolved once a hand-over has an outcome (see :class:`HandOver`).
        self.handed_over: concurrent.futures.Future[HandOver] = concurrent.futures.Future()
        self._idle_timeout = idle_timeout
        self._log = log
        self._on_end = on_end
        self._assign_fd = -1
        self._failed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="project-kernels-warm", daemon=True)

    def start(self) -> None:
        """Start the process and its watch, in the background."""
        self._thread.start()

    @property
    def pid(self) -> int:
        """The process id (0 before the process exists)."""
        return self.process.pid if self.process is not None else 0

    def claim(self) -> bool:
        """Take a ready kernel for one notebook; False when it is not ready (any more)."""
        with self._lock:
            if self.state is not State.READY:
                return False
            self.state = State.TAKEN
            return True

    def hand_over(self, assignment: Assignment) -> None:
        """Send a claimed kernel its notebook; :attr:`handed_over` tells how it went."""
        data = assignment.encode()
        with self._lock:
            fd, self._assign_fd = self._assign_fd, -1
        if fd < 0:
            return  # the launcher is gone already: its watch resolves REFUSED
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError:
            pass  # the launcher is gone: the watch sees its end and resolves REFUSED
        finally:
            os.close(fd)

    def discard(self, reason: str, *, quiet: bool = False) -> bool:
        """End a kernel that was not handed over; False when it was (or has ended)."""
        with self._lock:
            if self.state not in (State.BOOTING, State.READY):
                return False
            self.state = State.ENDED
            self._kill()
        if not quiet:
            self._log.info(
                "project-kernels: discarded the warm kernel from %s (pid %d): %s",
                self.spec.environment,
                self.pid,
                reason,
            )
        return True

    def snapshot(self) -> dict[str, Any]:
        """What the kernel is, for the log and the benchmarks."""
        return {
            "environment": str(self.spec.environment),
            "kernel_name": self.spec.kernel_name,
            "pid": self.pid,
            "state": self.state.value,
            "spawned_at": self.spawned_at,
            "ready_at": self.ready_at,
            "resident_bytes": self.resident_bytes,
        }

    def _kill(self) -> None:
        """Kill the process group (the lock is held, so the process is not reaped meanwhile)."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def _run(self) -> None:
        try:
            status_fd = self._spawn()
        except Exception as error:  # whatever it is, it must not end the server's thread pool
            self._log.warning(
                "project-kernels: could not start a warm kernel from %s: %s",
                self.spec.environment,
                error,
            )
            with self._lock:
                self.state = State.ENDED
            self._on_end(self)
            return
        try:
            self._watch(_Lines(status_fd))
        finally:
            os.close(status_fd)
            self._finish()

    def _spawn(self) -> int:
        """Start the launcher; the read end of its status pipe."""
        assign_r, assign_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            process = subprocess.Popen(
                self.spec.launcher_command(LAUNCHER, assign_r, status_w),
                env=self.spec.launcher_env(os.getpid()),
                cwd="/",
                # As jupyter_client's launch: a pipe whose other end is closed.
                stdin=subprocess.PIPE,
                pass_fds=(assign_r, status_w),
                start_new_session=True,
            )
        except OSError:
            for fd in (assign_w, status_r):
                os.close(fd)
            raise
        finally:
            os.close(assign_r)
            os.close(status_w)
        assert process.stdin is not None
        process.stdin.close()
        _lower_group(process.pid)
        with self._lock:
            self.process, self._assign_fd = process, assign_w
            if self.state is State.ENDED:  # discarded while it was being started
                self._kill()
        return status_r

    def _watch(self, lines: _Lines) -> None:
        """Follow the launcher until it is handed over and started, or ends."""
        deadline = self.spawned_at + self._idle_timeout
        assigned = extended = False
        while True:
            try:
                line = lines.read(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                if self.state is State.TAKEN:
                    if assigned or extended:
                        break  # started late, or never: the provisioner treats it as cold
                    extended, deadline = True, time.monotonic() + STARTED_WITHIN
                    continue
                self.discard(f"not used within {self._idle_timeout:g} s")
                deadline = float("inf")  # its end of file follows
                continue
            if line is None:
                break
            word, _, rest = line.partition(" ")
            if word == "ready":
                self._became_ready(rest)
            elif word == "failed":
                self._failed = True
                self._log.warning(
                    "project-kernels: no warm kernel from %s: %s", self.spec.environment, rest
                )
            elif word == "assigned":
                assigned = True
                deadline = time.monotonic() + STARTED_WITHIN
            elif word == "started":
                self.settle(HandOver.STARTED)
                return
        if self.state is State.TAKEN:
            self.settle(HandOver.ASSIGNED if assigned else HandOver.REFUSED)

    def settle(self, outcome: HandOver) -> HandOver:
        """Fix the hand-over's outcome, unless it is known already; the outcome.

        The provisioner settles ASSIGNED when it stops waiting for the kernel to start: from
        then on the process is the provisioner's, whatever the launcher says later.
        """
        with self._lock:
            if not self.handed_over.done():
                self.handed_over.set_result(outcome)
        return self.handed_over.result()

    def _became_ready(self, resident: str) -> None:
        with self._lock:
            if self.state is not State.BOOTING:
                return
            self.state = State.READY
            self.ready_at = time.monotonic()
            self.resident_bytes = int(resident) if resident.isdigit() else 0
        self._log.info(
            "project-kernels: a warm kernel from %s is ready (pid %d, %.1f MiB resident, "
            "started in %.2f s)",
            self.spec.environment,
            self.pid,
            self.resident_bytes / 2**20,
            self.ready_at - self.spawned_at,
        )

    def _finish(self) -> None:
        """Reap the process unless a notebook's provisioner owns it now; leave the pool."""
        self.settle(HandOver.REFUSED)  # a hand-over still open now never happened
        adopted = self.handed_over.result() is not HandOver.REFUSED
        with self._lock:
            fd, self._assign_fd = self._assign_fd, -1
            ended_by_itself = self.state in (State.BOOTING, State.READY)
            if not adopted:
                self.state = State.ENDED
                self._kill()
        if fd >= 0:
            os.close(fd)
        if not adopted and self.process is not None:
            self.process.wait()
            if ended_by_itself and not self._failed:
                self._log.warning(
                    "project-kernels: the warm kernel from %s (pid %d) exited with code %s",
                    self.spec.environment,
                    self.pid,
                    self.process.returncode,
                )
        self._on_end(self)


def _lower_group(pid: int) -> None:
    """Put a new launcher's scheduling group at the lowest priority before it does much.

    The launcher does the same itself, but only once its interpreter has started.
    """
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(NICE))


class _Lines:
    """Lines read from a pipe, with a timeout."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def read(self, timeout: float) -> str | None:
        """The next line; None at end of file; TimeoutError when none came in time."""
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([self._fd], [], [], min(timeout, 1e6))
            if not ready:
                raise TimeoutError
            chunk = os.read(self._fd, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")
