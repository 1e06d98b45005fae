"""Find the environment nearest to a notebook by walking up its directories.

The walk starts at the notebook's directory and stops at a boundary (the
server's root, a configured stop directory, the user's home, or ``/``). At each
level, *locators* propose candidates in order of precedence; the first
candidate that really is an environment wins, and everything else seen is kept
so that ``project-kernels doctor`` can say why it was skipped.

Each level costs one ``lstat`` per candidate name when nothing is there: no
directory listings, no subprocesses.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .declarations import Declaration
from .environments import Environment, NotAnEnvironment, inspect_venv

if TYPE_CHECKING:
    from .choices import Choice

__all__ = [
    "DEFAULT_NAMES",
    "PRUNED_NAMES",
    "Candidate",
    "Locator",
    "Scan",
    "Walk",
    "choose_boundary",
    "choose_start",
    "is_within",
    "levels",
    "named_directories",
    "normalize",
    "scan",
    "walk_up",
]

DEFAULT_NAMES: tuple[str, ...] = (".venv", "venv")


@dataclass(frozen=True)
class Candidate:
    """Something at one level of the walk that might be an environment.

    Exactly one of ``environment``, ``declared`` and ``skipped`` is set: the
    environment found there (possibly with problems); the environment a project
    there declares but its tool has not made (the walk stops at it too); or why
    the path is not an environment.
    """

    path: Path
    environment: Environment | None = None
    skipped: str | None = None
    declared: Declaration | None = None
    #: The directory of the walk (or scan) that proposed it: a tool's environment may be
    #: kept far from the project that names it (poetry's, pipenv's, conda's).
    level: Path | None = None
    #: The file (and line) that named it, when a project or notebook chose it (:mod:`.choices`).
    chosen_by: Choice | None = None

    @property
    def ends_walk(self) -> bool:
        """Whether the walk stops here: an environment, or one declared but not made."""
        return self.environment is not None or self.declared is not None


#: Proposes the candidates in one directory, best first.
Locator = Callable[[Path], Iterable[Candidate]]


@dataclass(frozen=True)
class Walk:
    """Everything one walk saw, nearest directory first."""

    start: Path
    boundary: Path
    visited: tuple[Path, ...]
    candidates: tuple[Candidate, ...]

    @property
    def environment(self) -> Environment | None:
        """The chosen environment: the first candidate that is one, usable or not."""
        for candidate in self.candidates:
            if candidate.environment is not None:
                return candidate.environment
        return None

    @property
    def declared(self) -> Declaration | None:
        """The environment the nearest project declares but has not made, where the walk
        stopped at one before finding an environment."""
        for candidate in self.candidates:
            if candidate.ends_walk:
                return candidate.declared
        return None

    @property
    def chosen_by(self) -> Choice | None:
        """The file that named what the walk stopped at, when a project or notebook chose it."""
        for candidate in self.candidates:
            if candidate.ends_walk:
                return candidate.chosen_by
        return None

    def with_environment(self, environment: Environment) -> Walk:
        """This walk with its chosen environment replaced by ``environment``.

        How later steps of the decision attach what they learn (modules, a failed start).
        """
        for index, candidate in enumerate(self.candidates):
            if candidate.environment is not None:
                candidates = list(self.candidates)
                candidates[index] = replace(candidate, environment=environment)
                return replace(self, candidates=tuple(candidates))
        return self


def named_directories(names: Sequence[str] = DEFAULT_NAMES) -> Locator:
    """A locator for venv-style environments called one of ``names`` (in that order)."""

    def locate(directory: Path) -> Iterator[Candidate]:
        where = os.fspath(directory)
        for name in names:
            if not os.path.lexists(os.path.join(where, name)):
                continue
            path = directory / name
            try:
                environment = inspect_venv(path)
            except NotAnEnvironment as skipped:
                yield Candidate(path, skipped=str(skipped))
            else:
                reason = f"nearest directory named {name!r} above the notebook"
                yield Candidate(path, environment=_with_reason(environment, reason))

    return locate


def _with_reason(environment: Environment, reason: str) -> Environment:
    return replace(environment, reason=environment.reason or reason)


def levels(start: Path, boundary: Path) -> Iterator[Path]:
    """``start`` and each parent up to and including ``boundary``.

    ``start`` must lie under ``boundary`` (see :func:`choose_start`).
    """
    current = start
    while True:
        yield current
        if current == boundary or current.parent == current:
            return
        current = current.parent


def walk_up(start: Path, boundary: Path, locators: Sequence[Locator]) -> Walk:
    """Walk from ``start`` up to ``boundary``, stopping at the first environment found,
    or at the first environment a project declares but has not made."""
    visited: list[Path] = []
    candidates: list[Candidate] = []
    for directory in levels(start, boundary):
        visited.append(directory)
        for locate in locators:
            for candidate in locate(directory):
                candidates.append(replace(candidate, level=directory))
                if candidate.ends_walk:
                    return Walk(start, boundary, tuple(visited), tuple(candidates))
    return Walk(start, boundary, tuple(visited), tuple(candidates))


def is_within(path: Path, directory: Path) -> bool:
    """Whether ``path`` is ``directory`` or below it, comparing normalised paths."""
    # As ``path == directory or directory in path.parents``, without making every parent.
    prefix = directory.parts
    if not prefix:  # "."
        return not path.is_absolute()
    return path.parts[: len(prefix)] == prefix


def normalize(path: str | os.PathLike[str]) -> Path:
    """An absolute path with ``..`` folded, symlinks left alone (as a shell's ``cd`` would)."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def choose_start(cwd: str | None, session_name: str | None, root: Path | None) -> Path | None:
    """Where the walk starts: the kernel's ``cwd``, else the notebook's directory, else ``root``.

    jupyter_server passes both for a notebook session; ``POST /api/kernels`` and
    nbconvert/papermill pass ``cwd`` only. Returns None when nothing is known.
    """
    if cwd:
        return normalize(cwd)
    if session_name and os.path.isabs(session_name):
        return normalize(session_name).parent
    return root


def choose_boundary(
    start: Path, root_dir: Path | None, stop_directory: Path | None, home: Path | None
) -> Path:
    """The highest directory the walk may visit for ``start``.

    The server's root when there is one, else a configured stop directory, else
    the home directory when ``start`` is inside it, else the file system's root.
    """
    for boundary in (root_dir, stop_directory):
        if boundary is not None:
            return boundary
    if home is not None and is_within(start, home):
        return home
    return Path(start.anchor or "/")


#: Directory names never descended into when listing environments under a root.
PRUNED_NAMES: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "site-packages",
        "dist-packages",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)


@dataclass(frozen=True)
class Scan:
    """Environments found below a root, and what the limits kept the scan from looking at."""

    root: Path
    candidates: tuple[Candidate, ...]
    directories_seen: int
    #: Whether a limit cut the scan short: the depth or the number of directories.
    truncated: bool
    max_depth: int = 4
    #: Directories at ``max_depth`` holding subdirectories the scan did not enter.
    depth_limited: tuple[Path, ...] = ()
    #: Directories found but not visited because ``max_directories`` were visited (at least).
    not_visited: int = 0


def scan(
    root: Path,
    locators: Sequence[Locator],
    *,
    max_depth: int = 4,
    max_directories: int = 10_000,
) -> Scan:
    """Breadth-first search below ``root`` for environments, bounded in depth and count.

    Hidden directories (other than the candidates themselves), ``.git``,
    ``node_modules``, ``site-packages`` and the like are not entered, nor are
    environments: nothing inside one is a project. A directory at ``max_depth`` is
    still listed, to tell whether the depth limit hid anything below it.
    """
    found: list[Candidate] = []
    queue: deque[tuple[Path, int]] = deque([(root, 0)])
    depth_limited: list[Path] = []
    seen = 0
    while queue:
        if seen >= max_directories:
            break
        directory, depth = queue.popleft()
        seen += 1
        claimed: set[str] = set()
        for locate in locators:
            for candidate in locate(directory):
                found.append(replace(candidate, level=directory))
                # Only what sits in this directory is claimed: a tool's environment kept
                # elsewhere (poetry's, pixi's .pixi/envs/default) must not hide a subdirectory.
                if candidate.path.parent == directory:
                    claimed.add(candidate.path.name)
        if depth >= max_depth:
            if _enterable(directory, claimed, first_only=True):
                depth_limited.append(directory)
            continue
        queue.extend((path, depth + 1) for path in _enterable(directory, claimed))
    return Scan(
        root,
        tuple(found),
        seen,
        truncated=bool(depth_limited or queue),
        max_depth=max_depth,
        depth_limited=tuple(depth_limited),
        not_visited=len(queue),
    )


def _enterable(directory: Path, claimed: set[str], *, first_only: bool = False) -> list[Path]:
    """The subdirectories of ``directory`` a scan enters, by name (only one: ``first_only``)."""
    below: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name in claimed or name.startswith(".") or name in PRUNED_NAMES:
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        below.append(Path(entry.path))
                except OSError:
                    continue
                if first_only:
                    break
    except OSError:
        return below
    return sorted(below)
