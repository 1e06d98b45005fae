"""The environments under the server's root, listed as kernelspecs for the kernel picker.

JupyterLab asks for the kernelspecs every 61 seconds per tab and on every kernel
connection, and nothing in Jupyter caches the answer. So the listing is a cache,
and every request is answered from the last finished scan, starting a new scan
in the background when that one is older than the refresh interval.

The scan itself (:func:`~.discovery.scan`: bounded in depth and count, pruning
``.git``, ``node_modules``, ``site-packages`` and hidden trees) runs in a child
process at lower CPU priority (``python -m project_kernels.picker``), watched by
a thread. A scan in a thread of the server would hold the interpreter lock for
most of its run and delay every request by milliseconds at a time; a child
process shares nothing with the event loop.

Each environment becomes a kernelspec whose provisioner config pins it
(``ProjectKernelProvisioner.environment``), with a name made from its path
relative to the root plus a short hash: valid, stable across restarts and
machines with the same layout, and free of absolute paths.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .discovery import is_within
from .environments import ProblemCode
from .names import provisioner_stanza
from .report import environment_label, sanitize

__all__ = [
    "NAME_PREFIX",
    "SCAN_NICENESS",
    "SCAN_TIMEOUT",
    "VALID_NAME",
    "EnvironmentListing",
    "Found",
    "Listed",
    "display_name",
    "kernel_name",
    "main",
    "scan_for_listing",
    "spec_for",
    "spec_for_name",
]

#: Every listed kernel's name starts with this.
NAME_PREFIX = "project-"
_NOT_NAME = re.compile(r"[^a-z0-9]+")
#: Kernel names JupyterLab and jupyter_client accept.
VALID_NAME = re.compile(r"^[a-z0-9._-]+$")
#: How much lower than the server's the scanning process's CPU priority is.
SCAN_NICENESS = 10
SCAN_TIMEOUT = 600.0


@dataclass(frozen=True)
class Found:
    """One environment a scan found: where, its Python version, and its first problem."""

    path: Path
    python_version: str | None = None
    problem: ProblemCode | None = None


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


def display_name(found: Found, relative: str) -> str:
    """``analysis/.venv · Python 3.12``; ``old/.venv · Python 3.11 · needs ipykernel``.

    The status bar names a running kernel's environment the same way.
    """
    return environment_label(sanitize(relative), found.python_version, found.problem)


def spec_for(
    found: Found, relative: str, template: Mapping[str, Any], provisioner: str
) -> dict[str, Any]:
    """A kernelspec like ``template`` (python3's) that launches ``found``, pinned."""
    metadata = dict(template.get("metadata") or {})
    metadata["kernel_provisioner"] = {
        **provisioner_stanza(str(found.path)),
        "provisioner_name": provisioner,
    }
    return {
        **template,
        "display_name": display_name(found, relative),
        "language": "python",
        "metadata": metadata,
    }


def spec_for_name(name: str, template: Mapping[str, Any], provisioner: str) -> dict[str, Any]:
    """A spec for the listed kernel ``name`` before the listing knows it (see the provisioner)."""
    metadata = dict(template.get("metadata") or {})
    metadata["kernel_provisioner"] = {
        "provisioner_name": provisioner,
        "config": {"listed_name": name},
    }
    return {**template, "display_name": "Python (listed environment)", "metadata": metadata}


class EnvironmentListing:
    """The environments below ``root``, from scans that run in the background.

    ``options`` gives the ``ProjectKernels`` trait values the scanning process
    finds environments with (names, kinds, trust), so it finds what a launch would.
    """

    def __init__(
        self,
        root: Path,
        options: Callable[[], Mapping[str, Any]],
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
        self._options = options
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
        self._said_bounds: tuple[int, bool] = (0, False)

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

    def lookup(self, name: str) -> Listed | None:
        """The listed kernel called ``name`` in the last finished scan, if any."""
        return self._entries.get(name)

    async def find(self, name: str, timeout: float) -> Listed | None:
        """The listed kernel called ``name``, waiting (off the loop) for a first scan."""
        await self.first_scan(timeout)
        return self.lookup(name)

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
        import asyncio  # here: the command line imports this module for kernel names alone

        if self.ready:
            return
        future = self.refresh()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)

    def _scan_into(self, future: concurrent.futures.Future[None]) -> None:
        try:
            self._entries = self._listed(self._scan())
        except Exception as error:  # the server must not die of a listing
            self._log.warning("project-kernels: listing the environments failed: %s", error)
        finally:
            self._finished_at = time.monotonic()
            future.set_result(None)

    def _scan(self) -> list[Found]:
        started = time.monotonic()
        request = {
            "root": str(self.root),
            "options": dict(self._options()),
            "max_depth": self.max_depth,
            "max_directories": self.max_directories,
        }
        completed = subprocess.run(
            [sys.executable, "-m", "project_kernels.picker"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=SCAN_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(completed.stderr.strip() or f"exit code {completed.returncode}")
        answer = json.loads(completed.stdout)
        found = [
            Found(
                Path(e["path"]),
                e["python_version"],
                ProblemCode(e["problem"]) if e["problem"] else None,
            )
            for e in answer["found"]
        ]
        self._log.debug(
            "project-kernels: listed %d environment(s) from %d directories in %.3f s",
            len(found),
            answer["directories_seen"],
            time.monotonic() - started,
        )
        self._log_bounds(answer)
        return found

    def _log_bounds(self, answer: Mapping[str, Any]) -> None:
        """Say what the scan did not look at: at warning level once, then at debug level."""
        root = sanitize(str(self.root))
        said = [
            f"the kernel picker lists the environments at most {self.max_depth} levels below "
            f"{root} ({answer['directories_seen']} directories looked at; hidden directories, "
            ".git, node_modules, site-packages and the like are not entered)"
        ]
        limited = int(answer.get("depth_limited", 0))
        if limited:
            examples = [sanitize(e) for e in answer.get("depth_limited_examples", [])]
            if limited > len(examples):
                examples.append("...")
            directories = "directory" if limited == 1 else "directories"
            said.append(
                f"not looked at: what is below {limited} {directories} at depth "
                f"{self.max_depth} ({', '.join(examples)}); raise "
                "ProjectKernelSpecManager.list_max_depth to look deeper"
            )
        if answer.get("not_visited"):
            said.append(
                f"not looked at: {answer['not_visited']} or more directories after the first "
                f"{self.max_directories}; raise ProjectKernelSpecManager.list_max_directories "
                "or lower list_max_depth"
            )
        message = "project-kernels: " + "; ".join(said)
        # Said again only when what was cut changes, not at every refresh.
        cut = (limited, bool(answer.get("not_visited")))
        if answer["truncated"] and cut != self._said_bounds:
            self._log.warning("%s", message)
        else:
            self._log.debug("%s", message)
        self._said_bounds = cut

    def _listed(self, found: Sequence[Found]) -> dict[str, Listed]:
        template, self._resource_dir = self._template()
        entries: dict[str, Listed] = {}
        for environment in _distinct(found, self._exclude):
            if not is_within(environment.path, self.root):
                # A tool's environment kept outside the root (poetry's, pipenv's, a named
                # conda one) has no path-derived name; its notebooks reach it by the walk.
                continue
            relative = environment.path.relative_to(self.root).as_posix()
            name = kernel_name(relative)
            spec = spec_for(environment, relative, template, self._provisioner)
            entries[name] = Listed(name, spec, environment.path)
        return entries


def _distinct(found: Sequence[Found], exclude: set[str]) -> list[Found]:
    """Each environment once (reached through a symlink only if not directly), none excluded."""
    chosen: dict[str, Found] = {}
    for environment in found:
        real = os.path.realpath(environment.path)
        if real in exclude:
            continue
        if real not in chosen or os.path.islink(chosen[real].path):
            chosen[real] = environment
    return list(chosen.values())


def scan_for_listing(request: Mapping[str, Any]) -> dict[str, Any]:
    """What the scanning process answers: the environments below the request's root."""
    from .config import ProjectKernels
    from .discovery import scan

    settings = ProjectKernels(**request["options"]).settings()
    result = scan(
        Path(request["root"]),
        settings.locators(),
        max_depth=int(request["max_depth"]),
        max_directories=int(request["max_directories"]),
    )
    found = []
    for candidate in result.candidates:
        environment = candidate.environment
        if environment is None:
            continue
        version = environment.python_version
        found.append(
            {
                "path": str(environment.root),
                "python_version": str(version) if version is not None else None,
                "problem": environment.problems[0].code.value if environment.problems else None,
            }
        )
    relative = [p.relative_to(result.root).as_posix() for p in result.depth_limited[:3]]
    return {
        "found": found,
        "directories_seen": result.directories_seen,
        "truncated": result.truncated,
        "depth_limited": len(result.depth_limited),
        "depth_limited_examples": relative,
        "not_visited": result.not_visited,
    }


def main() -> None:
    """``python -m project_kernels.picker``: one scan, request on stdin, answer on stdout."""
    with contextlib.suppress(OSError):
        os.nice(SCAN_NICENESS)
    print(json.dumps(scan_for_listing(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
