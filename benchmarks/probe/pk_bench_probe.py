"""Instruments a jupyter server from inside, for the benchmarks (never shipped, never enabled
outside them).

``install()`` is called from the benchmark's ``jupyter_server_config.py``, so it runs in
the server process before anything else happens there:

- an audit hook records every process the server creates (``subprocess.Popen``,
  ``os.posix_spawn``, ``os.fork``, ``os.exec``, ``os.system``), with its command;
- ``KernelManager._async_pre_start_kernel`` and ``_async_launch_kernel`` are timed (the
  provisioner's ``pre_launch`` and the kernel's ``Popen``);
- with ``PK_BENCH_STALLS=1``, an asyncio task wakes every millisecond and records how late
  it woke: the longest event-loop stall;
- the server's warm kernels (``c.ProjectKernels.warm_kernels``), if it keeps any: each one's
  state, process, resident memory, and when it was started and became ready.

As a server extension (``c.ServerApp.jpserver_extensions = {"pk_bench_probe": True}``) it
serves ``GET /pk-bench/report`` with all of that, and ``?reset=1`` to start afresh.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

_lock = threading.Lock()
_spawns: list[dict[str, Any]] = []
_phases: list[dict[str, Any]] = []
_stalls: dict[str, Any] = {"max_ms": 0.0, "samples": 0, "over_5ms": 0, "over_10ms": 0, "top": []}
_SPAWN_EVENTS = ("subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system")
_installed = False
_serverapp: list[Any] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _SPAWN_EVENTS:
        return
    if event == "subprocess.Popen":
        command = args[1]
    elif event in ("os.posix_spawn", "os.exec"):
        command = args[1] if len(args) > 1 else args
    else:
        command = args
    try:
        shown = (
            [os.fsdecode(a) for a in command]
            if isinstance(command, (list, tuple))
            else [os.fsdecode(command)]
        )
    except TypeError:
        shown = [repr(command)]
    with _lock:
        _spawns.append(
            {
                "event": event,
                "argv": shown,
                "thread": threading.current_thread().name,
                "at": time.monotonic(),
            }
        )


def _timed(name: str, real: Any) -> Any:
    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await real(self, *args, **kwargs)
        finally:
            with _lock:
                _phases.append(
                    {
                        "phase": name,
                        "ms": (time.perf_counter() - started) * 1e3,
                        "kernel_name": getattr(self, "kernel_name", ""),
                        "provisioner": type(getattr(self, "provisioner", None)).__name__,
                    }
                )

    return timed


def install() -> None:
    """Hook the audit events and time the kernel manager's start phases."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.addaudithook(_audit)
    from jupyter_client.manager import KernelManager

    for name, phase in (
        ("_async_pre_start_kernel", "pre_start"),
        ("_async_launch_kernel", "launch"),
    ):
        setattr(KernelManager, name, _timed(phase, getattr(KernelManager, name)))


def _record_stall(late: float) -> None:
    ms = late * 1e3
    _stalls["samples"] += 1
    if ms > _stalls["max_ms"]:
        _stalls["max_ms"] = ms
    if ms > 5:
        _stalls["over_5ms"] += 1
    if ms > 10:
        _stalls["over_10ms"] += 1
        top = _stalls["top"]
        top.append(round(ms, 2))
        top.sort(reverse=True)
        del top[10:]


async def _watch_loop(interval: float = 0.001) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(interval)
        _record_stall(max(0.0, time.perf_counter() - before - interval))


def report(reset: bool) -> dict[str, Any]:
    """Everything recorded since the last reset."""
    with _lock:
        answer = {
            "pid": os.getpid(),
            "spawns": list(_spawns),
            "phases": list(_phases),
            "stalls": json.loads(json.dumps(_stalls)),
            "now": time.monotonic(),
            "warm_kernels": _warm_kernels(),
        }
        if reset:
            _spawns.clear()
            _phases.clear()
            _stalls.update(max_ms=0.0, samples=0, over_5ms=0, over_10ms=0, top=[])
    return answer


def _warm_kernels() -> list[dict[str, Any]]:
    """The server's warm kernels (none without project-kernels or with warming off)."""
    if not _serverapp:
        return []
    try:
        from project_kernels.warm.pool import existing_pool
    except ImportError:
        return []
    pool = existing_pool(_serverapp[0].kernel_manager)
    return pool.snapshot() if pool is not None else []


class ReportHandler(APIHandler):
    """``GET /pk-bench/report[?reset=1]``."""

    @web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(report(self.get_argument("reset", "") == "1")))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pk_bench_probe"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    install()
    _serverapp.append(serverapp)
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], "/pk-bench/report")
    web_app.add_handlers(".*$", [(route, ReportHandler)])
    if os.environ.get("PK_BENCH_STALLS") == "1":
        tasks: list[asyncio.Task[None]] = []

        def start() -> None:
            tasks.append(asyncio.ensure_future(_watch_loop()))

        serverapp.io_loop.add_callback(start)
