"""Environments a project declares that its tool has not made yet.

A cloned project carries the files a tool reads (``uv.lock``, ``pixi.toml``,
``Pipfile``, ``environment.yml``, ...) but not the environment the tool makes
from them. Such a project is neither "no environment" (stock would silently run
the server's Python, and every ``import`` of the project's packages would fail)
nor an unusable environment: it is a *declaration*. The walk stops at it, and
the decision either explains it (which tool, which directory, which command) or,
with ``create_environments``, plans to make it.

Found from files alone, like every environment; see :mod:`project_kernels.kinds`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from .environments import Kind
from .report import sanitize

__all__ = ["Declaration"]


@dataclass(frozen=True)
class Declaration:
    """A project's environment that a tool would make, with the command that makes it."""

    kind: Kind
    #: The directory the tool runs in (the project's).
    project: Path
    #: What declares it, for a person: ``uv.lock``, ``[tool.uv] in pyproject.toml``.
    declared_by: str
    #: The tool's command that makes the environment, run in ``project``; ``command[0]``
    #: is the tool's name, looked up where the server runs.
    command: tuple[str, ...]
    #: Where the environment will be, when that is known before it is made (poetry and
    #: pdm's central environments carry the Python's version in their names).
    environment: Path | None = None
    #: Glob patterns of what the command may create; what a failed build created is removed.
    creates: tuple[str, ...] = ()
    #: The project's files the tool reads and acts on: building runs what they say, so the
    #: trust policy judges them (and the project directory) before anything is built.
    files: tuple[Path, ...] = ()

    @property
    def tool(self) -> str:
        """The tool's name (``uv``, ``pixi``, ``poetry``, ...)."""
        return self.command[0]

    def shown_command(self) -> str:
        """The command as a person runs it, in a terminal or a ``!`` cell: ``cd /proj; uv sync``."""
        return f"cd {shlex.quote(str(self.project))}; {shlex.join(self.command)}"

    def where(self) -> str:
        """Where the environment will be, said for a person."""
        if self.environment is not None:
            return str(self.environment)
        return f"the place {self.tool} keeps it"

    def summary(self) -> str:
        """One sentence: which environment is missing and what declares it."""
        return (
            f"{sanitize(str(self.project))} declares a {self.kind.value} environment "
            f"({sanitize(self.declared_by)}), but it has not been made yet "
            f"({sanitize(self.where())} does not exist)."
        )

    def fix(self) -> str:
        """The command that makes it, as the ``Fix:`` line says it."""
        return f"Make it: {sanitize(self.shown_command())}"
