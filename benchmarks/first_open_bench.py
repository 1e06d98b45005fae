"""First and second open of a cloned uv project: time until a kernel answers in its environment.

``python benchmarks/first_open_bench.py OUT.json [--rounds N] [--work DIR]``
(``run.py`` calls it with the interpreter that has the peer installed).

A uv project (``pyproject.toml`` and ``uv.lock``; it depends on a local package, not on
ipykernel) is "cloned" afresh for each measurement: no ``.venv``. uv's cache is warm (the
packages are downloaded once, before measuring), as on a machine where uv has run before.
Measured, in interleaved rounds:

- ``project-kernels``: a server with ``create_environments = True``; from ``POST
  /api/sessions`` until the kernel answers ``print(sys.prefix)`` from the made environment
  (the first cell, run at once, waits for the build and is asked to be run again; the time
  includes that);
- ``by hand``: ``uv sync``, ``uv pip install ipykernel`` (the project does not depend on it),
  ``ipykernel install --prefix``, then a stock start of that kernelspec, answered the same way;
- ``pplk-uv``: pyproject-local-kernel's uv mode (``uv run --with ipykernel``), from the
  session's start until its kernel answers with the project's package importable;
- ``second open``: a new notebook of an already made project with project-kernels, against
  stock with a kernelspec pointing at the same environment; the probe inside the servers lists
  the processes each start created (project-kernels: the kernel, nothing else);
- ``bytecode``: kernel starts with ``PYTHONDONTWRITEBYTECODE=1`` from an environment made by
  hand that no kernel ran from yet (``uv sync`` does not compile) and from one
  project-kernels made (compiled).
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
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import websocket
from server import PROJECT_KERNELS_CONFIG, TOKEN, Server
from start_bench import uv_binary

PREFIX_CODE = "import sys, localdep; print(sys.prefix)"


def make_template(work: Path, uv: str) -> Path:
    """The project as its repository has it, locked, with its local package beside it."""
    package = work / "root" / "localdep"
    (package / "localdep").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[project]\nname = "localdep"\nversion = "1.0"\n\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    (package / "localdep" / "__init__.py").write_text("VALUE = 42\n")
    template = work / "template"
    template.mkdir()
    # The template locks from beside the projects' parent: "../localdep" must resolve there
    # as it does in each copy under root/.
    (work / "localdep").symlink_to(package, target_is_directory=True)
    (template / "pyproject.toml").write_text(
        '[project]\nname = "survey"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        'dependencies = ["localdep"]\n\n[tool.uv]\npackage = false\n\n'
        '[tool.uv.sources]\nlocaldep = { path = "../localdep" }\n'
    )
    subprocess.run([uv, "lock", "--quiet"], cwd=template, check=True, env=uv_env())
    # Warm uv's cache (ipykernel and its dependencies, the build backend), as a machine
    # where uv ran before has it; the environment made here is thrown away.
    warm = work / "root" / "warm-up"
    shutil.copytree(template, warm)
    subprocess.run([uv, "sync", "--quiet"], cwd=warm, check=True, env=uv_env())
    python = str(warm / ".venv" / "bin" / "python")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "ipykernel"],
        check=True,
        env=uv_env(),
    )
    shutil.rmtree(warm)
    return template


def uv_env() -> dict[str, str]:
    return {**os.environ, "VIRTUAL_ENV": "", "UV_PYTHON": sys.executable}


def clone(template: Path, root: Path, name: str) -> Path:
    target = root / name
    shutil.copytree(template, target)
    (target / "notebooks").mkdir()
    (target / "notebooks" / "nb.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    return target


def answered_from(
    server: Server, notebook: str, kernel: str, timeout: float = 900
) -> dict[str, Any]:
    """Seconds from ``POST /api/sessions`` until ``PREFIX_CODE`` runs, and where it ran."""
    started = time.perf_counter()
    response = server.session.post(
        server.url + "/api/sessions",
        json={"path": notebook, "type": "notebook", "name": "nb.ipynb", "kernel": {"name": kernel}},
        timeout=timeout,
    )
    response.raise_for_status()
    model = response.json()
    posted = time.perf_counter() - started
    prefix = ""
    cells = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cells += 1
        status, output = execute(server, model["kernel"]["id"], PREFIX_CODE, timeout)
        if status == "ok":
            prefix = output.strip()
            break
        time.sleep(0.1)
    total = time.perf_counter() - started
    server.session.delete(server.url + f"/api/sessions/{model['id']}", timeout=120)
    return {"seconds": total, "post_seconds": posted, "prefix": prefix, "cells_run": cells}


def execute(server: Server, kernel_id: str, code: str, timeout: float) -> tuple[str, str]:
    """Run ``code``; its reply's status and its standard output."""
    ws = websocket.create_connection(
        server.url.replace("http", "ws")
        + f"/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
        header=[f"Authorization: token {TOKEN}"],
        timeout=timeout,
    )
    msg_id = uuid.uuid4().hex
    try:
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "bench",
                        "session": uuid.uuid4().hex,
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": True},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out, status = "", ""
        while not status:
            message = json.loads(ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
                out += message["content"]["text"]
            elif message["msg_type"] == "execute_reply":
                status = message["content"]["status"]
        return status, out
    except (websocket.WebSocketException, OSError):
        return "gone", ""
    finally:
        ws.close()


def by_hand(project: Path, uv: str, prefix: Path, server: Server, name: str) -> dict[str, Any]:
    """``uv sync`` + ipykernel + a kernelspec, then a stock start: each step timed."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    subprocess.run([uv, "sync", "--quiet"], cwd=project, check=True, env=uv_env())
    steps["uv sync"] = time.perf_counter() - started
    python = str(project / ".venv" / "bin" / "python")
    mark = time.perf_counter()
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, "ipykernel"],
        check=True,
        env=uv_env(),
    )
    steps["uv pip install ipykernel"] = time.perf_counter() - mark
    mark = time.perf_counter()
    subprocess.run(
        [python, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", name],
        check=True,
        capture_output=True,
    )
    steps["ipykernel install"] = time.perf_counter() - mark
    notebook = project.relative_to(server_root(project)).as_posix() + "/notebooks/nb.ipynb"
    start = answered_from(server, notebook, name)
    steps["stock start"] = start["seconds"]
    return {
        "seconds": time.perf_counter() - started,
        "steps": steps,
        "prefix": start["prefix"],
    }


def server_root(project: Path) -> Path:
    return project.parent


def bytecode_starts(
    server: Server, prefix: Path, envs: dict[str, Path], rounds: int
) -> dict[str, list[float]]:
    """kernel_info times of stock kernelspecs pointing at each environment."""
    names = {}
    for label, env in envs.items():
        name = f"bytecode-{label}"
        spec = prefix / "share" / "jupyter" / "kernels" / name
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [
                        str(env / "bin" / "python"),
                        "-m",
                        "ipykernel_launcher",
                        "-f",
                        "{connection_file}",
                    ],
                    "display_name": name,
                    "language": "python",
                }
            )
        )
        names[label] = name
    times: dict[str, list[float]] = {label: [] for label in envs}
    for round_ in range(rounds):
        for label in envs:
            notebook = f"bytecode/{label}-{round_}.ipynb"
            started = server.start_kernel(notebook, names[label])
            times[label].append(started["total"])
            server.end_session(started["session"])
    return times


def run(work: Path, rounds: int) -> dict[str, Any]:
    uv = uv_binary()
    root = work / "root"
    root.mkdir()
    (root / "bytecode").mkdir()
    template = make_template(work, uv)
    prefix = work / "kernels"
    (prefix / "share" / "jupyter" / "kernels").mkdir(parents=True)
    env = {
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
        "PATH": str(Path(uv).parent) + os.pathsep + os.environ.get("PATH", ""),
        "XDG_CACHE_HOME": str(work / "cache"),
        "UV_PYTHON": sys.executable,
    }
    making = PROJECT_KERNELS_CONFIG + (
        "c.ProjectKernels.create_environments = True\n"
        f"c.ProjectKernels.tool_paths = {{'uv': {uv!r}}}\n"
    )
    ours = Server(sys.executable, root, work, making, env)
    stock = Server(sys.executable, root, work, "", env)
    samples: list[dict[str, Any]] = []
    try:
        for round_ in range(rounds):
            project = clone(template, root, f"pk-{round_}")
            first = answered_from(ours, f"pk-{round_}/notebooks/nb.ipynb", "python3")
            first.update(variant="project-kernels", round=round_, expected=str(project / ".venv"))
            samples.append(first)
            print(
                f"  round {round_} project-kernels first open {first['seconds']:.1f} s", flush=True
            )
            hand_project = clone(template, root, f"hand-{round_}")
            hand = by_hand(hand_project, uv, prefix, stock, f"hand-{round_}")
            hand.update(variant="by hand", round=round_)
            samples.append(hand)
            print(f"  round {round_} by hand {hand['seconds']:.1f} s {hand['steps']}", flush=True)
            clone(template, root, f"pplk-{round_}")
            peer = answered_from(
                stock, f"pplk-{round_}/notebooks/nb.ipynb", "pyproject_local_kernel"
            )
            peer.update(variant="pplk-uv", round=round_)
            samples.append(peer)
            print(f"  round {round_} pplk-uv {peer['seconds']:.1f} s", flush=True)
        second = []
        for round_ in range(max(rounds, 3)):
            notebook = f"pk-0/notebooks/second-{round_}.ipynb"
            (root / notebook).write_text((root / "pk-0/notebooks/nb.ipynb").read_text())
            ours.report(reset=True)
            started = ours.start_kernel(notebook, "python3")
            seen = ours.report(reset=True)
            ours.end_session(started["session"])
            spawns = [
                " ".join(
                    Path(s["argv"][0]).name if i == 0 else a for i, a in enumerate(s["argv"][:4])
                )
                for s in seen["spawns"]
            ]
            second.append({"seconds": started["total"], "processes": spawns})
        # An environment made by hand that no kernel ever wrote bytecode into.
        uncompiled = clone(template, root, "hand-uncompiled")
        subprocess.run([uv, "sync", "--quiet"], cwd=uncompiled, check=True, env=uv_env())
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(uncompiled / ".venv" / "bin" / "python"),
                "ipykernel",
            ],
            check=True,
            env=uv_env(),
        )
        quiet = Server(sys.executable, root, work, "", {**env, "PYTHONDONTWRITEBYTECODE": "1"})
        try:
            bytecode = bytecode_starts(
                quiet,
                prefix,
                {
                    "made by hand (uv sync, not compiled)": uncompiled / ".venv",
                    "made by project-kernels": root / "pk-0" / ".venv",
                },
                max(rounds, 3),
            )
        finally:
            quiet.stop()
    finally:
        ours.stop()
        stock.stop()
    return {
        "samples": samples,
        "second_open": second,
        "bytecode": bytecode,
        **summary(samples, second, bytecode),
    }


def summary(
    samples: list[dict[str, Any]], second: list[dict[str, Any]], bytecode: dict[str, list[float]]
) -> dict[str, Any]:
    medians = {
        variant: statistics.median(s["seconds"] for s in samples if s["variant"] == variant)
        for variant in ("project-kernels", "by hand", "pplk-uv")
    }
    return {
        "first_open_median_s": medians,
        "second_open_median_ms": statistics.median(s["seconds"] for s in second) * 1e3,
        "second_open_processes": sorted({p for s in second for p in s["processes"]}),
        "bytecode_median_ms": {k: statistics.median(v) * 1e3 for k, v in bytecode.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pk-bench-first-", dir=args.work) as tmp:
        result = run(Path(tmp), args.rounds)
    result["seconds"] = time.monotonic() - started
    args.out.write_text(json.dumps(result, indent=2))
    print(
        json.dumps(
            {k: v for k, v in result.items() if k.endswith(("_s", "_ms", "processes"))}, indent=1
        )
    )


if __name__ == "__main__":
    main()
