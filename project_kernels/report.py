"""The texts a person reads about an environment: in the notebook, the HTTP error, the CLI."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from .environments import Environment, ProblemCode

if TYPE_CHECKING:
    from .choices import Choice
    from .declarations import Declaration

__all__ = [
    "LABEL_SEPARATOR",
    "PROBLEM_LABELS",
    "declared_report",
    "describe",
    "environment_label",
    "sanitize",
    "show",
    "unusable_report",
]

#: Unicode categories shown as ``?``: controls (escape sequences, newlines), format
#: characters (bidirectional overrides, zero-width), surrogates (undecodable bytes of a
#: file name), private use, and line/paragraph separators.
_UNSHOWN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_MARKUP = str.maketrans({"<": "‹", ">": "›", "&": "＆"})
#: What JupyterLab's output renderer turns into a link: ``scheme://``, ``data:``, ``www.``.
_LINK = re.compile(r"://|data:|www\.", re.IGNORECASE)


#: How a label says what stops an environment, in a few words.
PROBLEM_LABELS: dict[ProblemCode, str] = {
    ProblemCode.UNREADABLE: "unreadable",
    ProblemCode.BAD_CONFIG: "broken",
    ProblemCode.BASE_MISSING: "its Python is gone",
    ProblemCode.NOT_EXECUTABLE: "Python not runnable",
    ProblemCode.FOREIGN_BINARY: "made for another machine",
    ProblemCode.PYTHON_TOO_OLD: "Python too old",
    ProblemCode.NO_IPYKERNEL: "needs ipykernel",
    ProblemCode.IPYKERNEL_TOO_OLD: "ipykernel too old",
    ProblemCode.UNTRUSTED: "not trusted",
    ProblemCode.MODULES: "modules fail to load",
    ProblemCode.SLURM: "Slurm settings wrong",
    ProblemCode.STARTUP_FAILED: "fails to start",
    ProblemCode.CHOSEN_MISSING: "not found",
    ProblemCode.CHOSEN_INVALID: "invalid choice",
}

#: A project or notebook named what is not there: no kind or versions to describe.
_CHOICE_PROBLEMS = frozenset({ProblemCode.CHOSEN_MISSING, ProblemCode.CHOSEN_INVALID})

#: Between the parts of a label.
LABEL_SEPARATOR = " · "


def environment_label(
    where: str, python_version: object | None, problem: ProblemCode | None = None
) -> str:
    """``analysis/.venv · Python 3.12``, ``old/.venv · Python 3.11 · needs ipykernel``.

    One wording for an environment wherever a person meets it: the kernel picker's
    names here, the status bar's (``src/label.ts``, checked against the same cases).
    """
    major_minor = ".".join(str(python_version or "").split(".")[:2])
    parts = [where, f"Python {major_minor}" if major_minor else "Python"]
    if problem is not None:
        parts.append(PROBLEM_LABELS[problem])
    return LABEL_SEPARATOR.join(parts)


def sanitize(text: str) -> str:
    """A path or name made safe to show: no control characters, no markup, no links.

    Paths come from directory names anyone could choose, and JupyterLab renders
    the texts built from them: control and invisible characters become ``?``,
    HTML markup becomes look-alikes, and what JupyterLab would turn into a link
    is bracketed (``www[.]x``, ``https[:]//x``; as shell globs these still match
    the real path). Put a real link after the sanitised text, never through it.
    """
    shown = "".join("?" if unicodedata.category(c) in _UNSHOWN else c for c in text)
    return _LINK.sub(_defang, shown.translate(_MARKUP))


def _defang(match: re.Match[str]) -> str:
    text = match.group(0)
    return text.replace(":", "[:]", 1) if ":" in text else text[:-1] + "[.]"


def show(path: object) -> str:
    """A path (or anything printed like one) made safe to show; see :func:`sanitize`."""
    return sanitize(str(path))


def describe(environment: Environment) -> str:
    """``/p/.venv (uv, Python 3.12.1, ipykernel 7.4.0)``."""
    details = [environment.kind.value]
    if environment.python_version is not None:
        details.append(f"Python {environment.python_version}")
    if environment.ipykernel_version is not None:
        details.append(f"ipykernel {environment.ipykernel_version}")
    return f"{sanitize(str(environment.root))} ({', '.join(details)})"


def unusable_report(
    environment: Environment,
    start: Path | None,
    not_made: str = "",
    *,
    chosen_by: Choice | None = None,
) -> str:
    """What is wrong with ``environment`` and how to fix it, in plain sentences.

    ``not_made`` says why the fix was not carried out automatically (``create_environments``);
    ``chosen_by`` is the file that named the environment, when a project or notebook did.
    """
    lines = ["The project environment for this notebook cannot run a kernel.", ""]
    if chosen_by is None:
        lines.append(f"Environment: {describe(environment)}")
    elif chosen_by.error:
        # It names nothing that can be followed: the file is what to look at.
        lines.append(f"Named by: {chosen_by.where()}")
    else:
        named = any(p.code in _CHOICE_PROBLEMS for p in environment.problems)
        shown = sanitize(str(environment.root)) if named else describe(environment)
        lines.append(f"Environment: {shown}")
        lines.append(f"Named by: {chosen_by.where()} ({chosen_by.setting()})")
    for problem in environment.problems:
        lines += [f"Problem: {sanitize(problem.summary)}", f"Fix: {sanitize(problem.fix)}"]
    if not_made:
        lines += ["", f"Not done automatically: {not_made}"]
    lines += [
        "",
        "Run the fix in a terminal, or in a cell here with a leading '!', then restart the kernel.",
    ]
    if start is not None:
        lines.append(f"Details: project-kernels doctor {sanitize(str(start))}")
    return "\n".join(lines)


def declared_report(
    declared: Declaration, start: Path | None, not_made: str = "", *, runs_code: bool
) -> str:
    """Which environment the project declares, that it is missing, and the command that
    makes it; ``runs_code``: the notebook runs in the server's Python meanwhile."""
    lines = [
        "The environment this notebook's project declares has not been made.",
        "",
        f"Problem: {declared.summary()}",
        f"Fix: {declared.fix()}",
    ]
    if not_made:
        lines += ["", f"Not made automatically: {not_made}"]
    lines += [
        "",
        "Run the fix in a terminal (or `project-kernels fix` there), or in a cell here with a "
        "leading '!', then restart the kernel.",
    ]
    if runs_code:
        lines.append(
            "Until then this notebook runs in the Jupyter server's own Python, where the "
            "project's packages may be missing."
        )
    else:
        lines.append("Until then only '!' shell commands run here.")
    if start is not None:
        lines.append(f"Details: project-kernels doctor {sanitize(str(start))}")
    return "\n".join(lines)
