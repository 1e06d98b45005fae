"""pyenv: the version a project's ``.python-version`` names, as pyenv's shims resolve it.

The rule, as pyenv 2 applies it (``pyenv-version-file-read``, ``pyenv-version-name``,
``pyenv-latest``): the file's words, one per line, blank lines and ``#`` comments
skipped, names with ``/`` only when they stay inside ``$PYENV_ROOT/versions``;
the first that resolves wins. A name resolves to ``$PYENV_ROOT/versions/<name>``
when that exists (also without a ``python-`` prefix), else to the newest
installed final release it is a prefix of (``3.12`` → ``3.12.1``). ``system``
means pyenv uses no version of its own, so nothing is found. ``PYENV_ROOT``
defaults to ``~/.pyenv``; without a ``versions`` directory there, pyenv is not
installed and ``.python-version`` files (uv and pdm write them too) are ignored.

A version is activated as ``pyenv exec`` runs a program: its ``bin`` first on
``PATH`` and ``PYENV_VERSION`` set (so ``!`` commands through pyenv's shims agree
with the kernel). A pyenv-virtualenv environment (``versions/<name>``, a link to
``versions/<version>/envs/<name>``) also gets what ``pyenv activate`` exports:
``VIRTUAL_ENV`` and ``PYENV_VIRTUAL_ENV``, both its real path (not the shell
hook's bookkeeping, ``PYENV_ACTIVATE_SHELL`` and the prompt).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from ..discovery import Candidate
from ..environments import Kind, NotAnEnvironment, inspect_venv
from .base import Context, Level
from .prefix import inspect_prefix

VERSION_FILE = ".python-version"
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def pyenv_root(context: Context) -> Path:
    """``$PYENV_ROOT``, else ``~/.pyenv``."""
    return context.path_variable("PYENV_ROOT") or context.home / ".pyenv"


def read_version_file(text: str) -> list[str]:
    """The version names in a ``.python-version`` file, in order."""
    names: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            names.append(words[0][:1024])
    return names


def resolve_version(versions: Path, name: str) -> str | None:
    """The installed version ``name`` means, as ``pyenv version-name`` decides; None if none."""
    if name == ".." or ("/" in name and not _inside(versions, name)):
        return None
    for candidate in (name, name.removeprefix("python-")):
        if candidate and os.path.isdir(versions / candidate):
            return candidate
    for candidate in (name, name.removeprefix("python-")):
        latest = _latest(versions, candidate)
        if latest is not None:
            return latest
    return None


def _inside(versions: Path, name: str) -> bool:
    real = os.path.realpath(versions / name)
    return real.startswith(os.path.realpath(versions) + os.sep)


def _latest(versions: Path, prefix: str) -> str | None:
    """The newest installed final CPython release ``X.Y.Z`` that ``prefix`` starts (``3.12``)."""
    try:
        names = os.listdir(versions)
    except OSError:
        return None
    releases = [
        (tuple(int(part) for part in match.groups()), entry)
        for entry in names
        if (match := _RELEASE.match(entry)) and entry.startswith(prefix + ".")
    ]
    return max(releases)[1] if releases else None


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The pyenv version (or pyenv-virtualenv environment) this directory's file names."""
    if not level.has_file(VERSION_FILE):
        return
    versions = pyenv_root(context) / "versions"
    if not os.path.isdir(versions):
        return
    version_file = level.directory / VERSION_FILE
    try:
        names = read_version_file(version_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return
    for name in names:
        if name == "system":
            return
        resolved = resolve_version(versions, name)
        if resolved is None:
            continue
        root = versions / resolved
        shown = name if resolved == name else f"{name}, resolved to {resolved}"
        reason = f"pyenv version named in {version_file} ({shown})"
        yield _candidate(root, resolved, reason)
        return
    yield Candidate(
        version_file,
        skipped=(
            f"{version_file} names {', '.join(names) or 'nothing'}, which pyenv does not have "
            f"in {versions}; install it with `pyenv install {names[0] if names else '<version>'}`"
        ),
    )


def _candidate(root: Path, name: str, reason: str) -> Candidate:
    try:
        if os.path.isfile(root / "pyvenv.cfg"):
            environment = inspect_venv(root)
            # As `pyenv activate` (pyenv sh-activate) exports them: the real path.
            real = os.path.realpath(root)
            variables = {"VIRTUAL_ENV": real, "PYENV_VIRTUAL_ENV": real, "PYENV_VERSION": name}
            reason = reason.replace("pyenv version", "pyenv-virtualenv environment", 1)
        else:
            environment = inspect_prefix(root, Kind.PYENV)
            variables = {"PYENV_VERSION": name}
    except NotAnEnvironment as skipped:
        return Candidate(root, skipped=str(skipped))
    return Candidate(
        root,
        environment=replace(environment, kind=Kind.PYENV, reason=reason, extra_variables=variables),
    )
