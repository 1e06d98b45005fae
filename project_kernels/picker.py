"""The environments under the server's root, listed as kernelspecs for the kernel picker.

JupyterLab asks for the kernelspecs every 61 seconds per tab and on every kernel
connection, and nothing in Jupyter caches the answer. So the listing is a cache:
:func:`~.discovery.scan` (bounded in depth and count, pruning ``.git``,
``node_modules``, ``site-packages`` and hidden trees) runs in a background thread,
and every request is answered from the last finished scan, starting a new scan
when that one is older than the refresh interval.

Each environment becomes a kernelspec whose provisioner config pins it
(``ProjectKernelProvisioner.environment``), with a name made from its path
relative to the root plus a short hash: valid, stable across restarts and
machines with the same layout, and free of absolute paths.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .discovery import Locator, scan
from .environments import Environment, ProblemCode
from .report import sanitize

#: Every listed kernel's name starts with this.
NAME_PREFIX = "project-"
_NOT_NAME = re.compile(r"[^a-z0-9]+")
#: Kernel names JupyterLab and jupyter_client accept.
VALID_NAME = re.compile(r"^[a-z0-9._-]+$")


@dataclass(frozen=True)
class Listed:
    """One environment as a kernelspec: its name, its kernel.json content and where it is."""

    name: str
    spec: dict[str, Any]
    environment: Path


def kernel_name(relative: str) -> str:
    """``analysis/.venv`` -> ``project-analysis-venv-1a2b3c4d``: readable, valid, stable."""
    slug = _NOT_NAME.sub("-", relative.lower()).strip("-")[:40].strip("-") or "env"
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{NAME_PREFIX}{slug}-{digest}"


def display_name(environment: Environment, relative: str) -> str:
    """``Python 3.12 (analysis/.venv)``; ``(analysis/.venv, needs ipykernel)`` and the like."""
    version = environment.python_version
    python = f"Python {version.major}.{version.minor}" if version is not None else "Python"
    where = sanitize(relative)
    if environment.problems:
        code = environment.problems[0].code
        where += ", needs ipykernel" if code is ProblemCode.NO_IPYKERNEL else f", {code.value}"
    return f"{python} ({where})"


def spec_for(
    environment: Environment, relative: str, template: Mapping[str, Any], provisioner: str
) -> dict[str, Any]:
    """A kernelspec like ``template`` (python3's) that launches ``environment``, pinned."""
    metadata = dict(template.get("metadata") or {})
    metadata["kernel_provisioner"] = {
        "provisioner_name": provisioner,
        "config": {"environment": str(environment.root)},
    }
    return {
        **template,
        "display_name": display_name(environment, relative),
        "language": "python",
        "metadata": metadata,
    }


class EnvironmentListing:
    """The environments below ``root``, from a scan that runs in a background thread."""

    def __init__(
        self,
        root: Path,
        locators: Callable[[], Sequence[Locator]],
        template: Callable[[], tuple[Mapping[str, Any], str]],
        *,
        provisioner: str,
        max_depth: int = 4,
        max_directories: int = 10_000,
        refresh_interval: float = 60.0,
        exclude: Sequence[Path] = (),
        log: logging.Logger | None = None,
    ) -> None:
        self.root = root
        self._locators = locators
        self._template = template
        self._provisioner = provisioner
        self.max_depth = max_depth
        self.max_directories = max_directories
        self.refresh_interval = refresh_interval
        self._exclude = {os.path.realpath(p) for p in exclude}
        self._log = log or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._entries: dict[str, Listed] = {}
        self._resource_dir = ""
        self._finished_at: float | None = None
        self._running: concurrent.futures.Future[None] | None = None
        #: How long the last scan took and how many directories it saw (for the log and tests).
        self.last_scan: tuple[float, int, bool] | None = None

    @property
    def ready(self) -> bool:
        """Whether one scan has finished."""
        return self._finished_at is not None

    @property
    def resource_dir(self) -> str:
        """Where the listed kernels' logos come from (python3's resources)."""
        return self._resource_dir

    def entries(self) -> dict[str, Listed]:
        """The last finished scan's environments; starts a new scan when that one is stale."""
        finished = self._finished_at
        if finished is None or time.monotonic() - finished >= self.refresh_interval:
            self.refresh()
        return self._entries

    def lookup(self, name: str, wait: float = 0.0) -> Listed | None:
        """The listed kernel called ``name``, waiting up to ``wait`` s for a first scan."""
        if not self.ready and wait > 0:
            future = self.refresh()
            with contextlib.suppress(concurrent.futures.TimeoutError):
                future.result(timeout=wait)
        return self._entries.get(name)

    def refresh(self) -> concurrent.futures.Future[None]:
        """Start a scan unless one is running; the future finishes with it."""
        with self._lock:
            if self._running is not None and not self._running.done():
                return self._running
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._running = future
        # A daemon thread, unlike an executor's, never holds up the server's shutdown.
        threading.Thread(
            target=self._scan_into, args=(future,), name="project-kernels-scan", daemon=True
        ).start()
        return future

    async def first_scan(self, timeout: float) -> None:
        """Wait (without blocking the event loop) up to ``timeout`` s for the first scan."""
        if self.ready:
            return
        future = self.refresh()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)

    def _scan_into(self, future: concurrent.futures.Future[None]) -> None:
        try:
            self._entries = self._scan()
        except Exception as error:  # the server must not die of a listing
            self._log.warning("project-kernels: listing environments failed: %s", error)
        finally:
            self._finished_at = time.monotonic()
            future.set_result(None)

    def _scan(self) -> dict[str, Listed]:
        started = time.monotonic()
        result = scan(
            self.root,
            self._locators(),
            max_depth=self.max_depth,
            max_directories=self.max_directories,
        )
        template, self._resource_dir = self._template()
        entries: dict[str, Listed] = {}
        seen = set(self._exclude)
        for candidate in result.candidates:
            environment = candidate.environment
            if environment is None:
                continue
            real = os.path.realpath(environment.root)
            if real in seen:
                continue
            seen.add(real)
            relative = environment.root.relative_to(self.root).as_posix()
            name = kernel_name(relative)
            entries[name] = Listed(
                name, spec_for(environment, relative, template, self._provisioner), environment.root
            )
        self.last_scan = (time.monotonic() - started, result.directories_seen, result.truncated)
        if result.truncated:
            self._log.warning(
                "project-kernels: the kernel picker lists the environments in the first %d "
                "directories under %s only; raise ProjectKernelSpecManager.list_max_directories "
                "or lower list_max_depth",
                self.max_directories,
                sanitize(str(self.root)),
            )
        return entries
