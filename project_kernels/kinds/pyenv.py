"""pyenv: the version a project's ``.python-version`` names, as pyenv's shims resolve it.

The rule, as pyenv 2 applies it (``pyenv-version-file-read``, ``pyenv-version-name``,
``pyenv-latest``): the file's words, one per line, blank lines and ``#`` comments
skipped, names with ``/`` only when they stay inside ``$PYENV_ROOT/versions``;
the first is the one ``python`` runs from, and a name that does not resolve makes
pyenv refuse to run anything (so nothing is found, and ``doctor`` says why). A
name resolves to ``$PYENV_ROOT/versions/<name>`` when that exists (also without
a ``python-`` prefix), else to the newest installed final release it is a
prefix of, as ``pyenv latest`` picks it
(``3.12`` → ``3.12.10``, ``pypy3.10`` → ``pypy3.10-7.3.12``). ``system``
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


def pyenv_root(context: Context) -> Path:
    """``$PYENV_ROOT``, else ``~/.pyenv``."""
    return context.path_variable("PYENV_ROOT") or context.home / ".pyenv"


def read_version_file(text: str, versions: Path | None = None) -> list[str]:
    """The version names in a ``.python-version`` file, in order.

    With ``versions``, names pyenv ignores as unsafe are left out: ``..``, and names
    with a ``/`` that do not lead to a directory inside ``versions``.
    """
    names: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        name = words[0][:1024]
        if versions is not None and (name == ".." or ("/" in name and not _inside(versions, name))):
            continue
        names.append(name)
    return names


def resolve_version(versions: Path, name: str) -> str | None:
    """The installed version ``name`` means, as ``pyenv version-name`` decides; None if none."""
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
    return os.path.isdir(real) and real.startswith(os.path.realpath(versions) + os.sep)


def _latest(versions: Path, prefix: str) -> str | None:
    """What ``pyenv latest -b <prefix>`` prints: the newest installed final release that
    ``prefix`` starts (``3.12`` → ``3.12.10``; ``pypy3.10`` → ``pypy3.10-7.3.12``)."""
    try:
        entries = sorted(os.listdir(versions))
    except OSError:
        return None
    suffix = ""
    if re.fullmatch(r".*[0-9]t", prefix):
        prefix, suffix = prefix[:-1], "t"
    pattern = re.compile(rf"^{re.escape(prefix)}[-.].*{re.escape(suffix)}$")
    candidates = [
        entry
        for entry in entries
        if pattern.match(entry)
        and not re.search(r"(-dev|-src|-latest|(a|b|rc)[0-9]+)$", entry)
        and (suffix or not re.search(r"[0-9]t$", entry))
        and not _is_env_link(versions / entry)
    ]
    return max(candidates, key=_sort_key) if candidates else None


def _is_env_link(path: Path) -> bool:
    """A pyenv-virtualenv link (``versions/<name>`` → ``<version>/envs/<name>``)."""
    return path.is_symlink() and "/envs/" in os.path.realpath(path)


def _sort_key(name: str) -> tuple[str, float, float, float]:
    """pyenv-latest's ``sort -t. -k1,1r -k2,2nr -k3,3nr -k4,4nr`` on its keys (used with max)."""
    match = re.match(r"^[A-Za-z0-9]+-", name)
    key = f"{name[: match.end() - 1]}.{name[match.end() :]}.." if match else f"{name}..."
    fields = [*key.split("."), "", "", ""]
    numbers = [_leading_number(f) for f in fields[1:4]]
    return (fields[0], numbers[0], numbers[1], numbers[2])


def _leading_number(text: str) -> float:
    match = re.match(r"\s*-?\d+(\.\d+)?", text)
    return float(match.group(0)) if match else 0.0


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The pyenv version (or pyenv-virtualenv environment) this directory's file names."""
    if not level.has_file(VERSION_FILE):
        return
    versions = pyenv_root(context) / "versions"
    if not os.path.isdir(versions):
        return
    version_file = level.directory / VERSION_FILE
    try:
        names = read_version_file(version_file.read_text(encoding="utf-8"), versions)
    except (OSError, UnicodeDecodeError):
        return
    resolved: list[tuple[str, str | None]] = []
    for name in names:
        resolved.append((name, "system" if name == "system" else resolve_version(versions, name)))
    missing = [name for name, version in resolved if version is None]
    if missing:
        # pyenv itself refuses to run anything then ("version `X' is not installed").
        yield Candidate(
            version_file,
            skipped=(
                f"{version_file} names {', '.join(missing)}, which pyenv does not have in "
                f"{versions}; install it with `pyenv install {missing[0]}`"
            ),
        )
        return
    if not resolved or resolved[0][1] == "system":
        return
    name, version = resolved[0]
    assert version is not None
    shown = name if version == name else f"{name}, resolved to {version}"
    reason = f"pyenv version named in {version_file} ({shown})"
    yield _candidate(versions / version, version, reason)


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
