"""Running a tool with a time limit: its output, or nothing left running at the limit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import pid_alive

from project_kernels.bounded import TimedOut, run_bounded


def test_a_command_that_finishes_returns_what_it_printed() -> None:
    finished = run_bounded(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert (finished.returncode, finished.stdout, finished.stderr) == (3, "out\n", "err\n")


def test_at_the_limit_the_command_and_its_children_are_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; echo $$ >> {pids}; wait"
    started = time.monotonic()
    with pytest.raises(TimedOut):
        run_bounded(["sh", "-c", script], timeout=1)
    assert time.monotonic() - started < 20
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(pid), pid


def test_a_command_that_cannot_start_raises_oserror() -> None:
    with pytest.raises(OSError):
        run_bounded([os.devnull], timeout=5)
