"""What the benchmarks ran on: CPU, cores, memory, kernel, file system, versions, load."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "project-kernels",
    "jupyter_server",
    "jupyter_client",
    "ipykernel",
    "tornado",
    "pyproject-local-kernel",
    "uv",
)


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    real = os.path.realpath(path)
    for line in mounts:
        fields = line.split()
        if len(fields) < 3 or len(fields[1]) <= len(best):
            continue
        if real == fields[1] or real.startswith(fields[1].rstrip("/") + "/"):
            best, kind = fields[1], fields[2]
    return kind


def load() -> dict[str, float]:
    """The 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return {"1min": one, "5min": five, "15min": fifteen}


def versions(python: str = sys.executable) -> dict[str, str]:
    """Versions of the packages measured, as seen by ``python``."""
    if python == sys.executable:
        found = {}
        for name in PACKAGES:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                found[name] = "not installed"
        return found
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        f"for n in {PACKAGES!r}:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    import json

    return dict(json.loads(subprocess.check_output([python, "-c", code], text=True)))


def git_commit(repo: Path) -> str:
    try:
        head = subprocess.check_output(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], text=True
        ).strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "diff", "--quiet", "HEAD", "--", "project_kernels"],
            check=False,
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+local changes" if dirty else "")


def describe(work: Path, python: str, repo: Path) -> dict[str, Any]:
    """Everything about the machine and the software, with the date."""
    memory_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory_kb) / 1024 / 1024, 1) if memory_kb.isdigit() else None,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "file_system": file_system(work),
        "work_directory": str(work),
        "versions": versions(python),
        "commit": git_commit(repo),
        "load_at_start": load(),
    }
