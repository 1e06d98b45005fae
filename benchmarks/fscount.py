"""Count the file-system calls a block of Python code makes, for real.

The same approach as the walk-cost tests: ``open``, ``os.listdir`` and ``os.scandir``
through Python's audit hooks, and ``stat``/``lstat``/``access``/``readlink`` by wrapping
the ``os`` functions that every Python-level check (``os.path.isfile``, ``lexists``,
``realpath``, ``Path.stat``) goes through. Calls made by C code that bypasses ``os``
are not seen; nothing in the resolver does that.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_WRAPPED = ("stat", "lstat", "access", "readlink")
_AUDITED = {"open": "open", "os.listdir": "listdir", "os.scandir": "scandir"}


@dataclass
class Calls:
    """The calls seen while recording, as (kind, path) in order."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    subprocesses: list[str] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        """How many calls of each kind."""
        return dict(Counter(kind for kind, _ in self.seen))

    def __len__(self) -> int:
        return len(self.seen)


_recording: list[Calls] = []
_hooked = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording:
        return
    if event in _AUDITED:
        target = args[0] if args else None
        if isinstance(target, int):  # an fd: not a path lookup
            return
        _recording[-1].seen.append((_AUDITED[event], os.fsdecode(target or ".")))
    elif event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork", "os.system"):
        _recording[-1].subprocesses.append(f"{event} {args[1:2]!r}")


def _wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        if _recording and not isinstance(path, int):
            _recording[-1].seen.append((name, os.fsdecode(path)))
        return real(path, *args, **kwargs)

    counted.__wrapped__ = real  # type: ignore[attr-defined]
    return counted


@contextmanager
def recording() -> Iterator[Calls]:
    """Record the file-system calls made inside the block (this thread)."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked = True
    calls = Calls()
    originals = {name: getattr(os, name) for name in _WRAPPED}
    for name, real in originals.items():
        setattr(os, name, _wrap(name, real))
    _recording.append(calls)
    try:
        yield calls
    finally:
        _recording.pop()
        for name, real in originals.items():
            setattr(os, name, real)
