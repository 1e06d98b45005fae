"""What ``project-kernels which`` and ``doctor`` say about a launch that runs as a Slurm job.

The settings that apply (the environment's ``[slurm]`` table over the deployment's
``c.ProjectKernels.slurm``), and whether ``sbatch``, ``srun``, ``squeue`` and ``scancel``
are on the server's ``PATH``: looked up, never run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from ..report import sanitize
from .options import SlurmOptions

__all__ = ["COMMANDS", "commands_found", "missing_commands", "slurm_json", "slurm_lines"]

#: The commands a Slurm kernel needs: the server submits, queries and cancels; the job sruns.
COMMANDS = ("sbatch", "srun", "squeue", "scancel")


def commands_found(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each Slurm command's path on ``PATH`` (None when it is not there)."""
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    return {name: shutil.which(name, path=path) for name in COMMANDS}


def missing_commands(found: Mapping[str, str | None]) -> list[str]:
    return [name for name, where in found.items() if where is None]


def slurm_json(options: SlurmOptions | None, found: Mapping[str, str | None]) -> dict[str, Any]:
    """The options as JSON (``null`` values where unset) and where the commands are."""
    if options is None:
        return {"enabled": False}
    return {"enabled": True, **options.as_json(), "commands": dict(found)}


def slurm_lines(options: SlurmOptions | None, found: Mapping[str, str | None]) -> list[str]:
    """Lines for a person: how the job is asked for, and any command that is missing."""
    if options is None:
        return []
    lines = [
        f"Runs as a Slurm job: {sanitize(options.summary())}; waits at most "
        f"{options.waits:g} seconds in the queue.",
        f"Job files: {sanitize(str(options.job_root()))}/<kernel id> (must be shared with "
        "the compute nodes)",
    ]
    missing = missing_commands(found)
    if missing:
        lines.append(
            f"Problem: {', '.join(missing)} not found on PATH: the kernel cannot be submitted "
            "from here."
        )
        lines.append(
            "Fix: start the server where Slurm's commands are installed (a login node), or "
            "add their directory to its PATH."
        )
    else:
        lines.append(f"Slurm commands: {sanitize(', '.join(str(p) for p in found.values()))}")
    return lines
