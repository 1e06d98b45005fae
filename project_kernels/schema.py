"""The JSON that scripts and the front end read: ``--json`` output and the REST answers.

One layout for every reader. ``"schema"`` carries :data:`JSON_SCHEMA`, which
changes only when a field changes meaning or goes away; new fields may appear.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .decision import LaunchPlan
from .discovery import Candidate, is_within
from .environments import Environment, Problem
from .report import PROBLEM_LABELS

__all__ = [
    "JSON_SCHEMA",
    "candidate_json",
    "environment_json",
    "fix_command",
    "plan_json",
    "problem_json",
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


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """One candidate of a walk or a listing."""
    return {
        "path": str(candidate.path),
        "environment": environment_json(candidate.environment),
        "skipped": candidate.skipped,
    }


def plan_json(plan: LaunchPlan | None, root: Path | None = None) -> dict[str, Any]:
    """What a launch plan says, flat, for the status bar and ``which``.

    ``plan`` None is a kernel project-kernels passed through untouched (not ipykernel).
    ``relative`` is the environment's path below ``root`` (the server's), when it is there.
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
        }
    environment = plan.environment
    walk = plan.walk
    if environment is None:
        where = (
            f"no project environment between {walk.start} and {walk.boundary}"
            if walk is not None
            else "nothing said where the notebook is"
        )
        return {**plan_json(None), "mode": plan.mode.value, "reason": where}
    relative = None
    if root is not None and is_within(environment.root, root):
        relative = environment.root.relative_to(root).as_posix()
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
    }
