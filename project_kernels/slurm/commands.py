"""``sbatch``, ``squeue`` and ``scancel``: each bounded by a timeout, each answer parsed.

The functions here block; the provisioner calls them through :func:`off_loop`, so the
server's event loop never waits on the controller. Errors carry the command's own
message for the person (``SlurmCommandError``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shlex
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..bounded import TimedOut, run_bounded

__all__ = [
    "JobStatus",
    "SlurmCommandError",
    "cancel",
    "find_command",
    "off_loop",
    "query",
    "submit",
]

T = TypeVar("T")

#: squeue's fields, separated by ``|``: state, reason, nodes, partition, time used.
_FORMAT = "%T|%r|%N|%P|%M"


class SlurmCommandError(RuntimeError):
    """A Slurm command failed or took too long; the message says which and what it said."""


@dataclass(frozen=True)
class JobStatus:
    """One job as ``squeue`` shows it."""

    job_id: str
    state: str
    reason: str
    node: str
    partition: str
    elapsed: str = ""

    @property
    def pending(self) -> bool:
        return self.state in ("PENDING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED")

    @property
    def running(self) -> bool:
        return self.state in ("RUNNING", "COMPLETING")


def find_command(name: str, env: Mapping[str, str] | None = None) -> str:
    """The absolute path of a Slurm command on the server's ``PATH``."""
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    found = shutil.which(name, path=path)
    if found is None:
        raise SlurmCommandError(
            f"The Slurm command `{name}` is not on the server's PATH ({path}), so kernels "
            "cannot run as Slurm jobs here. Start the server where Slurm's commands are "
            "installed, or add their directory to its PATH."
        )
    return found


def run(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None) -> str:
    """Run a Slurm command; its output, or :class:`SlurmCommandError` with what it said."""
    try:
        finished = run_bounded(argv, timeout, env)
    except OSError as error:
        raise SlurmCommandError(f"`{argv[0]}` could not be started: {error.strerror}") from error
    except TimedOut:
        raise SlurmCommandError(
            f"`{os.path.basename(argv[0])}` did not answer within {timeout:g} seconds "
            "(the Slurm controller may be busy or unreachable)."
        ) from None
    if finished.returncode != 0:
        said = " ".join((finished.stderr or finished.stdout).split())
        raise SlurmCommandError(f"`{shlex_join(argv)}` failed: {said}")
    return finished.stdout


def shlex_join(argv: Sequence[str]) -> str:
    """The command as a person would type it (the program by its name)."""
    return shlex.join([os.path.basename(argv[0]), *argv[1:]])


async def off_loop(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(function, *args))


def submit(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> str:
    """Submit with ``sbatch --parsable ...``; the job id."""
    out = run(argv, timeout, env)
    # --parsable prints "id" or "id;cluster"; warnings may come first.
    lines = [line for line in out.splitlines() if line.strip()]
    job_id = lines[-1].split(";")[0].strip() if lines else ""
    if not job_id.isdigit():
        raise SlurmCommandError(f"sbatch did not say which job it made: {out.strip()!r}")
    return job_id


def query(squeue: str, job_id: str, timeout: float) -> JobStatus | None:
    """The job's status, including jobs that ended lately; None when Slurm forgot it."""
    try:
        out = run([squeue, "-h", "-t", "all", "-j", job_id, "-o", _FORMAT], timeout)
    except SlurmCommandError as error:
        if "Invalid job id" in str(error):
            return None
        raise
    for line in out.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 5:
            return JobStatus(job_id, *parts)
    return None


def cancel(
    scancel: str, job_ids: Sequence[str], timeout: float, signal_name: str | None = None
) -> None:
    """``scancel`` the jobs (or send them a signal: ``INT``, ``KILL``); ended jobs are fine."""
    if not job_ids:
        return
    argv = [scancel, *([f"--signal={signal_name}"] if signal_name else []), *job_ids]
    try:
        run(argv, timeout)
    except SlurmCommandError as error:
        if "already completed" in str(error) or "Invalid job id" in str(error):
            return
        raise
