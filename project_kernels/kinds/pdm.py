"""pdm: the interpreter a project's ``.pdm-python`` names, else pdm's central environment.

pdm saves the interpreter it uses in ``.pdm-python`` (``pdm use``, ``pdm install``);
the environment is the venv that interpreter belongs to. Without that file, a
project pdm manages (``[tool.pdm]`` or ``pdm.lock``) is looked for where
``pdm venv create`` puts central environments: ``{venv.location}/{dir}-{hash}-{X.Y}``,
with ``{dir}`` the project directory's name and ``{hash}`` the first 8
characters of the URL-safe base64 of the MD5 of its real path; ``venv.location``
from pdm's ``config.toml`` (``PDM_CONFIG_FILE``, else ``~/.config/pdm``), else
``~/.local/share/pdm/venvs``. (An in-project ``.venv`` is found before this.)

``pdm run`` sets ``VIRTUAL_ENV`` and ``PDM_PROJECT_ROOT`` and puts the
environment's ``bin`` first on ``PATH``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Kind
from .base import (
    Context,
    Level,
    declared,
    project_files,
    read_toml,
    string,
    table,
    venv_candidate,
    versioned_entries,
)


def env_prefix(project_dir: Path) -> str:
    """``{dir}-{hash}-``, how the names of the project's central environments start."""
    real = Path(os.path.realpath(project_dir))
    digest = hashlib.md5(real.as_posix().encode(), usedforsecurity=False).digest()
    return f"{real.name}-{base64.urlsafe_b64encode(digest).decode()[:8]}-"


def venv_location(context: Context) -> Path:
    """pdm's ``venv.location``."""
    config = context.path_variable("PDM_CONFIG_FILE") or (
        context.user_config_dir / "pdm" / "config.toml"
    )
    location = string(table(read_toml(config), "venv"), "location")
    return context.expand(location) if location else context.user_data_dir / "pdm" / "venvs"


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The environment pdm uses for the project in this directory."""
    variables = {"PDM_PROJECT_ROOT": str(level.directory)}
    if level.has_file(".pdm-python"):
        saved = level.directory / ".pdm-python"
        try:
            interpreter = Path(saved.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            return
        if not interpreter.is_absolute():
            interpreter = level.directory / interpreter
        root = interpreter.parent.parent
        if not os.path.lexists(interpreter) and not os.path.exists(root):
            # Recorded by `pdm use` on another machine, or the environment was removed.
            yield _declared(level, context, f"{saved.name} naming {interpreter}", root)
            return
        if not os.path.isfile(root / "pyvenv.cfg"):
            yield Candidate(
                root,
                skipped=(
                    f"{saved} names {interpreter}, which is not in a virtual environment "
                    "(pdm's __pypackages__ mode is not supported); run `pdm use` to pick one"
                ),
            )
            return
        reason = f"environment of the interpreter {saved} names ({interpreter})"
        yield venv_candidate(root, Kind.PDM, reason, variables)
        return
    pyproject = level.pyproject()
    if not (table(pyproject, "tool", "pdm") or (pyproject and level.has_file("pdm.lock"))):
        return
    location = venv_location(context)
    central = _newest(location, env_prefix(level.directory))
    if central is None:
        why = "pdm.lock" if level.has_file("pdm.lock") else "[tool.pdm] in pyproject.toml"
        yield _declared(level, context, why, None)
        return
    reason = f"central environment pdm made for {level.directory}: {central.name} in {location}"
    yield venv_candidate(central, Kind.PDM, reason, variables)


def in_project(directory: Path, context: Context) -> bool:
    """pdm's ``venv.in_project`` (default true): ``pdm install`` makes the project's ``.venv``."""
    config = context.path_variable("PDM_CONFIG_FILE") or (
        context.user_config_dir / "pdm" / "config.toml"
    )
    for source in (read_toml(directory / "pdm.toml"), read_toml(config)):
        value = table(source, "venv").get("in_project")
        if isinstance(value, bool):
            return value
    return True


def _declared(level: Level, context: Context, why: str, root: Path | None) -> Candidate:
    """The environment ``pdm install`` would make: ``root`` if named, else in the project's
    ``.venv`` or among pdm's central environments."""
    if root is None and in_project(level.directory, context):
        root = level.directory / ".venv"
    central = venv_location(context) / f"{env_prefix(level.directory)}X.Y"
    creates = (str(root),) if root is not None else (str(central).replace("X.Y", "*"),)
    return declared(
        root or central,
        Declaration(
            kind=Kind.PDM,
            project=level.directory,
            declared_by=why,
            command=("pdm", "install"),
            environment=root,
            creates=(*creates, str(level.directory / ".pdm-python")),
            files=project_files(level, "pyproject.toml", "pdm.lock", "pdm.toml", ".pdm-python"),
        ),
    )


def _newest(location: Path, prefix: str) -> Path | None:
    found = versioned_entries(location, prefix)
    return location / found[-1][1] if found else None
