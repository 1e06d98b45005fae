"""The provisioner's side of making an environment when a notebook opens.

In a server, the session's start must not wait for a build (JupyterLab would time
out, and the person would see nothing). So a ``making`` plan launches the small
kernel of :mod:`.kernel` at once, and a task on the server's event loop carries
the plan out without ever blocking it: the build runs in a detached process
(``python -m project_kernels.making``, which outlives a kernel restart and ends by
itself), the task polls it, asks :func:`~project_kernels.decision.decide` again
(in the thread pool) and repeats for as many builds as the plan asks for; then it
writes into the kernel's instructions file what the kernel becomes: the
environment's kernel, or, when a build failed, the explaining kernel with the
tool's last lines. ``launch_plan`` follows along (``making``, then what runs).

Outside a server (nbconvert, papermill: nobody would see a making kernel, and a
cell answered "run it again" would fail the run) the build runs in the foreground
of the start, in the thread pool, and the start goes on with what was made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from string import Template
from typing import Any

from ..decision import LaunchMode, LaunchPlan, decide
from ..failure_memory import FailureMemory
from ..inline import MARKER_NAME
from ..resolver import LaunchRequest
from ..settings import OnMissing, OnUnusable, Settings
from .build import Outcome, read_outcome
from .carry import after_build, make_and_decide, next_request
from .recipes import Recipe, recipe_json

__all__ = ["ServerMaking", "make_in_foreground", "note_use", "settings_after_start"]

#: Seconds between two looks at a running build.
POLL = 0.25


def settings_after_start(settings: Settings) -> Settings:
    """The settings for deciding once a kernel is running: an error can no longer fail the
    start, so what would be an error is explained by the fallback kernel instead."""
    return replace(
        settings,
        on_missing=OnMissing.FALLBACK
        if settings.on_missing is OnMissing.ERROR
        else settings.on_missing,
        on_unusable=(
            OnUnusable.FALLBACK
            if settings.on_unusable is OnUnusable.ERROR
            else settings.on_unusable
        ),
    )


def note_use(plan: LaunchPlan) -> None:
    """Mark an inline environment as used now (the cache removes the least recently used)."""
    if plan.inline is None or plan.mode is not LaunchMode.ENVIRONMENT or plan.environment is None:
        return
    with contextlib.suppress(OSError):
        os.utime(plan.environment.root / MARKER_NAME)


def make_in_foreground(
    request: LaunchRequest,
    settings: Settings,
    memory: FailureMemory | None,
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> LaunchPlan:
    """Build what the plan asks for, logging the tools' output; the plan to launch then."""
    plan, outcomes = make_and_decide(request, settings, memory, out=_LogWriter(log))
    for outcome in outcomes:
        if outcome.ok:
            log.info("project-kernels: made %s in %.1f s", outcome.what, outcome.seconds)
        else:
            log.error("project-kernels: %s", outcome.explanation())
    return plan


class _LogWriter:
    """A text stream that writes lines to a logger."""

    def __init__(self, log: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.log = log

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.log.info("project-kernels: %s", line)
        return len(text)

    def flush(self) -> None:
        pass


class ServerMaking:
    """One kernel's making in a server: the task, the build processes, the handover."""

    def __init__(
        self,
        request: LaunchRequest,
        plan: LaunchPlan,
        settings: Settings,
        memory: FailureMemory | None,
        instructions: Path,
        on_plan: Callable[[LaunchPlan], None],
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.request = request
        self.plan = plan
        self.settings = settings_after_start(settings)
        self.memory = memory
        self.instructions = instructions
        self.on_plan = on_plan
        self.log = log
        self.task: asyncio.Task[None] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.files: list[Path] = [instructions]

    def start(
        self, base_cmd: list[str], finalize: Callable[[dict[str, str]], dict[str, str]]
    ) -> None:
        """Begin carrying the plan out, for a kernel launched with ``base_cmd``'s connection."""
        write_private(self.instructions, "")
        self.task = asyncio.ensure_future(self._carry_out(base_cmd, finalize))

    def cancel(self) -> None:
        """The kernel is gone (restarted, shut down): stop following (the build goes on)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        for path in self.files:
            with contextlib.suppress(OSError):
                path.unlink()

    async def _carry_out(
        self, base_cmd: list[str], finalize: Callable[[dict[str, str]], dict[str, str]]
    ) -> None:
        loop = asyncio.get_running_loop()
        request, plan = self.request, self.plan
        made: set[str] = set()
        rounds = 0
        last: Outcome | None = None
        try:
            while plan.mode is LaunchMode.MAKING and plan.making is not None:
                recipe = plan.making
                request = next_request(request, recipe, made, rounds)
                if not request.build_failure:
                    rounds += 1
                    last = await self._build(recipe)
                    request = after_build(request, recipe, last, made)
                plan = await loop.run_in_executor(None, decide, request, self.settings, self.memory)
            note_use(plan)
            self._hand_over(plan, base_cmd, finalize, request, last)
        except asyncio.CancelledError:
            raise
        except Exception:  # the kernel keeps waiting rather than the server failing
            self.log.exception("project-kernels: making the environment failed")

    async def _build(self, recipe: Recipe) -> Outcome:
        """Run one build detached; its outcome once it is over."""
        self._say(
            {
                "follow": str(recipe.log),
                "what": {"what": recipe.what, "commands": [s.shown for s in recipe.steps]},
            }
        )
        recipe_file = self.instructions.with_name(f"{self.instructions.stem}-{recipe.key}.json")
        self.files.append(recipe_file)
        requested = time.time()
        loop = asyncio.get_running_loop()
        process = await loop.run_in_executor(None, _start_build, recipe, recipe_file, requested)
        self.process = process
        while process.poll() is None:
            await asyncio.sleep(POLL)
        with contextlib.suppress(OSError):
            recipe_file.unlink()
        outcome = read_outcome(recipe.result)
        if outcome is None or outcome.finished < requested:
            return Outcome(
                False,
                recipe.what,
                recipe.commands(),
                f"the build process ended with code {process.returncode} and said nothing",
                started=requested,
                finished=time.time(),
            )
        return outcome

    def _hand_over(
        self,
        plan: LaunchPlan,
        base_cmd: list[str],
        finalize: Callable[[dict[str, str]], dict[str, str]],
        request: LaunchRequest,
        last: Outcome | None,
    ) -> None:
        ok = plan.mode is LaunchMode.ENVIRONMENT
        if ok and plan.environment is not None:
            took = f" in {last.seconds:.1f} s" if last is not None and last.ok else ""
            note = f"Made{took}: the kernel now runs in {plan.environment.root}."
        elif request.build_failure:
            note = request.build_failure
        else:
            note = plan.message.splitlines()[0] if plan.message else "The kernel has started."
        self._say(
            {
                "exec": plan.command(base_cmd),
                "env": finalize(dict(plan.env)),
                "note": note,
                "ok": ok,
            }
        )
        self.on_plan(plan)
        self.log.info("project-kernels: %s", note.splitlines()[0])

    def _say(self, instruction: Mapping[str, Any]) -> None:
        with open(self.instructions, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(instruction) + "\n")


def _start_build(recipe: Recipe, recipe_file: Path, requested: float) -> subprocess.Popen[bytes]:
    """Start ``python -m project_kernels.making`` for ``recipe``, in a session of its own."""
    write_private(recipe_file, json.dumps(recipe_json(recipe)))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "project_kernels.making",
            str(recipe_file),
            "--requested",
            str(requested),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a restart kills the kernel's group, not the build
    )


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by this user only, from its creation (it holds variables)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def spec_env(spec_env_entries: Mapping[str, str], env: dict[str, str]) -> dict[str, str]:
    """``env`` with a kernelspec's ``env`` entries applied as jupyter_client applies them."""
    env.update({k: Template(v).safe_substitute(env) for k, v in spec_env_entries.items()})
    return env
