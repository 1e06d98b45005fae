"""Carrying a recipe out: the tools run under a file lock, bounded in time, logged.

- **Once**: builds of one environment take the recipe's file lock in turn. A build
  that waited finds the outcome of the one that held the lock; if that one finished
  after this one was asked for, its outcome is this one's (two notebooks opened at
  once make the environment once, and a restart during a build waits for it).
- **Seen**: every line the tools print goes to the recipe's log as it comes (the
  kernel that shows the build follows it) and to ``out`` (``project-kernels fix``).
- **Bounded**: the whole build is stopped (the tools' process groups killed) after
  the recipe's timeout.
- **Nothing half-made is used**: what a failed build created (a ``.venv`` that
  ``uv sync`` began) is removed again, so the next open tries again from scratch;
  an inline environment gets its completion marker only when everything succeeded.

Runs in ``python -m project_kernels.making`` (started by the provisioner, detached,
so that it outlives a kernel restart), in the command line's ``fix``, and in the
provisioner's thread pool outside a server.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from .recipes import Recipe, Step

__all__ = ["Outcome", "Writer", "build", "read_outcome", "stop_builds", "trim_inline_cache"]

#: Lines of the tools' output kept for the explanation of a failure.
TAIL_LINES = 20


class Writer(Protocol):
    """Where a build's output is echoed (a terminal, a logger)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


#: The builds running in this process (stopped together on SIGTERM).
_RUNNING: set[_Build] = set()


def stop_builds() -> None:
    """Stop every build of this process: their tools are killed, they fail and clean up."""
    for running in list(_RUNNING):
        running.stop("it was stopped")


@dataclass(frozen=True)
class Outcome:
    """How one build ended."""

    ok: bool
    what: str
    #: The commands to run by hand.
    commands: str
    #: Why it failed ("" when it did not).
    reason: str = ""
    #: The tools' last lines of output.
    tail: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        """How long the build took."""
        return max(0.0, self.finished - self.started)

    def explanation(self) -> str:
        """A failed build, said for the notebook: why, what the tool said, what to run."""
        lines = [f"Making {self.what} failed: {self.reason}."]
        if self.tail.strip():
            lines += ["Its last lines of output:", self.tail.rstrip()]
        lines.append(f"Run by hand to see more: {self.commands}")
        lines.append("Nothing of it is used; the next start of a notebook here tries again.")
        return "\n".join(lines)


def read_outcome(path: Path) -> Outcome | None:
    """The outcome a build wrote; None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Outcome(**{k: data[k] for k in Outcome.__dataclass_fields__})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build(recipe: Recipe, out: Writer | None = None, requested: float | None = None) -> Outcome:
    """Carry ``recipe`` out, or wait for the build of the same environment that runs.

    ``requested`` is when this build was asked for (default: now): a build holding the
    lock that finishes later answers for this one too.
    """
    requested = time.time() if requested is None else requested
    recipe.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = FileLock(str(recipe.lock), timeout=recipe.timeout + 60)
    try:
        with lock:
            previous = read_outcome(recipe.result)
            if previous is not None and previous.finished >= requested:
                _echo_log(recipe, out)
                return previous
            outcome = _Build(recipe, out).run()
            _write_atomically(recipe.result, json.dumps(asdict(outcome), indent=1))
            return outcome
    except Timeout:
        return Outcome(
            False,
            recipe.what,
            recipe.commands(),
            f"another build of it did not end within {recipe.timeout + 60:g} seconds",
            started=requested,
            finished=time.time(),
        )


def _echo_log(recipe: Recipe, out: Writer | None) -> None:
    """Show ``out`` what the build this one waited for printed."""
    if out is None:
        return
    try:
        out.write(recipe.log.read_text(encoding="utf-8", errors="replace"))
        out.flush()
    except OSError:
        pass


class _Build:
    """One run of a recipe's steps, with its log, deadline and clean-up."""

    def __init__(self, recipe: Recipe, out: Writer | None) -> None:
        self.recipe = recipe
        self.out = out
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.started = time.time()
        self.deadline = time.monotonic() + recipe.timeout
        self.stopped = ""
        self.process: subprocess.Popen[bytes] | None = None

    def run(self) -> Outcome:
        recipe = self.recipe
        for path in recipe.fresh:
            _remove(Path(path))
        before = _matching(recipe.creates)
        _RUNNING.add(self)
        try:
            with open(recipe.log, "w", encoding="utf-8") as log:
                self.log = log
                reason = self._steps()
        finally:
            _RUNNING.discard(self)
        if reason:
            for path in _matching(recipe.creates) - before:
                _remove(Path(path))
        elif recipe.marker is not None:
            _write_atomically(recipe.marker, recipe.marker_text)
            if recipe.trim is not None:
                trim_inline_cache(recipe.trim, recipe.keep, keep_also=recipe.target)
        return Outcome(
            not reason,
            recipe.what,
            recipe.commands(),
            reason,
            "".join(self.tail),
            self.started,
            time.time(),
        )

    def _steps(self) -> str:
        """Run every step; why the build failed, or ""."""
        for step in self.recipe.steps:
            self._say(f"$ {step.shown}\n")
            code = self._run(step)
            if self.stopped:
                return self.stopped
            if code is None:
                return f"`{step.argv[0]}` could not be started"
            if code != 0 and not step.optional:
                return f"`{step.shown}` exited with code {code}"
            if code != 0:
                self._say(f"(exit code {code}; not needed to use the environment)\n")
        return ""

    def _run(self, step: Step) -> int | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.stop(f"it did not finish within {self.recipe.timeout:g} seconds")
            return None
        try:
            process = subprocess.Popen(
                step.argv,
                cwd=step.cwd,
                env=dict(self.recipe.environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            self._say(f"{error.strerror or error}: {step.argv[0]}\n")
            return None
        self.process = process
        timeout = f"it did not finish within {self.recipe.timeout:g} seconds"
        watchdog = threading.Timer(remaining, self.stop, (timeout,))
        watchdog.daemon = True
        watchdog.start()
        try:
            assert process.stdout is not None
            for raw in iter(process.stdout.readline, b""):
                self._say(raw.decode(errors="replace"))
            return process.wait()
        finally:
            watchdog.cancel()
            self.process = None

    def stop(self, why: str) -> None:
        """Stop the running tool and everything it started; the build fails for ``why``."""
        self.stopped = self.stopped or why
        stop_group(self.process)

    def _say(self, text: str) -> None:
        if not text.endswith("\n"):
            text += "\n"
        self.tail.append(text)
        self.log.write(text)
        self.log.flush()
        if self.out is not None:
            self.out.write(text)
            self.out.flush()


def stop_group(process: subprocess.Popen[Any] | None) -> None:
    """Kill a tool's whole process group (it may have started others)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        process.kill()


def trim_inline_cache(cache: Path, keep: int, keep_also: Path | None = None) -> list[Path]:
    """Remove the least recently used inline environments beyond ``keep``.

    Use is the modification time of an environment's marker (touched at each start);
    ``keep_also`` (the one just made) is never removed. Returns what was removed.
    """
    from ..inline import MARKER_NAME

    if keep <= 0:
        return []
    entries: list[tuple[float, Path]] = []
    try:
        children = list(cache.iterdir())
    except OSError:
        return []
    for child in children:
        try:
            used = (child / MARKER_NAME).stat().st_mtime
        except OSError:
            continue
        entries.append((used, child))
    entries.sort(reverse=True)
    others = [child for _, child in entries if child != keep_also]
    kept = keep - (len(others) < len(entries))
    for child in others[max(kept, 0) :]:
        _remove(child)
    return others[max(kept, 0) :]


def _matching(patterns: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for pattern in patterns:
        found.update(glob.glob(pattern) if glob.has_magic(pattern) else [pattern])
    return {p for p in found if os.path.lexists(p)}


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
