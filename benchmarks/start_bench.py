"""Kernel start latency: from ``POST /api/sessions`` to the first ``kernel_info`` reply.

``python benchmarks/start_bench.py OUT.json [--cold N] [--warm N] [--work DIR]``
(``run.py`` calls it with the interpreter that has the peer installed).

One uv project (``pyproject.toml``, ``uv.lock``, ``.venv`` with ipykernel made by
``uv sync``) with its notebook in ``notebooks/``, started five ways, each from its own
real server:

- ``stock``: a kernelspec made by ``.venv/bin/python -m ipykernel install --prefix``
  and selected by name, on a server with no configuration: no discovery at all. Its
  ``argv`` is then set to the server's ``python3`` argv with the environment's
  interpreter first, so that both start the very same command (``ipykernel install``
  adds ``-Xfrozen_modules=off``, which changes the kernel's own start-up time);
- ``project-kernels``: ``python3`` on a server with
  ``c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"``;
- ``warm``: the same with ``c.ProjectKernels.warm_kernels = 1``: every start is handed a warm
  kernel (the benchmark waits, untimed, until the replacement of the previous one is ready,
  and records how long that replacement took to become ready and its resident memory).
  Only in the long-lived servers' rounds: a fresh server has no warm kernel yet;
- ``pplk-venv``: pyproject-local-kernel's ``pyproject_local_kernel_use_venv`` kernel
  (``.venv`` used directly, after its ipykernel sanity check);
- ``pplk-uv``: pyproject-local-kernel's default kernel, which for a uv project runs
  ``uv run --with ipykernel python -m ipykernel_launcher``.

Warm rounds: one long-lived server per variant (one start discarded first), rounds visiting
the variants in a shuffled order. Cold: each start is the first in a freshly started
server (our modules imported and our caches empty), again interleaved. Inside each
server the probe records the processes it creates, how long the kernel manager's
pre-start (the provisioner's ``pre_launch``) and launch took, and the longest
event-loop stall during the start.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jupyter_client.kernelspec import KernelSpecManager
from server import PROJECT_KERNELS_CONFIG, Server

WARM_CONFIG = PROJECT_KERNELS_CONFIG + "c.ProjectKernels.warm_kernels = 1\n"
VARIANTS: dict[str, tuple[str, str]] = {
    # name: (server configuration, kernel name)
    "stock": ("", "bench-venv"),
    "project-kernels": (PROJECT_KERNELS_CONFIG, "python3"),
    "warm": (WARM_CONFIG, "python3"),
    "pplk-venv": ("", "pyproject_local_kernel_use_venv"),
    "pplk-uv": ("", "pyproject_local_kernel"),
}
PYPROJECT = """\
[project]
name = "bench-project"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = ["ipykernel"]

[tool.uv]
package = false
"""
#: Variants measured only in long-lived servers (a fresh server has no warm kernel).
LONG_LIVED_ONLY = frozenset({"warm"})
#: The warm kernel's launcher, as it shows in the commands a server starts.
LAUNCHER = "warm/launcher.py"
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def uv_binary() -> str:
    """The real uv program (not a pyenv shim), as the servers find it on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise SystemExit("uv is needed: pip install uv") from None
        return found


def make_project(work: Path, uv: str) -> tuple[Path, Path, dict[str, list[str]]]:
    """The server root, the stock kernelspec prefix, and the kernel commands compared."""
    root = work / "root"
    project = root / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    subprocess.run(
        [uv, "sync", "--quiet", "--python", sys.executable],
        cwd=project,
        check=True,
        env={**os.environ, "VIRTUAL_ENV": ""},
    )
    prefix = work / "stock-prefix"
    subprocess.run(
        [
            str(project / ".venv" / "bin" / "python"),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(prefix),
            "--name",
            "bench-venv",
            "--display-name",
            "Python (project .venv)",
        ],
        check=True,
        capture_output=True,
    )
    kernel_json = prefix / "share" / "jupyter" / "kernels" / "bench-venv" / "kernel.json"
    installed = json.loads(kernel_json.read_text())
    native = KernelSpecManager().get_kernel_spec("python3").argv
    stock_argv = [str(project / ".venv" / "bin" / "python"), *native[1:]]
    kernel_json.write_text(json.dumps({**installed, "argv": stock_argv}, indent=1))
    argvs = {
        "ipykernel install": installed["argv"],
        "stock (used)": stock_argv,
        "python3 (project-kernels rewrites argv[0])": native,
    }
    venv = str(Path(sys.executable).parent.parent)
    shown = {
        k: [a.replace(str(work), "$WORK").replace(venv, "$VENV") for a in v]
        for k, v in argvs.items()
    }
    return root, prefix, shown


def server_env(prefix: Path, uv: str) -> dict[str, str]:
    """The same variables for every server: the stock kernelspec visible, the real uv first."""
    path = os.pathsep.join([str(Path(uv).parent), str(Path(sys.executable).parent)])
    return {
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "PATH": path + os.pathsep + os.environ.get("PATH", ""),
    }


def one_start(server: Server, variant: str, notebook: str) -> dict[str, Any]:
    """One measured start, with what the probe saw in the server during it."""
    server.report(reset=True)
    started = server.start_kernel(notebook, VARIANTS[variant][1])
    seen = server.report(reset=True)
    server.end_session(started["session"])
    phases = {p["phase"]: p["ms"] for p in seen["phases"]}
    commands = [[a.replace(WORK[0], "$WORK") for a in s["argv"]] for s in seen["spawns"]]
    return {
        "variant": variant,
        "total_ms": started["total"] * 1e3,
        "post_ms": started["post"] * 1e3,
        "pre_start_ms": phases.get("pre_start"),
        "launch_ms": phases.get("launch"),
        "spawns": [c[:6] for c in commands],
        "stall_max_ms": seen["stalls"]["max_ms"],
        "other_processes": [
            " ".join(c[:4]) for c in commands if not is_kernel(c) and not is_warm_kernel(c)
        ],
        "warm_replacements": sum(1 for c in commands if is_warm_kernel(c)),
    }


def is_kernel(argv: list[str]) -> bool:
    """The kernel's own process: ipykernel, or ``uv run`` starting it."""
    return "ipykernel_launcher" in argv or Path(argv[0]).name == "uv"


def is_warm_kernel(argv: list[str]) -> bool:
    """A warm kernel started to replace the one just handed over (not part of this start)."""
    return any(a.endswith(LAUNCHER) for a in argv)


def wait_for_warm_kernel(server: Server, timeout: float = 600) -> dict[str, Any]:
    """Wait until the server has a ready warm kernel; what it was, and how long we waited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        ready = [k for k in server.report(reset=False)["warm_kernels"] if k["state"] == "ready"]
        if ready:
            kernel = ready[0]
            return {
                "waited_s": time.monotonic() - began,
                "ready_after_s": kernel["ready_at"] - kernel["spawned_at"],
                "resident_mib": kernel["resident_bytes"] / 2**20,
            }
        time.sleep(0.05)
    raise TimeoutError(f"no warm kernel became ready within {timeout:g} s")


def new_notebook(root: Path, label: str) -> str:
    path = root / "project" / "notebooks" / f"{label}.ipynb"
    path.write_text(NOTEBOOK)
    return path.relative_to(root).as_posix()


#: The temporary directory, shown as $WORK in the commands recorded.
WORK = ["/nonexistent"]


def run(work: Path, cold: int, warm: int, seed: int, variants: list[str]) -> dict[str, Any]:
    WORK[0] = str(work)
    uv = uv_binary()
    root, prefix, argvs = make_project(work, uv)
    env = server_env(prefix, uv)
    rng = random.Random(seed)
    names = list(variants)
    cold_names = [v for v in names if v not in LONG_LIVED_ONLY]
    samples: list[dict[str, Any]] = []
    failures: list[str] = []

    def record(kind: str, round_: int, sample: dict[str, Any]) -> None:
        sample.update(kind=kind, round=round_)
        samples.append(sample)
        print(
            f"  {kind} round {round_:2d} {sample['variant']:16s} {sample['total_ms']:7.0f} ms "
            f"(pre-start {sample['pre_start_ms'] or 0:6.1f} ms, {len(sample['spawns'])} process)",
            flush=True,
        )

    for round_ in range(cold):
        rng.shuffle(cold_names)
        for variant in cold_names:
            server = Server(sys.executable, root, work, VARIANTS[variant][0], env, stalls=True)
            try:
                notebook = new_notebook(root, f"cold-{variant}-{round_}")
                sample = one_start(server, variant, notebook)
                sample["server_ready_ms"] = server.ready_after * 1e3
                record("cold", round_, sample)
            except Exception as error:  # keep measuring the others; the failure is reported
                failures.append(f"cold {variant}: {error}")
            finally:
                server.stop()

    servers = {
        v: Server(sys.executable, root, work, VARIANTS[v][0], env, stalls=True) for v in names
    }
    try:
        for variant, server in servers.items():
            with_error(
                failures,
                "warm-up " + variant,
                one_start,
                server,
                variant,
                new_notebook(root, f"warmup-{variant}"),
            )
        for round_ in range(warm):
            rng.shuffle(names)
            for variant in names:
                notebook = new_notebook(root, f"warm-{variant}-{round_}")
                try:
                    waited = wait_for_warm_kernel(servers[variant]) if variant == "warm" else None
                    sample = one_start(servers[variant], variant, notebook)
                    if waited is not None:
                        sample["warm_kernel"] = waited
                    record("warm", round_, sample)
                except Exception as error:
                    failures.append(f"warm {variant}: {error}")
    finally:
        for server in servers.values():
            server.stop()
    return {
        "samples": samples,
        "failures": failures,
        "kernel_commands": argvs,
        "variants": {
            v: {"kernel": k, "config": c.strip()} for v, (c, k) in VARIANTS.items() if v in names
        },
        **summarise(samples),
    }


def with_error(failures: list[str], label: str, call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as error:
        failures.append(f"{label}: {error}")


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per variant and kind, ratios to stock, and paired per-round differences."""
    summary: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        of_kind = [s for s in samples if s["kind"] == kind]
        per_variant: dict[str, Any] = {}
        for variant in VARIANTS:
            mine = [s for s in of_kind if s["variant"] == variant]
            if not mine:
                continue
            totals = sorted(s["total_ms"] for s in mine)
            pre = [s["pre_start_ms"] for s in mine if s["pre_start_ms"] is not None]
            per_variant[variant] = {
                "n": len(totals),
                "median_ms": statistics.median(totals),
                "q1_ms": quantile(totals, 0.25),
                "q3_ms": quantile(totals, 0.75),
                "min_ms": totals[0],
                "pre_start_median_ms": statistics.median(pre) if pre else None,
                "stall_median_ms": statistics.median(s["stall_max_ms"] for s in mine),
                "stall_max_ms": max(s["stall_max_ms"] for s in mine),
                "processes_per_start": sorted({len(s["spawns"]) for s in mine}),
                "other_processes": sorted({p for s in mine for p in s["other_processes"]}),
                "starts_with_other_processes": sum(1 for s in mine if s["other_processes"]),
                "process_commands": first_commands(mine),
                **warm_kernel_summary(mine),
            }
        stock = per_variant.get("stock")
        for variant, stats in per_variant.items():
            if stock is None:
                continue
            stats["ratio_to_stock"] = stats["median_ms"] / stock["median_ms"]
            paired = paired_differences(of_kind, variant)
            stats["paired_diff_median_ms"] = statistics.median(paired) if paired else None
            stats["paired_diff_ratio"] = (
                stats["paired_diff_median_ms"] / stock["median_ms"] if paired else None
            )
            if stats["pre_start_median_ms"] is not None and stock["pre_start_median_ms"]:
                stats["pre_start_overhead_ms"] = (
                    stats["pre_start_median_ms"] - stock["pre_start_median_ms"]
                )
        summary[kind] = per_variant
    return summary


def warm_kernel_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """For the warm variant: how long a replacement took to be ready, and its memory."""
    seen = [s["warm_kernel"] for s in samples if s.get("warm_kernel")]
    if not seen:
        return {}
    return {
        "warm_kernel_ready_after_median_s": statistics.median(w["ready_after_s"] for w in seen),
        "warm_kernel_ready_after_max_s": max(w["ready_after_s"] for w in seen),
        "warm_kernel_resident_median_mib": statistics.median(w["resident_mib"] for w in seen),
        "waited_for_warm_kernel_median_s": statistics.median(w["waited_s"] for w in seen),
    }


def first_commands(samples: list[dict[str, Any]]) -> list[str]:
    commands = samples[0]["spawns"] if samples else []
    return [" ".join(Path(c[0]).name if i == 0 else c[i] for i in range(len(c))) for c in commands]


def paired_differences(samples: list[dict[str, Any]], variant: str) -> list[float]:
    """``variant`` minus ``stock`` in the same round: robust to load that drifts."""
    by_round: dict[int, dict[str, float]] = {}
    for s in samples:
        by_round.setdefault(s["round"], {})[s["variant"]] = s["total_ms"]
    return [r[variant] - r["stock"] for r in by_round.values() if variant in r and "stock" in r]


def quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--warm", type=int, default=15)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated; stock is always needed"
    )
    args = parser.parse_args()
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pk-bench-start-", dir=args.work) as tmp:
        result = run(Path(tmp), args.cold, args.warm, args.seed, variants)
    result["seconds"] = time.monotonic() - started
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
