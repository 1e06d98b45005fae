"""Warm kernels per environment, for one server: a way of carrying out a launch plan.

:func:`~project_kernels.decision.decide` still decides every launch. Only a plan of mode
``environment`` is offered to the pool, which hands over a warm kernel started for the
same environment, kernelspec, command and variables (see :mod:`.spec`) while the
environment is as it was (see :mod:`.fingerprint`); otherwise the provisioner starts the
kernel cold, as before. Either way, once a kernel of an environment has started, the pool
starts ``warm_kernels`` more of it, in the background, for the notebooks that follow.

Bounds: ``warm_kernels_max`` kernels per server in all, the least recently used
environment giving up its kernels first; each discarded after ``warm_idle_timeout``
seconds unused, when its environment changes or cannot run kernels any more, and when
the server stops (and, through the launcher's pipe, when the server dies).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import subprocess
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..decision import LaunchMode, LaunchPlan
from ..environments import Environment
from .fingerprint import Fingerprint, fingerprint
from .kernel import HandOver, WarmKernel
from .settings import WarmSettings
from .spec import Launch, WarmSpec, assignment_for, spec_of

__all__ = ["WarmPool", "existing_pool", "warm_pool"]

#: Seconds a start waits for a handed-over kernel to bind its sockets before returning
#: (so the server's connections find them open instead of retrying); it goes on regardless.
STARTED_WAIT = 3.0


@dataclass
class _Slot:
    """The warm kernels of one environment and kernelspec, and what they were started for."""

    spec: WarmSpec | None = None
    stamp: Fingerprint | None = None
    kernels: list[WarmKernel] = field(default_factory=list)


class WarmPool:
    """The warm kernels of one server."""

    def __init__(self, settings: WarmSettings, log: logging.Logger | logging.LoggerAdapter[Any]):
        self.settings = settings
        self._log = log
        #: (environment, kernel name) -> slot, least recently used first.
        self._slots: OrderedDict[tuple[Path, str], _Slot] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close, quiet=True)

    async def start(
        self,
        plan: LaunchPlan,
        kernel_name: str,
        cmd: Sequence[str],
        options: dict[str, Any],
        connection_file: str,
    ) -> WarmKernel | None:
        """Carry out ``plan`` with a warm kernel if one fits; None: start it cold.

        ``cmd`` and ``options`` are what ``LocalProvisioner.launch_kernel`` would start.
        """
        environment = plan.environment
        if environment is None:
            return None
        if plan.mode is not LaunchMode.ENVIRONMENT or plan.exits:
            self.forget(environment.root, f"it cannot run kernels now ({plan.mode.value})")
            return None
        launch = Launch.of(environment.root, kernel_name, cmd, options, connection_file)
        spec = spec_of(launch)
        if isinstance(spec, str):
            self._log.debug("project-kernels: no warm kernel for this start: %s", spec)
            return None
        loop = asyncio.get_running_loop()
        kernel = await loop.run_in_executor(None, self._hand_over, environment, spec, launch)
        if kernel is None:
            self._replenish(spec)
            return None
        outcome = await _outcome(kernel)
        self._replenish(spec)  # after the hand-over, which it must not slow down
        if outcome is HandOver.REFUSED:
            return None
        assert kernel.ready_at is not None
        self._log.info(
            "project-kernels: the kernel for %s is a warm kernel from %s (pid %d, ready %.1fs ago)",
            launch.env.get("JPY_SESSION_NAME") or launch.cwd,
            environment.root,
            kernel.pid,
            time.monotonic() - kernel.ready_at,
        )
        return kernel

    def forget(self, environment: Path, reason: str) -> None:
        """Discard every warm kernel of ``environment``."""
        with self._lock:
            for (root, _), slot in self._slots.items():
                if root == environment:
                    self._empty(slot, reason)
                    slot.spec = slot.stamp = None

    def close(self, *, quiet: bool = False) -> None:
        """Discard every warm kernel and start no more (the server is stopping)."""
        with self._lock:
            self._closed = True
            kernels = [k for slot in self._slots.values() for k in slot.kernels]
            for slot in self._slots.values():
                self._empty(slot, "the server is stopping", quiet=quiet)
        for kernel in kernels:
            if kernel.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    kernel.process.wait(5)

    def snapshot(self) -> list[dict[str, Any]]:
        """Every warm kernel, least recently used environment first (for the benchmarks)."""
        with self._lock:
            return [k.snapshot() for slot in self._slots.values() for k in slot.kernels]

    def _hand_over(
        self, environment: Environment, spec: WarmSpec, launch: Launch
    ) -> WarmKernel | None:
        """A ready kernel of ``spec``, sent its assignment (in a worker thread: it stats files)."""
        kernel = self._take(spec, fingerprint(environment), os.path.isdir(launch.cwd))
        if kernel is not None:
            kernel.hand_over(assignment_for(launch, spec))
        return kernel

    def _take(self, spec: WarmSpec, stamp: Fingerprint, cwd_exists: bool) -> WarmKernel | None:
        """Claim a ready kernel of ``spec`` started while the environment looked as ``stamp``."""
        with self._lock:
            key = (spec.environment, spec.kernel_name)
            slot = self._slots.setdefault(key, _Slot())
            self._slots.move_to_end(key)
            if slot.spec is not None and slot.spec != spec:
                self._empty(slot, "the kernel's command or variables are not the same any more")
            elif slot.stamp is not None and slot.stamp != stamp:
                self._empty(slot, "the environment changed since it was started")
            slot.spec, slot.stamp = spec, stamp
            if not cwd_exists:  # a cold start reports the missing directory
                return None
            for kernel in slot.kernels:
                if kernel.claim():
                    slot.kernels.remove(kernel)
                    return kernel
            return None

    def _replenish(self, spec: WarmSpec) -> None:
        """Start kernels of ``spec`` until its environment has ``warm_kernels`` of them."""
        wanted = min(self.settings.kernels, self.settings.max_kernels)
        key = (spec.environment, spec.kernel_name)
        with self._lock:
            slot = self._slots.get(key)
            if self._closed or slot is None or slot.spec != spec or slot.stamp is None:
                return
            while len(slot.kernels) < wanted:
                if self._count() >= self.settings.max_kernels and not self._evict_for(key):
                    return
                kernel = WarmKernel(spec, self.settings.idle_timeout, self._log, self._ended)
                slot.kernels.append(kernel)
                kernel.start()

    def _evict_for(self, key: tuple[Path, str]) -> bool:
        """Discard one kernel of the least recently used other environment (lock held)."""
        for other, slot in self._slots.items():
            if other != key and slot.kernels:
                slot.kernels.pop().discard(
                    f"making room for a warm kernel from {key[0]} "
                    f"(warm_kernels_max = {self.settings.max_kernels})"
                )
                return True
        return False

    def _count(self) -> int:
        return sum(len(slot.kernels) for slot in self._slots.values())

    def _empty(self, slot: _Slot, reason: str, *, quiet: bool = False) -> None:
        for kernel in slot.kernels:
            kernel.discard(reason, quiet=quiet)
        slot.kernels.clear()

    def _ended(self, kernel: WarmKernel) -> None:
        """A kernel's watch is over: it no longer counts."""
        with self._lock:
            slot = self._slots.get((kernel.spec.environment, kernel.spec.kernel_name))
            if slot is not None and kernel in slot.kernels:
                slot.kernels.remove(kernel)


async def _outcome(kernel: WarmKernel) -> HandOver:
    """How the hand-over went, waiting at most :data:`STARTED_WAIT` for the kernel to start."""
    try:
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(kernel.handed_over)), STARTED_WAIT
        )
    except asyncio.TimeoutError:
        return kernel.settle(HandOver.ASSIGNED)


#: One pool per server (keyed by its multi-kernel manager), or None where warming is off.
_POOLS: weakref.WeakKeyDictionary[Any, WarmPool | None] = weakref.WeakKeyDictionary()


def warm_pool(
    owner: Any,
    settings: Callable[[], WarmSettings],
    log: logging.Logger | logging.LoggerAdapter[Any],
) -> WarmPool | None:
    """The warm kernels of the server ``owner`` belongs to; None when ``warm_kernels`` is 0.

    ``settings`` is read once per server, when its first kernel starts.
    """
    if owner not in _POOLS:
        chosen = settings()
        _POOLS[owner] = WarmPool(chosen, log) if chosen.enabled else None
    return _POOLS[owner]


def existing_pool(owner: Any) -> WarmPool | None:
    """The warm kernels of the server ``owner`` belongs to, if it has any (never makes a pool)."""
    return _POOLS.get(owner)
