"""One kernel's Slurm job, as the provisioner carries it out.

:class:`SlurmKernel` is what the provisioner delegates to when the launch plan says
"run as a Slurm job": it writes the job's files, submits it, waits while it is queued
(saying why, from ``squeue``'s reason), hands the kernel's connection back once the
kernel listens on its node, and answers ``poll``, signals and shutdown in terms of the
job. A restart submits a new job: the old one ends with its kernel, and the new one
gets the settings in force at that moment (it may wait in the queue again).

Every job submitted is recorded until it ends; whatever is left when the server's
Python exits is cancelled (:func:`cancel_all`, run ``atexit``), so a server that is
stopped while a job waits leaves nothing in ``squeue``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..report import describe, sanitize
from .commands import (
    JobStatus,
    SlurmCommandError,
    cancel,
    find_command,
    off_loop,
    query,
    submit,
)
from .options import SlurmOptions
from .script import ADDRESS_PLACEHOLDER, JobFiles, job_environment, render_script, sbatch_argv

if TYPE_CHECKING:
    from ..decision import LaunchPlan

__all__ = ["SlurmJobError", "SlurmKernel", "cancel_all", "kernels", "running_jobs"]

#: What ``squeue``'s pending reasons mean, for a person.
REASONS: dict[str, str] = {
    "None": "it was just submitted",
    "Resources": "the partition has no free resources (CPUs, memory or nodes) for it yet",
    "Priority": "jobs of higher priority are ahead of it in the queue",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is not accepting jobs",
    "ReqNodeNotAvail": "the nodes it needs are not available (reserved, drained or down)",
    "BeginTime": "it was asked to start later",
    "Dependency": "it waits for another job",
    "JobHeldUser": "it is held (scontrol release JOBID starts it)",
    "JobHeldAdmin": "an administrator holds it",
    "Reservation": "it waits for its reservation to start",
    "PartitionTimeLimit": "its time is longer than the partition allows",
}

#: How a job that ended without being asked to by the server ended, for a person.
ENDINGS: dict[str, str] = {
    "CANCELLED": "it was cancelled (by scancel, or by an administrator)",
    "TIMEOUT": "it reached its time limit",
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "it was preempted by a job of higher priority",
    "OUT_OF_MEMORY": "it ran out of memory",
    "DEADLINE": "it reached its deadline",
    "BOOT_FAIL": "its node failed to boot",
    "FAILED": "the kernel's process failed",
    "COMPLETED": "the kernel's process ended",
}
#: Endings Slurm causes (the kernel did not choose them): explained in the notebook.
SLURM_ENDINGS = frozenset(ENDINGS) - {"FAILED", "COMPLETED"}

#: Seconds between looks at the connection file once the job runs.
CONNECTION_CHECK = 0.5


class SlurmJobError(RuntimeError):
    """A kernel's job could not start; ``str()`` is what the notebook's reader is told."""


# -- the jobs this server submitted --------------------------------------------------------

_KERNELS: weakref.WeakValueDictionary[str, SlurmKernel] = weakref.WeakValueDictionary()
_JOBS: dict[str, tuple[str, float]] = {}  # job id -> (scancel, timeout)
_JOBS_LOCK = threading.Lock()


def running_jobs() -> list[str]:
    """The ids of jobs submitted here that have not been seen to end."""
    with _JOBS_LOCK:
        return sorted(_JOBS)


def kernels() -> list[SlurmKernel]:
    """The kernels of this server that run (or wait to run) as Slurm jobs."""
    return [kernel for kernel in list(_KERNELS.values()) if kernel.job_id]


def _record(job_id: str, scancel: str, timeout: float) -> None:
    with _JOBS_LOCK:
        _JOBS[job_id] = (scancel, timeout)


def _forget(job_id: str) -> None:
    with _JOBS_LOCK:
        _JOBS.pop(job_id, None)


def cancel_all() -> None:
    """Cancel every job still recorded (at exit: a queued start that never finished)."""
    with _JOBS_LOCK:
        jobs = dict(_JOBS)
        _JOBS.clear()
    for job_id, (scancel, timeout) in jobs.items():
        with contextlib.suppress(SlurmCommandError):
            cancel(scancel, [job_id], timeout)


atexit.register(cancel_all)


# -- one kernel's job ----------------------------------------------------------------------


class SlurmKernel:
    """A kernel running (or waiting to run) as a Slurm job."""

    def __init__(
        self,
        options: SlurmOptions,
        directory: Path,
        log: logging.Logger | logging.LoggerAdapter[Any],
        described: str,
        kernel_id: str = "",
    ) -> None:
        self.options = options
        self.kernel_id = kernel_id
        #: The environment the kernel runs from (for the person, in the REST answer).
        self.environment = ""
        #: The notebook it runs for (its absolute path), when the server said.
        self.notebook = ""
        self.files = JobFiles(directory)
        self.log = log
        self.described = described
        self.job_id = ""
        #: The last status ``squeue`` gave, None before submission or once forgotten.
        self.status: JobStatus | None = None
        self.submitted_at = 0.0
        #: Why the job ended, when Slurm ended it (cancelled, time limit); "" otherwise.
        self.ended = ""
        self._asked_to_stop = False
        #: squeue answered that it does not know the job (it ended long ago, or never was).
        self._forgotten = False
        self._last_query = 0.0
        self._exit_code: int | None = None
        self._scancel = ""
        self._squeue = ""

    @classmethod
    def for_plan(
        cls,
        plan: LaunchPlan,
        kernel_id: str,
        log: logging.Logger | logging.LoggerAdapter[Any],
        notebook: str = "",
    ) -> SlurmKernel:
        """The job that carries out ``plan`` (which says ``slurm``) for one kernel.

        ``notebook`` is the notebook's path (``JPY_SESSION_NAME``), shown while it waits.
        """
        assert plan.slurm is not None and plan.environment is not None
        described = describe(plan.environment)
        if plan.environment.modules:
            described += f", modules {' '.join(plan.environment.modules)}"
        directory = plan.slurm.job_root() / (kernel_id or uuid.uuid4().hex)
        kernel = cls(plan.slurm, directory, log, described, kernel_id)
        kernel.environment = str(plan.environment.root)
        kernel.notebook = notebook
        _KERNELS[kernel.kernel_id or str(id(kernel))] = kernel
        return kernel

    # -- launch --------------------------------------------------------------------------

    async def launch(
        self,
        kernel_argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        connection_file: str,
        connection: dict[str, Any],
    ) -> dict[str, Any]:
        """Submit the job, wait until the kernel listens on its node, return its connection.

        ``connection_file`` (the server's, in ``kernel_argv``) becomes the job's own.
        """
        job_file = str(self.files.connection)
        kernel_argv = [job_file if arg == connection_file else arg for arg in kernel_argv]
        server_env = os.environ
        sbatch = find_command("sbatch", server_env)
        self._squeue = find_command("squeue", server_env)
        self._scancel = find_command("scancel", server_env)
        argv = self._write_files(kernel_argv, connection, sbatch, cwd)
        timeout = self.options.command_seconds
        try:
            self.job_id = await off_loop(submit, argv, job_environment(env), timeout)
        except SlurmCommandError as error:
            raise SlurmJobError(
                f"The kernel could not be submitted as a Slurm job ({self.options.summary()}). "
                f"{error}\nFix: check the [slurm] settings of the environment's "
                "project-kernels.toml (and c.ProjectKernels.slurm) against `sinfo` and your "
                "accounts (`sacctmgr show associations user=$USER`)."
            ) from None
        _record(self.job_id, self._scancel, timeout)
        self.submitted_at = time.monotonic()
        self.log.info(
            "project-kernels: kernel submitted as Slurm job %s (%s)",
            self.job_id,
            self.options.summary(),
        )
        try:
            return await self._wait_for_kernel()
        except BaseException:
            # Given up, failed, or the server is stopping: the job must not stay behind.
            await self._cancel_quietly()
            raise

    def _write_files(
        self, kernel_argv: Sequence[str], connection: dict[str, Any], sbatch: str, cwd: str
    ) -> list[str]:
        directory = self.files.directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        template = {**connection, "ip": ADDRESS_PLACEHOLDER}
        for port in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port"):
            template[port] = 0  # the kernel binds free ports on its node and writes them back
        key = template.get("key", b"")
        template["key"] = key.decode() if isinstance(key, bytes) else key
        _write_private(self.files.template, json.dumps(template, indent=1))
        self.files.connection.unlink(missing_ok=True)
        _write_private(
            self.files.script,
            render_script(kernel_argv, self.options, self.files, self.described),
        )
        return sbatch_argv(sbatch, self.options, self.files, cwd)

    async def _wait_for_kernel(self) -> dict[str, Any]:
        deadline = self.submitted_at + self.options.waits
        while True:
            status = await self._query()
            if status is None and not self._forgotten:
                # squeue did not answer yet: no news about the job, wait (up to the deadline).
                if time.monotonic() > deadline:
                    raise SlurmJobError(self._unanswered())
                await _sleep_checking(self.options.poll_seconds, None)
                continue
            if status is None or not (status.pending or status.running):
                raise SlurmJobError(self._ended_before_start(status))
            if status.running:
                info = self._connection_info()
                if info is not None:
                    self.log.info(
                        "project-kernels: Slurm job %s runs the kernel on %s (%s)",
                        self.job_id,
                        status.node,
                        info["ip"],
                    )
                    return info
            if time.monotonic() > deadline:
                raise SlurmJobError(self._gave_up(status))
            pause = CONNECTION_CHECK if status.running else self.options.poll_seconds
            await _sleep_checking(pause, self._connection_info if status.running else None)

    def _connection_info(self) -> dict[str, Any] | None:
        """The connection the kernel wrote back (its ports on its node), once it has."""
        try:
            info = json.loads(self.files.connection.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict) or not info.get("shell_port") or not info.get("ip"):
            return None
        if info["ip"] == ADDRESS_PLACEHOLDER:
            return None
        key = info.get("key", "")
        info["key"] = key.encode() if isinstance(key, str) else key
        return info

    # -- what Slurm says -------------------------------------------------------------------

    async def _query(self, force: bool = False) -> JobStatus | None:
        """The job's status, asked at most once per poll interval unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_query < self.options.poll_seconds:
            return self.status
        self._last_query = now
        try:
            status = await off_loop(query, self._squeue, self.job_id, self.options.command_seconds)
        except SlurmCommandError as error:
            # The controller not answering is no news about the job: keep the last status.
            self.log.warning("project-kernels: %s", error)
            return self.status
        self._forgotten = status is None
        self._note(status)
        return status

    def _note(self, status: JobStatus | None) -> None:
        previous = self.status
        self.status = status
        if status is None or (
            previous is not None
            and previous.state == status.state
            and previous.reason == status.reason
        ):
            return
        if status.pending:
            self.log.info(
                "project-kernels: Slurm job %s is queued in partition %s: %s (%s)",
                self.job_id,
                status.partition,
                status.reason,
                REASONS.get(status.reason, f"see `squeue -j {self.job_id}`"),
            )

    def waited(self) -> float:
        """Seconds since the job was submitted (0 before)."""
        return time.monotonic() - self.submitted_at if self.submitted_at else 0.0

    def queued_text(self) -> str:
        """``queued in partition batch: Resources (the partition has no free ...)``."""
        status = self.status
        if status is None:
            return "submitted" if self.job_id else "not submitted"
        if status.pending:
            meaning = REASONS.get(status.reason, "")
            said = f"{status.reason} ({meaning})" if meaning else status.reason
            return f"queued in partition {status.partition}: {said}"
        if status.running:
            return f"running on {status.node}"
        return status.state.lower()

    # -- the running kernel ----------------------------------------------------------------

    async def poll(self) -> int | None:
        """None while the job runs; its exit status once it ended (and why, if Slurm ended it)."""
        if self._exit_code is not None:
            return self._exit_code
        status = await self._query()
        if status is None and not self._forgotten:
            return None  # no answer from squeue yet: no news is not an ending
        if status is not None and (status.pending or status.running):
            return None
        state = status.state if status is not None else "GONE"
        self._exit_code = 0 if state == "COMPLETED" else 1
        _forget(self.job_id)
        if not self._asked_to_stop and state in SLURM_ENDINGS:
            self.ended = self._ended_while_running(status)
            self.log.warning("project-kernels: %s", self.ended.splitlines()[0])
        return self._exit_code

    async def wait(self) -> int | None:
        """Wait until the job has ended."""
        while (code := await self.poll()) is None:
            await _sleep_checking(min(self.options.poll_seconds, 1.0), None)
        return code

    async def send_signal(self, signum: int) -> None:
        """Deliver a signal to the kernel on its node (SIGINT interrupts, as locally)."""
        if signum == 0 or not self.job_id:
            return
        if signum in (signal.SIGKILL, signal.SIGTERM):
            await self.cancel()
            return
        name = signal.Signals(signum).name[len("SIG") :]
        await off_loop(cancel, self._scancel, [self.job_id], self.options.command_seconds, name)

    async def cancel(self) -> None:
        """End the job (``scancel``), for shutdown or restart."""
        self._asked_to_stop = True
        if self.job_id and self._exit_code is None:
            await off_loop(cancel, self._scancel, [self.job_id], self.options.command_seconds)
            self._last_query = 0.0

    async def _cancel_quietly(self) -> None:
        self._asked_to_stop = True
        if self.job_id:
            with contextlib.suppress(SlurmCommandError):
                await off_loop(cancel, self._scancel, [self.job_id], self.options.command_seconds)
            _forget(self.job_id)

    async def cleanup(self) -> None:
        """Make sure the job is gone, then remove its files (the connection key among them)."""
        if self.job_id and self._exit_code is None:
            await self._cancel_quietly()
        shutil.rmtree(self.files.directory, ignore_errors=True)

    # -- texts for the person --------------------------------------------------------------

    def _gave_up(self, status: JobStatus) -> str:
        waited = time.monotonic() - self.submitted_at
        if status.pending:
            why = self.queued_text()
            return (
                f"The kernel's Slurm job {self.job_id} waited {waited:.0f} seconds without "
                f"starting ({why}), so it was cancelled.\n"
                "Fix: try again later, or choose a partition with free nodes (`sinfo`) or "
                f"fewer resources ({self.options.summary()}) in the [slurm] table of the "
                "environment's project-kernels.toml; queue_timeout there sets how long a "
                "kernel may wait."
            )
        return (
            f"The kernel's Slurm job {self.job_id} started on {status.node}, but the kernel "
            f"did not start listening within {waited:.0f} seconds, so the job was cancelled."
            f"{self._output_tail()}"
        )

    def _unanswered(self) -> str:
        return (
            f"The kernel was submitted as Slurm job {self.job_id}, but `squeue` has not said "
            f"how it is doing for {self.waited():.0f} seconds, so the job was cancelled "
            "(the Slurm controller may be busy or unreachable).\nFix: try again in a moment; "
            "`squeue --me` in a terminal shows whether the controller answers."
        )

    def _ended_before_start(self, status: JobStatus | None) -> str:
        state = status.state if status is not None else "unknown"
        said = ENDINGS.get(state, f"it ended ({state})")
        return (
            f"The kernel's Slurm job {self.job_id} ended before the kernel started: {said}."
            f"{self._output_tail()}"
        )

    def _ended_while_running(self, status: JobStatus | None) -> str:
        state = status.state if status is not None else "unknown"
        said = ENDINGS.get(state, f"it ended ({state})")
        limit = f" of {self.options.time}" if state == "TIMEOUT" and self.options.time else ""
        node = f" on {status.node}" if status is not None and status.node else ""
        return (
            f"The kernel of this notebook ran as Slurm job {self.job_id}{node}, and the job "
            f"ended: {said}{limit} ({state}). Its variables and outputs are gone.\n"
            "Restart the kernel (Kernel > Restart Kernel...) to run it in a new job."
        )

    def _output_tail(self, lines: int = 15) -> str:
        try:
            text = self.files.output.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        if not tail.strip():
            return ""
        return f"\nThe job's output ({sanitize(str(self.files.output))}) ends with:\n{tail}"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


async def _sleep_checking(seconds: float, ready: Callable[[], object] | None) -> None:
    """Sleep ``seconds``, waking early (every half second) once ``ready()`` answers."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or (ready is not None and ready() is not None):
            return
        await asyncio.sleep(min(left, CONNECTION_CHECK))
