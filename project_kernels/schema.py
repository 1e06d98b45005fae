"""The JSON that scripts and the front end read: ``--json`` output and the REST answers.

One layout for every reader. ``"schema"`` carries :data:`JSON_SCHEMA`, which
changes only when a field changes meaning or goes away; new fields may appear.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .decision import LaunchPlan
from .declarations import Declaration
from .discovery import Candidate, is_within
from .environments import Environment, Problem
from .making.recipes import Recipe
from .report import PROBLEM_LABELS

if TYPE_CHECKING:
    from .choices import Choice
    from .slurm.job import SlurmKernel

__all__ = [
    "JSON_SCHEMA",
    "candidate_json",
    "choice_json",
    "declaration_json",
    "environment_json",
    "fix_command",
    "making_json",
    "plan_json",
    "problem_json",
    "slurm_job_json",
    "with_schema",
]

#: The version of the JSON layout.
JSON_SCHEMA = 1


def with_schema(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with the schema version first."""
    return {"schema": JSON_SCHEMA, **payload}


def environment_json(environment: Environment | None) -> dict[str, Any] | None:
    """An environment: where, what kind, which versions, and what stops it from running."""
    if environment is None:
        return None
    return {
        "path": str(environment.root),
        "kind": environment.kind.value,
        "interpreter": str(environment.interpreter),
        "python_version": str(environment.python_version) if environment.python_version else None,
        "ipykernel_version": (
            str(environment.ipykernel_version) if environment.ipykernel_version else None
        ),
        "system_site_packages": environment.system_site_packages,
        "modules": list(environment.modules),
        "usable": environment.usable,
        "reason": environment.reason,
        "notes": list(environment.notes),
        "problems": [problem_json(p) for p in environment.problems],
    }


def declaration_json(declared: Declaration | None) -> dict[str, Any] | None:
    """An environment a project declares but nobody has made: which, where, how to make it."""
    if declared is None:
        return None
    return {
        "kind": declared.kind.value,
        "project": str(declared.project),
        "declared_by": declared.declared_by,
        "environment": str(declared.environment) if declared.environment else None,
        "command": list(declared.command),
        "shown_command": declared.shown_command(),
        "summary": declared.summary(),
        "fix": declared.fix(),
    }


def making_json(recipe: Recipe | None) -> dict[str, Any] | None:
    """What is being made, and the commands that make it (as a person would type them)."""
    if recipe is None:
        return None
    return {
        "what": recipe.what,
        "target": str(recipe.target) if recipe.target else None,
        "commands": [step.shown for step in recipe.steps],
        "timeout": recipe.timeout,
        "log": str(recipe.log),
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    """One problem: its code, what is wrong, the fix, its few-word label and the fix's command."""
    return {
        "code": problem.code.value,
        "summary": problem.summary,
        "fix": problem.fix,
        "label": PROBLEM_LABELS[problem.code],
        "command": fix_command(problem.fix),
    }


_QUOTED = re.compile(r"`([^`]+)`")


def fix_command(fix: str) -> str | None:
    """The shell command a fix says to run, for a copy button; None when it names none.

    Fixes quote their command in backticks, or end with it after a colon
    (``Install it: /p/.venv/bin/python -m pip install ipykernel``).
    """
    quoted = _QUOTED.search(fix)
    if quoted:
        return quoted.group(1)
    _, colon, rest = fix.partition(": ")
    if not colon:
        return None
    return rest.strip() or None


def choice_json(choice: Choice | None, root: Path | None = None) -> dict[str, Any] | None:
    """Who named the environment: ``level`` (``project`` or ``notebook``), the ``file`` and
    its ``line``, the ``key`` and ``value`` as written; ``relative`` is the file below
    ``root`` (the server's); ``error`` why it names nothing that can be followed."""
    if choice is None:
        return None
    return {
        "level": choice.level.value,
        "file": str(choice.file),
        "relative": _below(choice.file, root),
        "line": choice.line,
        "key": choice.key or None,
        "value": choice.value or None,
        "error": choice.error or None,
    }


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """One candidate of a walk or a listing."""
    return {
        "path": str(candidate.path),
        "environment": environment_json(candidate.environment),
        "skipped": candidate.skipped,
        "declared": declaration_json(candidate.declared),
        "level": str(candidate.level) if candidate.level else None,
        "chosen_by": choice_json(candidate.chosen_by),
    }


def plan_json(plan: LaunchPlan | None, root: Path | None = None) -> dict[str, Any]:
    """What a launch plan says, flat, for the status bar and ``which``.

    ``plan`` None is a kernel project-kernels passed through untouched (not ipykernel).
    ``relative`` is the environment's path below ``root`` (the server's), when it is there.
    ``declared`` is the environment the project declares but nobody made (mode ``notice``,
    or ``fallback``/``error`` per ``on_missing``, or ``making`` while it is made): then
    ``relative`` and ``kind`` are those of the environment it declares, and
    ``environment`` stays null (nothing runs from it yet); ``making`` what is being made
    (mode ``making``). ``chosen_by`` is the file (and line) of the project or notebook
    that named the environment (:func:`choice_json`), null when discovery found it.
    """
    if plan is None:
        return {
            "mode": "passthrough",
            "environment": None,
            "relative": None,
            "kind": None,
            "python_version": None,
            "reason": "not a Python (ipykernel) kernel: launched as it is",
            "problems": [],
            "message": "",
            "declared": None,
            "making": None,
            "slurm": None,
            "chosen_by": None,
        }
    environment = plan.environment
    walk = plan.walk
    extra = {
        "declared": declaration_json(plan.declared),
        "making": making_json(plan.making),
        "chosen_by": choice_json(walk.chosen_by if walk is not None else None, root),
    }
    if environment is None:
        where = (
            f"no project environment between {walk.start} and {walk.boundary}"
            if walk is not None
            else "nothing said where the notebook is"
        )
        declared = plan.declared
        shown: dict[str, Any] = {}
        if declared is not None:
            where = declared.summary()
            target = declared.environment
            shown = {"kind": declared.kind.value, "relative": _below(target, root)}
        return {
            **plan_json(None),
            "mode": plan.mode.value,
            "reason": where,
            "message": plan.message,
            **shown,
            **extra,
        }
    relative = _below(environment.root, root)
    details = environment_json(environment)
    assert details is not None
    return {
        "mode": plan.mode.value,
        "environment": details["path"],
        "relative": relative,
        "kind": details["kind"],
        "python_version": details["python_version"],
        "reason": details["reason"],
        "problems": details["problems"],
        "message": plan.message,
        "details": details,
        "slurm": plan.slurm.as_json() if plan.slurm is not None else None,
        **extra,
    }


def slurm_job_json(kernel: SlurmKernel | None, root: Path | None = None) -> dict[str, Any] | None:
    """A kernel's Slurm job as it is now: ``state`` and, while queued, ``reason`` and ``text``.

    For the status bar (``"slurm"`` of a kernel's answer) and ``/api/slurm/jobs``.
    ``path`` is the notebook's path below ``root`` (the server's), as the front end knows it.
    """
    if kernel is None:
        return None
    status = kernel.status
    path = None
    if kernel.notebook and root is not None and is_within(Path(kernel.notebook), root):
        path = Path(kernel.notebook).relative_to(root).as_posix()
    return {
        "kernel_id": kernel.kernel_id,
        "job_id": kernel.job_id,
        "state": status.state if status else None,
        "reason": status.reason if status else None,
        "text": kernel.queued_text(),
        "partition": status.partition if status else kernel.options.partition or None,
        "node": (status.node or None) if status else None,
        "environment": kernel.environment,
        "notebook": kernel.notebook or None,
        "path": path,
        "options": kernel.options.summary(),
        "waited": round(kernel.waited(), 1),
    }


def _below(path: Path | None, root: Path | None) -> str | None:
    """``path`` relative to ``root``, when it is there."""
    if path is None or root is None or not is_within(path, root):
        return None
    return path.relative_to(root).as_posix()
