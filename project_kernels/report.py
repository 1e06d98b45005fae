"""The texts a person reads about an environment: in the notebook, the HTTP error, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

from .environments import Environment

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKUP = str.maketrans({"<": "‹", ">": "›", "&": "＆"})


def sanitize(text: str) -> str:
    """A path or name made safe to show: no control characters, no HTML markup.

    Paths come from directory names anyone could choose; JupyterLab renders
    some of the texts built from them, so markup is replaced by look-alikes.
    """
    return _CONTROL.sub("?", text).translate(_MARKUP)


def describe(environment: Environment) -> str:
    """``/p/.venv (uv, Python 3.12.1, ipykernel 7.4.0)``."""
    details = [environment.kind.value]
    if environment.python_version is not None:
        details.append(f"Python {environment.python_version}")
    if environment.ipykernel_version is not None:
        details.append(f"ipykernel {environment.ipykernel_version}")
    return f"{sanitize(str(environment.root))} ({', '.join(details)})"


def unusable_report(environment: Environment, start: Path | None) -> str:
    """What is wrong with ``environment`` and how to fix it, in plain sentences."""
    lines = [
        "The project environment for this notebook cannot run a kernel.",
        "",
        f"Environment: {describe(environment)}",
    ]
    for problem in environment.problems:
        lines += [f"Problem: {sanitize(problem.summary)}", f"Fix: {sanitize(problem.fix)}"]
    lines += [
        "",
        "Run the fix in a terminal, or in a cell here with a leading '!', then restart the kernel.",
    ]
    if start is not None:
        lines.append(f"Details: project-kernels doctor {sanitize(str(start))}")
    return "\n".join(lines)
