"""pipenv: the environment of a project with a ``Pipfile``, where pipenv keeps it.

The rule, as pipenv applies it (``VenvLocator.get_location``): an in-project
``.venv`` directory is found before this (it is a ``.venv``); a ``.venv`` *file*
holds the environment's name (in ``WORKON_HOME``) or a path (relative to the
project); otherwise ``$WORKON_HOME/{name}-{hash}``, with ``WORKON_HOME``
defaulting to ``$XDG_DATA_HOME/virtualenvs`` (``~/.local/share/virtualenvs``).
``{name}`` is the project directory's name with ``' &$`!*@"()[]\\'`` and white
space replaced by ``_``, cut to 42 characters; ``{hash}`` is the URL-safe base64
of the first 6 bytes of the SHA-256 of the Pipfile's real path.
``PIPENV_CUSTOM_VENV_NAME`` replaces the whole name; ``PIPENV_PYTHON`` adds ``-{python}``.

``pipenv run`` sets ``VIRTUAL_ENV``, ``PIPENV_ACTIVE=1`` and
``PIPENV_PROJECT_DIR``, and puts the environment's ``bin`` first on ``PATH``.
(It also loads the project's ``.env`` file; kernels do not: see the README.)
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Kind
from .base import Context, Level, declared, project_files, venv_candidate


def env_name(project_dir: Path, context: Context) -> str:
    """The name of the directory pipenv makes in ``WORKON_HOME`` for ``project_dir``."""
    custom = context.environ.get("PIPENV_CUSTOM_VENV_NAME", "")
    if custom:
        return custom
    # pipenv finds the Pipfile from its working directory, which the system keeps as a
    # real path: the name and hash are those of the real path.
    real = Path(os.path.realpath(project_dir))
    pipfile = str(real / "Pipfile")
    sanitized = re.sub(r'[ &$`!*@"()\[\]\\\r\n\t]', "_", real.name)[:42]
    digest = hashlib.sha256(pipfile.encode()).digest()[:6]
    name = f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"
    python = context.environ.get("PIPENV_PYTHON", "")
    if python:
        name += f"-{Path(python).name}" if os.path.isabs(python) else f"-{python}"
    return name


def workon_home(context: Context) -> Path:
    """``WORKON_HOME``, else ``$XDG_DATA_HOME/virtualenvs``."""
    return context.path_variable("WORKON_HOME") or context.user_data_dir / "virtualenvs"


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The environment pipenv uses for the ``Pipfile`` in this directory."""
    if not level.has_file("Pipfile"):
        return
    pipfile = level.directory / "Pipfile"
    dot_venv = level.directory / ".venv"
    how = ""
    if os.path.isfile(dot_venv):
        try:
            named = dot_venv.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            named = ""
        if named and "/" in named:
            root = Path(os.path.abspath(level.directory / named))
            how = f"the path in {dot_venv}"
        elif named:
            root = workon_home(context) / named
            how = f"the name in {dot_venv}"
    if not how:
        root = workon_home(context) / env_name(level.directory, context)
        how = "pipenv's name for the project"
    if not os.path.isdir(root):
        yield declared(
            root,
            Declaration(
                kind=Kind.PIPENV,
                project=level.directory,
                declared_by="Pipfile.lock" if level.has_file("Pipfile.lock") else "Pipfile",
                command=("pipenv", "install"),
                environment=root,
                creates=(str(root),),
                files=project_files(level, "Pipfile", "Pipfile.lock", ".env"),
            ),
        )
        return
    reason = f"environment pipenv uses for {pipfile}: {root} ({how})"
    variables = {"PIPENV_ACTIVE": "1", "PIPENV_PROJECT_DIR": str(level.directory)}
    yield venv_candidate(root, Kind.PIPENV, reason, variables)
