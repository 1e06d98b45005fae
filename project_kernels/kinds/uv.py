"""uv: a project with ``uv.lock``, or a ``pyproject.toml`` with a ``[tool.uv]`` table.

uv keeps a project's environment in ``.venv`` next to ``pyproject.toml`` (found
first, as every ``.venv`` is), or where ``UV_PROJECT_ENVIRONMENT`` says (relative
to the project). When it is not there, the project declares an environment that
``uv sync`` makes from ``uv.lock``: the walk stops here, so the notebook is told so
instead of silently getting the server's Python.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Kind, NotAnEnvironment, inspect_venv
from .base import Context, Level, declared, project_files, table, tool_environment

#: The files ``uv sync`` reads in a project (besides the sources it builds).
PROJECT_FILES = ("pyproject.toml", "uv.lock", "uv.toml", ".python-version")


def declaration(level: Level) -> str | None:
    """What declares a uv project here, for a person; None when nothing does."""
    if level.has_file("uv.lock"):
        return "uv.lock"
    if table(level.pyproject(), "tool", "uv"):
        return "[tool.uv] in pyproject.toml"
    return None


def project_environment(directory: Path, context: Context) -> Path:
    """Where ``uv sync`` puts the project's environment."""
    chosen = context.path_variable("UV_PROJECT_ENVIRONMENT")
    if chosen is None:
        return directory / ".venv"
    return chosen if chosen.is_absolute() else directory / chosen


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The uv project environment of this directory, or its declaration when not made."""
    why = declaration(level)
    if why is None or not level.has_file("pyproject.toml"):
        return
    root = project_environment(level.directory, context)
    if os.path.isdir(root):
        try:
            environment = inspect_venv(root)
        except NotAnEnvironment:
            pass  # a leftover directory: `uv sync` replaces it
        else:
            reason = f"environment of the uv project {level.directory} ({why})"
            kind = environment.kind
            yield Candidate(root, environment=tool_environment(environment, kind, reason, {}))
            return
    yield declared(
        root,
        Declaration(
            kind=Kind.UV,
            project=level.directory,
            declared_by=why,
            command=("uv", "sync"),
            environment=root,
            creates=(str(root),),
            files=project_files(level, *PROJECT_FILES),
        ),
    )
