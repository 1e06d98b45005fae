"""Listing with the kernel picker on: ``GET /api/kernelspecs`` latency and event-loop stalls.

``python benchmarks/listing_bench.py OUT.json [--sizes 10,100,1000,10000] [--work DIR]``.

Under the server's root sit N project directories (``p00001/`` with a notebook and a
``data/`` directory); one in a hundred (at least one) has a ``.venv`` laid out as
``python -m venv`` lays one out (``pyvenv.cfg``, a ``bin/python`` symlink to this
machine's interpreter, ``lib/pythonX.Y/site-packages`` with an ipykernel ``dist-info``),
which inspection and the trust checks treat as any other venv. So 10,000 projects are
20,001 directories and 100 environments, all listed (``list_max_directories`` is raised
to cover the tree). A last, stress row has an environment in one project in ten: 1,000
kernels in the picker.

For each N, a server with ``c.ProjectKernelSpecManager.list_environments = True`` (and
``list_refresh_interval = 3`` so that background rescans happen during the measurement)
and a stock server over the same root:

1. the first ``GET /api/kernelspecs`` after the server answers (ours waits at most 1 s
   for the first scan), and how long until the listing is complete;
2. then for a few seconds ``GET /api/kernelspecs`` every 100 ms while another thread
   polls ``/api/status`` back to back, and a probe inside the server wakes every
   millisecond: the longest lateness of that wake-up is the longest event-loop stall.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import PROJECT_KERNELS_CONFIG, Server

#: (projects, one environment every this many projects)
SIZES = ((10, 100), (100, 100), (1000, 100), (10000, 100), (10000, 10))
WINDOW = 6.0
NOTEBOOK = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'


def make_tree(root: Path, projects: int, every: int) -> int:
    """``projects`` project directories under ``root``; returns how many have a .venv."""
    real_python = os.path.realpath(sys.executable)
    version = "{}.{}.{}".format(*sys.version_info[:3])
    xy = "{}.{}".format(*sys.version_info[:2])
    cfg = (
        f"home = {os.path.dirname(real_python)}\n"
        "include-system-site-packages = false\n"
        f"version = {version}\n"
    )
    environments = 0
    for index in range(1, projects + 1):
        project = root / f"p{index:05d}"
        (project / "data").mkdir(parents=True)
        (project / "analysis.ipynb").write_text(NOTEBOOK)
        if index % every == 0 or (projects < every and index == 1):
            env = project / ".venv"
            (env / "bin").mkdir(parents=True)
            (env / "pyvenv.cfg").write_text(cfg)
            os.symlink(real_python, env / "bin" / "python")
            dist = env / "lib" / f"python{xy}" / "site-packages" / "ipykernel-7.4.0.dist-info"
            dist.mkdir(parents=True)
            (dist / "METADATA").write_text("Name: ipykernel\nVersion: 7.4.0\n")
            environments += 1
    return environments


def listed(server: Server) -> tuple[float, int]:
    """One ``GET /api/kernelspecs``: seconds, and how many listed environments it held."""
    started = time.perf_counter()
    answer = server.get("/api/kernelspecs")
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    specs = answer.json()["kernelspecs"]
    return elapsed, sum(1 for name in specs if name.startswith("project-"))


def poll_status(server: Server, stop: threading.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        server.get("/api/status")
        latencies.append(time.perf_counter() - started)


def measure(server: Server, expected: int) -> dict[str, Any]:
    server.report(reset=True)  # the server's own start-up is not what is measured
    first, first_count = listed(server)
    complete_after = None
    deadline = time.monotonic() + 300
    count = first_count
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.25)
        count = listed(server)[1]
    if count >= expected:
        complete_after = time.monotonic() - server.started - server.ready_after
    during_first_scan = server.report(reset=True)["stalls"]

    stop = threading.Event()
    status: list[float] = []
    poller = threading.Thread(target=poll_status, args=(server, stop, status))
    poller.start()
    latencies: list[float] = []
    counts: list[int] = []
    window_end = time.monotonic() + WINDOW
    try:
        while time.monotonic() < window_end:
            elapsed, count = listed(server)
            latencies.append(elapsed)
            counts.append(count)
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join()
    seen = server.report(reset=True)
    scans = [s for s in seen["spawns"] if "project_kernels.picker" in " ".join(s["argv"])]
    return {
        "first_get_ms": first * 1e3,
        "first_get_listed": first_count,
        "complete_after_s": complete_after,
        "listed": max(counts) if counts else 0,
        "get_median_ms": statistics.median(latencies) * 1e3,
        "get_max_ms": max(latencies) * 1e3,
        "gets": len(latencies),
        "status_median_ms": statistics.median(status) * 1e3 if status else None,
        "status_max_ms": max(status) * 1e3 if status else None,
        "status_requests": len(status),
        "stall_max_ms": seen["stalls"]["max_ms"],
        "stalls_over_10ms": seen["stalls"]["over_10ms"],
        "stalls_over_5ms": seen["stalls"]["over_5ms"],
        "stall_top_ms": seen["stalls"]["top"],
        "stall_samples": seen["stalls"]["samples"],
        "scans_during_window": len(scans),
        "first_scan_stall_max_ms": during_first_scan["max_ms"],
        "first_scan_stalls_over_10ms": during_first_scan["over_10ms"],
    }


def config_for(variant: str, projects: int) -> str:
    if variant == "stock":
        return ""
    return (
        PROJECT_KERNELS_CONFIG
        + "c.ProjectKernelSpecManager.list_environments = True\n"
        + f"c.ProjectKernelSpecManager.list_max_directories = {2 * projects + 100}\n"
        + "c.ProjectKernelSpecManager.list_refresh_interval = 3.0\n"
    )


def run(work: Path, sizes: tuple[tuple[int, int], ...]) -> dict[str, Any]:
    results = []
    scripts = sysconfig.get_path("scripts")
    env = {"PATH": scripts + os.pathsep + os.environ.get("PATH", "")}
    for projects, every in sizes:
        root = work / f"root-{projects}-{every}"
        root.mkdir()
        made = time.monotonic()
        environments = make_tree(root, projects, every)
        made = time.monotonic() - made
        for variant in ("stock", "project-kernels"):
            server = Server(
                sys.executable, root, work, config_for(variant, projects), env, stalls=True
            )
            try:
                row = measure(server, environments if variant != "stock" else 0)
            finally:
                server.stop()
            row.update(
                variant=variant,
                projects=projects,
                directories=2 * projects + 1,
                environments=environments,
                tree_seconds=made,
            )
            results.append(row)
            print(
                f"  {projects:6d} projects/{environments:4d} envs {variant:16s}"
                f" GET median {row['get_median_ms']:6.1f} ms"
                f" max {row['get_max_ms']:6.1f} ms, longest stall {row['stall_max_ms']:6.1f} ms,"
                f" listed {row['listed']}, complete after {row['complete_after_s']}",
                flush=True,
            )
    return {"rows": results, "window_seconds": WINDOW}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--sizes",
        default=",".join(f"{p}:{e}" for p, e in SIZES),
        help="projects:one-environment-every, comma-separated",
    )
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    sizes = tuple((int(p), int(e)) for p, e in (s.split(":") for s in args.sizes.split(",")))
    with tempfile.TemporaryDirectory(prefix="pk-bench-listing-", dir=args.work) as tmp:
        result = run(Path(tmp), sizes)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
