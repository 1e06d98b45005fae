"""Which environments' kernels died right after starting, lately, in this server.

A kernel that dies at once (a damaged ipykernel, a ``sitecustomize.py`` that exits)
cannot be told from files. Its death is remembered for a while, so the next start
from the same environment examines the interpreter first and explains at once
instead of starting a kernel that will die again. One memory belongs to one
server (see the provisioner): servers never share what they saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FAILURE_MEMORY_SECONDS", "FailureMemory"]

#: How long a death is remembered: long enough to cover a person's next attempts,
#: short enough that a repair made outside Jupyter is tried again without a restart.
FAILURE_MEMORY_SECONDS = 600.0


class FailureMemory:
    """Environments whose kernel died young, and when; each forgotten after ``ttl`` seconds."""

    def __init__(
        self, ttl: float = FAILURE_MEMORY_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._failed: dict[Path, float] = {}
        self._lock = threading.Lock()

    def record(self, environment: Path) -> None:
        """Note that a kernel from ``environment`` died right after starting, now."""
        with self._lock:
            self._failed[environment] = self._clock()

    def failed_since(self, environment: Path, moment: float) -> bool:
        """Whether a death from ``environment`` was recorded at or after ``moment``."""
        with self._lock:
            return self._failed.get(environment, float("-inf")) >= moment

    def failed_recently(self, environment: Path) -> bool:
        """Whether a kernel from ``environment`` died young within the last ``ttl`` seconds."""
        with self._lock:
            failed_at = self._failed.get(environment)
            if failed_at is None:
                return False
            if self._clock() - failed_at >= self.ttl:
                del self._failed[environment]
                return False
            return True

    def forget(self, environment: Path) -> None:
        """Drop what is known about ``environment`` (it was examined and works now)."""
        with self._lock:
            self._failed.pop(environment, None)

    def now(self) -> float:
        """The memory's clock, for :meth:`failed_since`."""
        return self._clock()
