"""hatch: the ``default`` environment of a ``pyproject.toml`` project, where hatch keeps it.

The rule, as hatch applies it (``VirtualEnvironment.__init__``): the
environment's ``path`` option when set (``[tool.hatch.envs.default] path``,
relative to the project); else, under the ``virtual`` environments directory
(``[dirs.env] virtual`` of hatch's ``config.toml``, relative to the project when
not absolute; else ``{data dir}/env/virtual``, the data directory being
``HATCH_DATA_DIR``, else ``[dirs] data``, else ``~/.local/share/hatch``),
``{name}/{id}/{name}``. ``{name}`` is the project's normalized name (its
directory's without a ``[project]`` table) and ``{id}`` the first 8
characters of the URL-safe base64 of the SHA-256 of the project directory's
real path (hatch, like pipenv and pdm, starts from its working directory, which
the system keeps as a real path). Inside the project or in ``~/.virtualenvs`` the layout is flat:
``{dir}/{name}``.

``hatch run`` sets ``VIRTUAL_ENV``, ``HATCH_ENV_ACTIVE=default`` and the
environment's ``env-vars`` (with ``{root}``, ``{home}`` and ``{env:NAME[:default]}``
filled in; a value with another field is left out), and puts the environment's
``bin`` first on ``PATH``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

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
)

ENVIRONMENT = "default"


def project_id(project_dir: Path) -> str:
    """hatch's 8-character identifier of a project directory."""
    digest = hashlib.sha256(os.path.realpath(project_dir).encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("utf-8")[:8]


def env_root(project_dir: Path, pyproject: Table, context: Context) -> Path:
    """Where hatch keeps the project's ``default`` environment."""
    options = table(pyproject, "tool", "hatch", "envs", ENVIRONMENT)
    chosen = context.environ.get("HATCH_ENV_TYPE_VIRTUAL_PATH") or string(options, "path")
    if chosen:
        if os.path.isabs(chosen):
            return Path(chosen)
        return Path(os.path.realpath(project_dir / chosen))
    identifier = project_id(project_dir)
    # Without a [project] table hatch names the project after its directory.
    raw = string(table(pyproject, "project"), "name") or Path(os.path.realpath(project_dir)).name
    name = canonicalize_name(raw)
    directory = _virtual_directory(project_dir, context)
    real_project = Path(os.path.realpath(project_dir))
    flat = (
        directory == context.home / ".virtualenvs"
        or real_project in Path(os.path.realpath(directory)).parents
    )
    return directory / name if flat else directory / name / identifier / name


def _virtual_directory(project_dir: Path, context: Context) -> Path:
    config_file = context.path_variable("HATCH_CONFIG") or (
        context.user_config_dir / "hatch" / "config.toml"
    )
    config = read_toml(config_file) or {}
    configured = string(table(config, "dirs", "env"), "virtual")
    if configured:
        path = context.expand(configured)
        return path if path.is_absolute() else project_dir / path
    data = context.path_variable("HATCH_DATA_DIR")
    if data is None:
        data_option = string(table(config, "dirs"), "data")
        data = context.expand(data_option) if data_option else context.user_data_dir / "hatch"
    return data / "env" / "virtual"


def uses_hatch(pyproject: Table) -> bool:
    """Whether the project configures hatch or builds with hatchling."""
    backend = string(table(pyproject, "build-system"), "build-backend") or ""
    return bool(table(pyproject, "tool", "hatch")) or backend.startswith("hatchling")


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The ``default`` hatch environment of the project in this directory."""
    pyproject = level.pyproject()
    if pyproject is None or (not table(pyproject, "project") and not uses_hatch(pyproject)):
        return
    options = table(pyproject, "tool", "hatch", "envs", ENVIRONMENT)
    if string(options, "type") not in (None, "virtual"):
        return
    root = env_root(level.directory, pyproject, context)
    if not os.path.isdir(root):
        if table(pyproject, "tool", "hatch", "envs"):
            yield declared(
                root,
                Declaration(
                    kind=Kind.HATCH,
                    project=level.directory,
                    declared_by="[tool.hatch.envs] in pyproject.toml",
                    command=("hatch", "env", "create"),
                    environment=root,
                    creates=(str(root),),
                    files=project_files(level, "pyproject.toml", "hatch.toml"),
                ),
            )
        elif uses_hatch(pyproject):
            yield Candidate(
                root,
                skipped=(
                    f"hatch's default environment for {level.directory} ({root}) does not "
                    f"exist; create it with `hatch env create` in {level.directory}"
                ),
            )
        return
    variables = {**env_vars(options, level.directory, context), "HATCH_ENV_ACTIVE": ENVIRONMENT}
    reason = f"default hatch environment of {level.directory / 'pyproject.toml'}: {root}"
    yield venv_candidate(root, Kind.HATCH, reason, variables)


_FIELD = re.compile(r"\{([^{}]*)\}")


def env_vars(options: Mapping[str, object], root: Path, context: Context) -> dict[str, str]:
    """The environment's ``env-vars``, context fields filled in as far as files allow."""
    configured = options.get("env-vars")
    if not isinstance(configured, Mapping):
        return {}
    result: dict[str, str] = {}
    for key, value in configured.items():
        if not isinstance(value, str):
            continue
        filled = _fill(value, root, context)
        if filled is not None:
            result[str(key)] = filled
    return result


def _fill(value: str, root: Path, context: Context) -> str | None:
    unknown = False

    def one(match: re.Match[str]) -> str:
        nonlocal unknown
        field = match.group(1)
        if field == "root":
            return str(root)
        if field == "home":
            return str(context.home)
        if field.startswith("env:"):
            name, _, default = field[4:].partition(":")
            return context.environ.get(name, default)
        unknown = True
        return ""

    filled = _FIELD.sub(one, value)
    return None if unknown else filled
