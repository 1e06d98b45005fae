"""Running a tool with a time limit, so that nothing it starts outlives the limit.

The module system's command and Slurm's commands may hang (a stuck file system, an
unreachable controller). Each runs in a session of its own, and at the limit the
whole process group is killed, children included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Finished", "TimedOut", "run_bounded"]


class TimedOut(Exception):
    """The command did not finish within its time limit; its process group was killed."""


@dataclass(frozen=True)
class Finished:
    """What a command that ran to its end returned and printed."""

    returncode: int
    stdout: str
    stderr: str


def run_bounded(
    argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None
) -> Finished:
    """Run ``argv`` (no input, output captured as text) for at most ``timeout`` seconds.

    Raises :class:`OSError` when it cannot be started and :class:`TimedOut` at the limit.
    """
    process = subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise TimedOut(f"{argv[0]} did not finish within {timeout:g} seconds") from None
    return Finished(process.returncode, stdout, stderr)
