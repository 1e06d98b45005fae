"""poetry's central environments: ``{virtualenvs.path}/{name}-{hash}-py{X.Y}``.

The rule, as poetry 2 applies it (``EnvManager.generate_env_name``): the
project's name (``[project] name``, else ``[tool.poetry] name``, else
``non-package-mode``), normalized as packaging does and lower-cased, with
``' $`!*@"\\'`` and white space replaced by ``_``, cut to 42 characters; then
the first 8 characters of the URL-safe base64 of the SHA-256 of the project
directory's real path; then ``-py`` and the Python's ``X.Y``. Which ``X.Y``:
the one poetry recorded for the project in ``{virtualenvs.path}/envs.toml``
(``poetry env use``), else the newest of the project's environments there.

``virtualenvs.path`` is read as poetry reads it: ``POETRY_VIRTUALENVS_PATH``,
else the project's ``poetry.toml``, else poetry's ``config.toml``
(``POETRY_CONFIG_DIR``, else ``~/.config/pypoetry``), else
``{cache-dir}/virtualenvs`` with ``cache-dir`` from ``POETRY_CACHE_DIR``, the same
files, else ``~/.cache/pypoetry``. An in-project ``.venv`` is found before this
(it is a ``.venv``); ``virtualenvs.in-project = true`` or ``virtualenvs.create =
false`` mean poetry uses no central environment.

``poetry run`` sets ``VIRTUAL_ENV`` and puts the environment's ``bin`` first on
``PATH``, as activation does for every venv.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Kind
from .base import (
    Context,
    Level,
    Table,
    declared,
    project_files,
    read_toml,
    string,
    table,
    venv_candidate,
    versioned_entries,
)


def env_name_base(name: str, project_dir: Path) -> str:
    """``{name}-{hash}``, the part of the environment's name before ``-pyX.Y``."""
    sanitized = re.sub(r'[ $`!*@"\\\r\n\t]', "_", canonicalize_name(name).lower())[:42]
    real = os.path.normcase(os.path.realpath(project_dir))
    digest = hashlib.sha256(real.encode()).digest()
    return f"{sanitized}-{base64.urlsafe_b64encode(digest).decode()[:8]}"


def uses_poetry(pyproject: Table, level: Level) -> bool:
    """Whether poetry manages the project: ``[tool.poetry]``, poetry's build backend,
    or a ``poetry.lock``."""
    if table(pyproject, "tool", "poetry"):
        return True
    backend = string(table(pyproject, "build-system"), "build-backend") or ""
    return backend.startswith("poetry") or level.has_file("poetry.lock")


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The central environment poetry uses for the project in this directory."""
    pyproject = level.pyproject()
    if pyproject is None or not uses_poetry(pyproject, level):
        return
    name = (
        string(table(pyproject, "project"), "name")
        or string(table(pyproject, "tool", "poetry"), "name")
        or "non-package-mode"
    )
    settings = _Settings(context, level.directory)
    if settings.flag("create") is False:
        return  # poetry installs into the Python it runs with: nothing of its own to find
    declares = _declaration(pyproject, level)
    if settings.flag("in-project"):
        # Its environment is the project's .venv, found before this when it exists.
        if declares and not os.path.isdir(level.directory / ".venv"):
            venv = level.directory / ".venv"
            yield _declared(level, declares, venv, venv, venv)
        return
    venvs = settings.virtualenvs_path()
    base = env_name_base(name, level.directory)
    recorded = _recorded_minor(venvs, base)
    root: Path | None
    if recorded is not None:
        root = venvs / f"{base}-py{recorded}"
        how = "the Python recorded for it in envs.toml"
    else:
        root, how = _newest(venvs, base)
    pyproject_path = level.directory / "pyproject.toml"
    if root is None or not os.path.isdir(root):
        target = root or venvs / f"{base}-pyX.Y"
        if declares:
            yield _declared(level, declares, target, root, venvs / f"{base}-py*")
            return
        yield Candidate(
            target,
            skipped=(
                f"poetry's environment for {pyproject_path} ({target}) does not exist; "
                f"create it with `poetry install` in {level.directory}"
            ),
        )
        return
    reason = f"environment poetry uses for {pyproject_path}: {root.name} in {venvs} ({how})"
    yield venv_candidate(root, Kind.POETRY, reason)


def _declaration(pyproject: Table, level: Level) -> str | None:
    """What declares the project's poetry environment: its lock or its ``[tool.poetry]``
    (a project only *built* with poetry-core declares none)."""
    if level.has_file("poetry.lock"):
        return "poetry.lock"
    if table(pyproject, "tool", "poetry"):
        return "[tool.poetry] in pyproject.toml"
    return None


def _declared(level: Level, why: str, shown: Path, root: Path | None, creates: Path) -> Candidate:
    """``shown``: the candidate's path; ``root``: the environment, when known in advance."""
    return declared(
        shown,
        Declaration(
            kind=Kind.POETRY,
            project=level.directory,
            declared_by=why,
            command=("poetry", "install"),
            environment=root,
            creates=(str(creates),),
            files=project_files(level, "pyproject.toml", "poetry.lock", "poetry.toml"),
        ),
    )


def _recorded_minor(venvs: Path, base: str) -> str | None:
    entry = table(read_toml(venvs / "envs.toml"), base)
    minor = string(entry, "minor")
    return minor.strip() if minor else None


def _newest(venvs: Path, base: str) -> tuple[Path | None, str]:
    versions = versioned_entries(venvs, f"{base}-py")
    if not versions:
        return None, ""
    how = "its only environment" if len(versions) == 1 else "the newest of its environments"
    return venvs / versions[-1][1], how


class _Settings:
    """poetry's configuration, as ``poetry config`` would read it (no keyring, no repos)."""

    def __init__(self, context: Context, project_dir: Path) -> None:
        self.context = context
        config_dir = context.path_variable("POETRY_CONFIG_DIR") or (
            context.user_config_dir / "pypoetry"
        )
        self.sources = [
            read_toml(project_dir / "poetry.toml") or {},
            read_toml(config_dir / "config.toml") or {},
        ]

    def raw(self, *keys: str) -> Any:
        variable = "POETRY_" + "_".join(k.upper().replace("-", "_") for k in keys)
        if variable in self.context.environ:
            return self.context.environ[variable]
        for source in self.sources:
            value: Any = source
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                return value
        return None

    def flag(self, key: str) -> bool | None:
        value = self.raw("virtualenvs", key)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return value if isinstance(value, bool) else None

    def cache_dir(self) -> Path:
        value = self.raw("cache-dir")
        if isinstance(value, str) and value:
            return self.context.expand(value)
        return self.context.user_cache_dir / "pypoetry"

    def virtualenvs_path(self) -> Path:
        value = self.raw("virtualenvs", "path")
        if not isinstance(value, str) or not value:
            return self.cache_dir() / "virtualenvs"
        value = value.replace("{cache-dir}", str(self.cache_dir()))
        return self.context.expand(value)
