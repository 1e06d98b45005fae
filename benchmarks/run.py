"""Run every benchmark and write ``benchmarks/results/`` (JSON, Markdown, PNG).

    python benchmarks/run.py            # the full run (about 20 minutes on 2 cores)
    python benchmarks/run.py --quick    # a smoke run of three minutes, into benchmarks/.work/

Run it with the Python that has project-kernels installed (``pip install -e .``). It
makes a temporary virtual environment that sees that Python's packages
(``--system-site-packages``, so the very same jupyter_server, jupyter_client and
ipykernel) and installs into it what the benchmarks need besides: the peer,
pyproject-local-kernel, from PyPI, and matplotlib for the plot. Every server and
measurement runs with that environment's interpreter; the temporary files go away.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402
import report  # noqa: E402

NEEDED = ("pyproject-local-kernel", "matplotlib", "requests", "websocket-client", "uv")


def make_venv(work: Path) -> str:
    """A virtual environment over this Python's packages, with the benchmarks' needs."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *NEEDED], check=True)
    where = subprocess.run(
        [
            python,
            "-c",
            "import project_kernels, os; print(os.path.dirname(project_kernels.__file__))",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=work,  # not from the current directory, which may be this repository
    ).stdout.strip()
    if Path(where or "/nonexistent").resolve() != (REPO / "project_kernels").resolve():
        subprocess.run([*pip, "-e", str(REPO)], check=True)
    return python


def run_part(python: str, name: str, args: list[str], work: Path) -> dict[str, Any]:
    """One benchmark script, with the load before and after and how long it took."""
    out = work / f"{name}.json"
    print(f"== {name}", flush=True)
    before, started = machine.load(), time.monotonic()
    subprocess.run(
        [python, str(HERE / f"{name}_bench.py"), str(out), "--work", str(work), *args],
        check=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    result: dict[str, Any] = json.loads(out.read_text())
    result.update(load_before=before, load_after=machine.load(), seconds=time.monotonic() - started)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds and small trees")
    parser.add_argument("--only", default="discovery,start,listing,first_open")
    parser.add_argument("--cold", type=int, default=12, help="cold rounds (at least 10)")
    parser.add_argument("--warm", type=int, default=30, help="warm rounds (at least 30)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results")
    parser.add_argument("--variants", default="", help="start benchmark variants (default: all)")
    args = parser.parse_args()
    # A smoke run never overwrites the published results (benchmarks/.work is ignored by git).
    args.out = args.out or (HERE / ".work" / "quick-results" if args.quick else HERE / "results")
    started = time.monotonic()
    wanted = args.only.split(",")
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    with tempfile.TemporaryDirectory(prefix="pk-bench-") as tmp:
        work = Path(tmp)
        python = make_venv(work)
        description = machine.describe(work, python, REPO)
        parts: dict[str, Any] = {}
        if "discovery" in wanted:
            parts["discovery"] = run_part(python, "discovery", [], work)
        if "start" in wanted:
            rounds = (
                ["--cold", "2", "--warm", "3"]
                if args.quick
                else ["--cold", str(args.cold), "--warm", str(args.warm)]
            )
            variants = ["--variants", args.variants] if args.variants else []
            parts["start"] = run_part(python, "start", rounds + variants, work)
        if "listing" in wanted:
            sizes = ["--sizes", "10:100,1000:100"] if args.quick else []
            parts["listing"] = run_part(python, "listing", sizes, work)
        if "first_open" in wanted:
            rounds = ["--rounds", "1" if args.quick else "3"]
            parts["first_open"] = run_part(python, "first_open", rounds, work)
        results = {
            "command": command,
            "machine": description,
            "parts": parts,
            "targets": report.targets(parts),
            "seconds": time.monotonic() - started,
        }
        results["machine"]["load_at_end"] = machine.load()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        # The report and the plot are written by the environment that has matplotlib.
        subprocess.run(
            [python, str(HERE / "report.py"), str(args.out / "results.json")], check=True
        )
    print(f"\nwrote {args.out}/results.json and results.md")
    for name, target in results["targets"].items():
        print(f"  {name}: {target['verdict']}")


if __name__ == "__main__":
    main()
