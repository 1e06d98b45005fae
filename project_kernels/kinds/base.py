"""What every tool's locator shares: the directory being looked at, the server's
variables, and small readers for the files tools write (TOML, a YAML subset).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Environment, Kind, NotAnEnvironment, inspect_venv

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib

#: TOML tables as parsed.
Table = Mapping[str, Any]


@dataclass(frozen=True)
class ToolOptions:
    """Settings of the tool locators that are not read from the tools' own files."""

    #: Directory names, inside a project, that hold a conda environment (``conda create -p``).
    conda_directories: tuple[str, ...] = (".conda", "env")
    #: Extra directories holding named conda environments, searched before conda's own.
    conda_envs_dirs: tuple[Path, ...] = ()
    #: The pixi environment a notebook runs in (``.pixi/envs/<name>``).
    pixi_environment: str = "default"


@dataclass(frozen=True)
class Context:
    """What the locators know besides the directory: the server's variables and home."""

    environ: Mapping[str, str]
    home: Path
    options: ToolOptions = field(default_factory=ToolOptions)

    def path_variable(self, name: str) -> Path | None:
        """An environment variable holding a path, ``~`` and ``$VARS`` expanded; None if unset."""
        value = self.environ.get(name, "")
        return self.expand(value) if value else None

    def expand(self, value: str) -> Path:
        """``value`` with ``~`` and ``$VARS`` expanded against the server's variables."""
        value = _expand_vars(value, self.environ)
        if value == "~" or value.startswith("~/"):
            value = str(self.home) + value[1:]
        return Path(value)

    def xdg(self, variable: str, default: str) -> Path:
        """An XDG base directory (``XDG_CACHE_HOME`` and the like), as platformdirs reads it."""
        value = self.environ.get(variable, "").strip()
        return Path(value) if value else self.home / default

    @property
    def user_cache_dir(self) -> Path:
        """``$XDG_CACHE_HOME`` or ``~/.cache``."""
        return self.xdg("XDG_CACHE_HOME", ".cache")

    @property
    def user_config_dir(self) -> Path:
        """``$XDG_CONFIG_HOME`` or ``~/.config``."""
        return self.xdg("XDG_CONFIG_HOME", ".config")

    @property
    def user_data_dir(self) -> Path:
        """``$XDG_DATA_HOME`` or ``~/.local/share``."""
        return self.xdg("XDG_DATA_HOME", ".local/share")


_VARIABLE = re.compile(r"\$(\w+|\{\w+\})")


def _expand_vars(value: str, environ: Mapping[str, str]) -> str:
    def replace_one(match: re.Match[str]) -> str:
        name = match.group(1).strip("{}")
        return environ.get(name, match.group(0))

    return _VARIABLE.sub(replace_one, value)


def _exists(path: str) -> bool:
    """Whether ``path`` exists (following symlinks), judged as ``stat`` judges it."""
    return os.access(path, os.F_OK, effective_ids=_EFFECTIVE_IDS)


_EFFECTIVE_IDS = os.access in os.supports_effective_ids


class Level:
    """One directory of the walk; each marker file is looked at with one ``stat``, once.

    Several tools share ``pyproject.toml``: it is stat'd and parsed at most once per level.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: ``directory`` as a string: joining strings costs a fraction of joining Paths.
        self.path = os.fspath(directory)
        self._files: dict[str, bool] = {}
        self._tables: dict[str, Table | None] = {}

    def has_file(self, name: str) -> bool:
        """Whether ``name`` is a regular file here (following symlinks).

        One ``access`` when it is absent, as it nearly always is: unlike a failing ``stat``
        it raises no exception, which costs more than the system call. A ``stat`` follows
        when something is there.
        """
        if name not in self._files:
            path = os.path.join(self.path, name)
            self._files[name] = _exists(path) and os.path.isfile(path)
        return self._files[name]

    def toml(self, name: str) -> Table | None:
        """``name`` parsed as TOML; None when absent or not valid TOML."""
        if name not in self._tables:
            self._tables[name] = read_toml(self.directory / name) if self.has_file(name) else None
        return self._tables[name]

    def pyproject(self) -> Table | None:
        """``pyproject.toml`` parsed, or None."""
        return self.toml("pyproject.toml")


def versioned_entries(directory: Path, prefix: str) -> list[tuple[Version, str]]:
    """The entries of ``directory`` named ``prefix`` + a version, oldest first.

    How poetry (``name-hash-py3.12``) and pdm (``dir-hash-3.12``) name the environments
    they keep for one project; none when the directory cannot be read.
    """
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return []
    found: list[tuple[Version, str]] = []
    for name in names:
        try:
            found.append((Version(name[len(prefix) :]), name))
        except InvalidVersion:
            continue
    return sorted(found)


def read_toml(path: Path) -> Table | None:
    """A TOML file's tables; None when it cannot be read or parsed."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None


def table(data: Table | None, *keys: str) -> Table:
    """The nested table ``data[k1][k2]...``, or an empty one when any level is missing."""
    current: Any = data or {}
    for key in keys:
        current = current.get(key) if isinstance(current, Mapping) else None
        if current is None:
            return {}
    return current if isinstance(current, Mapping) else {}


def string(data: Table, key: str) -> str | None:
    """``data[key]`` when it is a non-empty string."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def yaml_value(text: str, key: str) -> str | list[str] | None:
    """A top-level ``key:`` of a YAML document: a scalar, or a list (block or ``[a, b]`` flow).

    Enough for ``environment.yml``'s ``name:``/``prefix:`` and ``.condarc``'s
    ``envs_dirs:``; anything more elaborate (anchors, multi-line scalars) reads as None.
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(rf"^{re.escape(key)}\s*:(.*)$", line)
        if not match:
            continue
        rest = _strip_comment(match.group(1)).strip()
        if rest.startswith("["):
            inner = rest.strip("[]")
            return [_unquote(item.strip()) for item in inner.split(",") if item.strip()]
        if rest:
            return _unquote(rest)
        items: list[str] = []
        for following in lines[index + 1 :]:
            stripped = _strip_comment(following).strip()
            if not stripped:
                continue
            if not following[:1].isspace() and not stripped.startswith("-"):
                break
            if stripped.startswith("- "):
                items.append(_unquote(stripped[2:].strip()))
            elif stripped == "-":
                continue
            else:
                break
        return items
    return None


def _strip_comment(text: str) -> str:
    quote = ""
    for index, char in enumerate(text):
        if char in "'\"" and not quote:
            quote = char
        elif char == quote:
            quote = ""
        elif char == "#" and not quote and (index == 0 or text[index - 1].isspace()):
            return text[:index]
    return text


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def venv_candidate(
    root: Path, kind: Kind, reason: str, variables: Mapping[str, str] | None = None
) -> Candidate:
    """The candidate for a venv-style environment a tool made at ``root`` (which exists)."""
    try:
        environment = inspect_venv(root)
    except NotAnEnvironment as skipped:
        return Candidate(root, skipped=str(skipped))
    return Candidate(root, environment=tool_environment(environment, kind, reason, variables))


def tool_environment(
    environment: Environment, kind: Kind, reason: str, variables: Mapping[str, str] | None
) -> Environment:
    """``environment`` labelled as made by ``kind``'s tool, with that tool's variables."""
    return replace(
        environment,
        kind=kind,
        reason=reason,
        extra_variables={**environment.extra_variables, **(variables or {})},
    )


def declared(path: Path, declaration: Declaration) -> Candidate:
    """The candidate for an environment a project declares but its tool has not made.

    ``path`` is where the environment will be (or where the tool keeps its environments).
    """
    return Candidate(path, declared=declaration)


def project_files(level: Level, *names: str) -> tuple[Path, ...]:
    """Those of ``names`` that are files in this directory (what a tool reads to build)."""
    return tuple(level.directory / name for name in names if level.has_file(name))
