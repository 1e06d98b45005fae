"""Discovery: time and file-system calls per resolution, against depth and candidate names.

``python benchmarks/discovery_bench.py OUT.json [--work DIR]`` (``run.py`` calls it).

A real environment (``uv venv`` + ipykernel) sits at a project root; the notebook's
directory is ``depth`` levels below it. Each resolution is
``resolver.resolve(LaunchRequest(cwd=..., root_dir=root), Settings())``: the walk up,
the inspection of the environment found and its trust checks. The parts are also
measured alone, so that growth can be attributed: the walk with nothing to find, the
walk with the tool locators switched off (named directories only), ``inspect_venv``,
and the trust checks (``findings_for``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fscount import recording

from project_kernels.config import ProjectKernels
from project_kernels.decision import decide
from project_kernels.environments import inspect_venv
from project_kernels.locators import VENV_KINDS
from project_kernels.resolver import LaunchRequest, resolve
from project_kernels.settings import Settings
from project_kernels.trust import TrustPolicy, findings_for

DEPTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30)
NAME_COUNTS = (1, 2, 4, 8, 16)
REPEATS = 15
NUMBER = 10


def per_call_us(call: Callable[[], object], number: int = NUMBER, repeats: int = REPEATS) -> float:
    """The best of ``repeats`` mean times of ``number`` calls, in microseconds.

    The best, as ``timeit`` advises: what other processes on a shared machine add to a
    run is noise, never part of the cost of the code.
    """
    call()  # warm caches (the running interpreter's ELF header, imports)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            call()
        samples.append((time.perf_counter() - started) / number * 1e6)
    return min(samples)


def counted(call: Callable[[], object]) -> dict[str, Any]:
    """The file-system calls one call makes, in total and by kind."""
    call()
    with recording() as calls:
        call()
    return {"total": len(calls), "by_kind": calls.by_kind(), "subprocesses": calls.subprocesses}


def make_environment(root: Path) -> Path:
    """A real uv-made environment with ipykernel at ``root/.venv``."""
    uv = shutil.which("uv") or "uv"
    env = root / ".venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(env)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(env / "bin" / "python"), "ipykernel"],
        check=True,
    )
    return env


def notebook_dir(root: Path, depth: int) -> Path:
    """The directory ``depth`` levels below ``root`` (``root/l1/l2/...``)."""
    start = root.joinpath(*(f"l{level}" for level in range(1, depth + 1)))
    start.mkdir(parents=True, exist_ok=True)
    return start


def measure(work: Path) -> dict[str, Any]:
    """Every discovery measurement, as one JSON-ready dictionary."""
    project = work / "project"
    empty = work / "empty"
    project.mkdir(parents=True)
    empty.mkdir(parents=True)
    env = make_environment(project)
    settings = Settings()
    venv_only = Settings(environment_kinds=VENV_KINDS)
    policy = TrustPolicy.for_current_user()
    environment = inspect_venv(env)
    assert environment.usable, environment.problems

    by_depth = []
    for depth in DEPTHS:
        start = notebook_dir(project, depth)
        nothing = notebook_dir(empty, depth)
        request = LaunchRequest(cwd=str(start), root_dir=project)
        nothing_request = LaunchRequest(cwd=str(nothing), root_dir=empty)
        walk = resolve(request, settings)
        assert walk is not None and walk.environment is not None
        assert walk.environment.root == env and walk.environment.usable

        def full(request: LaunchRequest = request) -> object:
            return resolve(request, settings)

        def named_only(request: LaunchRequest = request) -> object:
            return resolve(request, venv_only)

        def none_found(request: LaunchRequest = nothing_request) -> object:
            return resolve(request, settings)

        def launch_path(request: LaunchRequest = request) -> object:
            # What the provisioner does per start besides jupyter_client's own work.
            launch = replace(request, env=os.environ)
            return decide(launch, ProjectKernels().settings())

        by_depth.append(
            {
                "depth": depth,
                "levels_walked": len(walk.visited),
                "resolve_us": per_call_us(full),
                "resolve_calls": counted(full),
                "named_only_us": per_call_us(named_only),
                "named_only_calls": counted(named_only),
                "nothing_found_us": per_call_us(none_found),
                "nothing_found_calls": counted(none_found),
                "launch_path_us": per_call_us(launch_path),
                "launch_path_calls": counted(launch_path),
            }
        )
        print(
            f"  depth {depth:2d}: resolve {by_depth[-1]['resolve_us']:7.0f} us, "
            f"{by_depth[-1]['resolve_calls']['total']} fs calls",
            flush=True,
        )

    by_names = []
    start = notebook_dir(project, 10)
    for count in NAME_COUNTS:
        names = (*(f"env{i}" for i in range(count - 1)), ".venv")
        named = Settings(environment_names=names)
        request = LaunchRequest(cwd=str(start), root_dir=project)

        def with_names(request: LaunchRequest = request, named: Settings = named) -> object:
            return resolve(request, named)

        by_names.append(
            {
                "names": count,
                "depth": 10,
                "resolve_us": per_call_us(with_names),
                "resolve_calls": counted(with_names),
            }
        )

    def inspect() -> object:
        return inspect_venv(env)

    def trust() -> object:
        return findings_for(environment, policy)

    def make_settings() -> object:
        return ProjectKernels().settings()

    parts = {
        "inspect_venv_us": per_call_us(inspect),
        "inspect_venv_calls": counted(inspect),
        "trust_us": per_call_us(trust),
        "trust_calls": counted(trust),
        "settings_us": per_call_us(make_settings),
    }
    return {
        "environment": str(env),
        "environment_path_components": len(env.parts) - 1,
        "site_packages_entries": len(os.listdir(next(env.glob("lib/python*/site-packages")))),
        "by_depth": by_depth,
        "by_names": by_names,
        "parts": parts,
        **summarise(by_depth, by_names),
    }


def summarise(by_depth: list[dict[str, Any]], by_names: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-level growth (least squares over depth) and per-name growth."""

    def slope(key: str, values: list[dict[str, Any]], x: str = "depth") -> float:
        xs = [float(v[x]) for v in values]
        ys = [float(v[key]["total"] if isinstance(v[key], dict) else v[key]) for v in values]
        mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
        num = sum((a - mean_x) * (b - mean_y) for a, b in zip(xs, ys))
        den = sum((a - mean_x) ** 2 for a in xs)
        return num / den

    at10 = next(v for v in by_depth if v["depth"] == 10)
    return {
        "per_level": {
            "resolve_calls": slope("resolve_calls", by_depth),
            "resolve_us": slope("resolve_us", by_depth),
            "named_only_calls": slope("named_only_calls", by_depth),
            "nothing_found_calls": slope("nothing_found_calls", by_depth),
            "tool_locator_calls": slope("resolve_calls", by_depth)
            - slope("named_only_calls", by_depth),
        },
        "per_name": {
            "resolve_calls_per_level": slope("resolve_calls", by_names, "names") / 11,
            "resolve_us": slope("resolve_us", by_names, "names"),
        },
        "at_depth_10": {
            "resolve_us": at10["resolve_us"],
            "resolve_calls": at10["resolve_calls"]["total"],
            "launch_path_us": at10["launch_path_us"],
            "subprocesses": at10["launch_path_calls"]["subprocesses"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pk-bench-discovery-", dir=args.work) as tmp:
        result = measure(Path(tmp))
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
