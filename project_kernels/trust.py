"""Whether an environment may run: could anyone but you (or root) have written it?

Launching a kernel runs the environment's interpreter, its ``site-packages``
and their ``.pth`` files as the person who opened the notebook. On a shared
file system anyone who can write one of those can run code as that person.
So an environment is used only when each of these, judged by its real path
(after every symlink), is owned by a trusted owner and not writable by anyone
else:

- the environment's directory, its ``bin`` directory and its configuration file
  (``pyvenv.cfg``, or ``conda-meta`` for conda and pixi);
- each ``lib/pythonX.Y`` and ``site-packages`` directory, and the startup files
  in it (``*.pth``, ``sitecustomize.py``, ``usercustomize.py``);
- the interpreter the ``bin/python`` symlink chain ends at, the directory that
  holds it, and every directory that holds a symlink of the chain (whoever can
  write one of those chooses what runs).

Trusted owners are the server's user and root, plus administrator-listed users
and the members of administrator-listed groups. Group write is accepted for a
trusted group (including the user's private group, so a laptop with
``umask 002`` needs no setting); write by others never is. Below an
administrator-listed path prefix nothing is checked.

Only ``stat``, ``readlink`` and user/group look-ups: nothing runs.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from pathlib import Path, PurePosixPath

from .discovery import Candidate, Locator
from .environments import Environment, Kind, Problem, ProblemCode, lib_python_dirs

__all__ = [
    "MAX_PROBLEMS",
    "ROOT_UID",
    "STARTUP_FILES",
    "Finding",
    "Offence",
    "TrustPolicy",
    "findings_for",
    "is_untrusted",
    "judge",
    "symlink_holders",
    "trusted_only",
]

ROOT_UID = 0
#: At most this many untrusted paths are reported for one environment.
MAX_PROBLEMS = 3
#: Startup files in ``site-packages`` that run code at every interpreter start.
STARTUP_FILES = ("sitecustomize.py", "usercustomize.py")
_MAX_SYMLINKS = 40
_CONFIG_FILES: dict[Kind, str | None] = {
    Kind.CONDA: "conda-meta",
    Kind.PIXI: "conda-meta",
    Kind.PYENV: None,
}
_SETTING = "in jupyter_server_config.py"


@dataclass(frozen=True)
class TrustPolicy:
    """Whose files may run as the server's user.

    ``owners`` and ``groups`` are numeric ids; ``paths`` are real paths (symlinks
    resolved). ``unresolved`` keeps configured names that matched no user or group,
    for a warning.
    """

    uid: int
    owners: frozenset[int] = frozenset()
    groups: frozenset[int] = frozenset()
    paths: tuple[Path, ...] = ()
    unresolved: tuple[str, ...] = ()

    @classmethod
    def for_current_user(
        cls,
        owners: Iterable[str] = (),
        groups: Iterable[str] = (),
        paths: Iterable[str] = (),
    ) -> TrustPolicy:
        """The policy for this process's user, with administrator-listed names and paths."""
        uid = os.geteuid()
        owner_ids, unknown_owners = _resolve_names(owners, _uid_of)
        group_ids, unknown_groups = _resolve_names(groups, _gid_of)
        private = _private_group(uid, os.getegid())
        if private is not None:
            group_ids.add(private)
        return cls(
            uid=uid,
            owners=frozenset({uid, ROOT_UID, *owner_ids}),
            groups=frozenset(group_ids),
            paths=tuple(_real(Path(p).expanduser()) for p in paths if p),
            unresolved=(*unknown_owners, *unknown_groups),
        )

    def covers(self, real: Path) -> bool:
        """Whether ``real`` lies below an administrator-trusted path prefix."""
        return any(real == prefix or prefix in real.parents for prefix in self.paths)

    def owner_trusted(self, uid: int, gid: int) -> bool:
        """A trusted owner, or a member of the (trusted) group the file belongs to."""
        return uid in self.owners or (gid in self.groups and _is_member(uid, gid))


class Offence(str, Enum):
    """Why one path is not trusted."""

    OWNER = "owner"
    GROUP_WRITABLE = "group-writable"
    WORLD_WRITABLE = "world-writable"
    UNCHECKABLE = "uncheckable"


@dataclass(frozen=True)
class Finding:
    """One path of an environment that someone untrusted could have written."""

    role: str
    path: Path
    real: Path
    offence: Offence
    uid: int = -1
    gid: int = -1
    mode: int = 0
    error: str = ""


@dataclass(frozen=True)
class _Check:
    role: str
    path: Path
    #: A directory that only *holds* something: with the sticky bit, others cannot
    #: replace what is in it, so group/other write is harmless there.
    holder: bool = False


def judge(environment: Environment, policy: TrustPolicy) -> Environment:
    """``environment`` itself when trusted; else a copy whose only problems say why not.

    The other problems are dropped on purpose: their fixes would have the person
    run the untrusted interpreter.
    """
    if any(p.code is ProblemCode.UNREADABLE for p in environment.problems):
        # Nothing of it can be read, so nothing of it runs: that is the clearest message.
        return environment
    findings = findings_for(environment, policy)
    if not findings:
        return environment
    user = _user_name(policy.uid)
    groups = _grouped(findings, _real(environment.root))
    problems = tuple(_problem(f, environment, user, more) for f, more in groups[:MAX_PROBLEMS])
    return replace(environment, problems=problems)


def _grouped(findings: list[Finding], env_real: Path) -> list[tuple[Finding, int]]:
    """Findings inside the environment that one command fixes, as (first, how many more)."""
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        if _inside(finding.real, env_real):
            uid = finding.uid if finding.offence is Offence.OWNER else None
            gid = finding.gid if finding.offence is Offence.GROUP_WRITABLE else None
            key: tuple[object, ...] = (finding.offence, uid, gid)
        else:
            key = (finding.real,)
        groups.setdefault(key, []).append(finding)
    return [(same[0], len(same) - 1) for same in groups.values()]


def _inside(real: Path, env_real: Path) -> bool:
    return real == env_real or env_real in real.parents


def findings_for(environment: Environment, policy: TrustPolicy) -> list[Finding]:
    """Every checked path of ``environment`` that fails the policy, one per real path."""
    findings: list[Finding] = []
    seen: set[Path] = set()
    real_paths = _RealPaths()
    for check in _checks(environment, real_paths):
        real = real_paths(check.path)
        if real in seen:
            continue
        seen.add(real)
        finding = _judge_path(check, real, policy, real_paths.stats.get(str(real)))
        if finding is not None:
            findings.append(finding)
    return findings


def judge_paths(paths: Iterable[tuple[str, Path]], policy: TrustPolicy) -> list[Finding]:
    """The ``(role, path)`` pairs that fail the policy, each judged by its real path as an
    environment's files are (for a project's files and the tool that would build from them).

    A directory holding something (the project) may be writable by others if sticky.
    """
    findings: list[Finding] = []
    real_paths = _RealPaths()
    for role, path in paths:
        real = real_paths(Path(os.path.abspath(path)))
        check = _Check(role, path, holder=os.path.isdir(real))
        finding = _judge_path(check, real, policy, real_paths.stats.get(str(real)))
        if finding is not None:
            findings.append(finding)
    return findings


def finding_text(finding: Finding) -> str:
    """Who could have written the path, said for a person (without what follows from it)."""
    shown = _shown(finding)
    if finding.offence is Offence.UNCHECKABLE:
        return f"{shown} cannot be checked ({finding.error})"
    mode = stat.filemode(finding.mode)
    if finding.offence is Offence.OWNER:
        owner = _user_name(finding.uid)
        return f"{shown} belongs to user '{owner}' (uid {finding.uid}, mode {mode})"
    if finding.offence is Offence.WORLD_WRITABLE:
        return f"{shown} is writable by everyone (mode {mode})"
    group = _group_name(finding.gid)
    return f"{shown} is writable by group '{group}' (gid {finding.gid}, mode {mode})"


def trusted_only(locate: Locator, policy: TrustPolicy) -> Locator:
    """A locator whose environments carry an ``untrusted`` problem when the policy refuses them."""

    def judged(directory: Path) -> Iterator[Candidate]:
        for candidate in locate(directory):
            if candidate.environment is None:
                yield candidate
            else:
                yield replace(candidate, environment=judge(candidate.environment, policy))

    return judged


def is_untrusted(environment: Environment) -> bool:
    """Whether trust checks refused ``environment`` (nothing of it may run)."""
    return any(p.code is ProblemCode.UNTRUSTED for p in environment.problems)


def symlink_holders(path: Path) -> tuple[Path, list[Path]]:
    """``path``'s real path, and the real directories holding each symlink met on the way.

    Resolves like ``os.path.realpath`` (relative links against the link's directory,
    ``..`` after resolution), but records where each link lives: whoever can write
    there can re-point the link.
    """
    holders: list[Path] = []
    pending = list(reversed(_parts(path)))
    current = Path("/")
    followed = 0
    while pending:
        name = pending.pop()
        if name == "..":
            current = current.parent
            continue
        step = current / name
        try:
            target = os.readlink(step)
        except OSError:
            current = step
            continue
        followed += 1
        if followed > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
        holders.append(current)
        if os.path.isabs(target):
            current = Path("/")
        pending.extend(reversed(_parts(Path(target))))
    return current, holders


def _parts(path: Path) -> list[str]:
    return [p for p in PurePosixPath(path).parts if p not in ("/", ".")]


def _checks(environment: Environment, real_paths: _RealPaths) -> Iterator[_Check]:
    root = environment.root
    yield _Check("the environment directory", root)
    yield _Check("its bin directory", environment.bin_dir)
    config = _CONFIG_FILES.get(environment.kind, "pyvenv.cfg")
    if config is not None and os.path.lexists(root / config):
        yield _Check("its configuration file", root / config)
    libraries: set[Path] = set()
    for lib_dir in lib_python_dirs(root):
        real_lib = real_paths(lib_dir)
        if real_lib in libraries:
            continue  # lib64 -> lib: the same files, already checked
        libraries.add(real_lib)
        yield _Check("its library directory", lib_dir)
        site = lib_dir / "site-packages"
        if not os.path.isdir(site):
            continue
        yield _Check("its site-packages directory", site)
        yield from (_Check("a startup file in its site-packages", f) for f in _startup_files(site))
    yield from _interpreter_checks(environment.interpreter, real_paths)


def _interpreter_checks(interpreter: Path, real_paths: _RealPaths) -> Iterator[_Check]:
    try:
        real, holders = real_paths.with_holders(Path(os.path.abspath(interpreter)))
    except OSError:
        yield _Check("its interpreter", interpreter)
        return
    yield _Check("its interpreter", interpreter)
    yield _Check("the directory holding its interpreter", real.parent, holder=True)
    for holder in holders:
        yield _Check("a directory holding a symlink to its interpreter", holder, holder=True)


def _startup_files(site: Path) -> Sequence[Path]:
    try:
        names = sorted(os.listdir(site))
    except OSError:
        return ()
    return [site / n for n in names if n.endswith(".pth") or n in STARTUP_FILES]


def _judge_path(
    check: _Check, real: Path, policy: TrustPolicy, known: os.stat_result | None = None
) -> Finding | None:
    if policy.covers(real):
        return None
    try:
        info = known if known is not None else os.stat(real)
    except FileNotFoundError:
        return None  # nothing there to plant into; other checks report a missing interpreter
    except OSError as error:
        return Finding(
            check.role, check.path, real, Offence.UNCHECKABLE, error=error.strerror or str(error)
        )
    if not policy.owner_trusted(info.st_uid, info.st_gid):
        offence = Offence.OWNER
    elif check.holder and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return None
    elif info.st_mode & stat.S_IWOTH:
        offence = Offence.WORLD_WRITABLE
    elif info.st_mode & stat.S_IWGRP and info.st_gid not in policy.groups:
        offence = Offence.GROUP_WRITABLE
    else:
        return None  # the usual case: no Finding made at all
    return Finding(
        check.role, check.path, real, offence, info.st_uid, info.st_gid, mode=info.st_mode
    )


def _problem(finding: Finding, environment: Environment, user: str, more: int = 0) -> Problem:
    shown = _shown(finding)
    if more:
        shown += f" (and {more} more path{'s' if more > 1 else ''} in the environment)"
    env_real = _real(environment.root)
    inside = _inside(finding.real, env_real)
    target = env_real if inside else finding.real
    recursive = "-R " if inside else ""
    trust_path = env_real if inside else finding.real.parent
    paths_setting = f"'{trust_path}' to c.ProjectKernels.trusted_paths"
    you = f"you ('{user}')" if user == _user_name(ROOT_UID) else f"you ('{user}') or root"
    if finding.offence is Offence.UNCHECKABLE:
        return Problem(
            ProblemCode.UNTRUSTED,
            f"{shown} cannot be checked ({finding.error}), so the environment is not run.",
            f"Make it readable to you, or an administrator adds {paths_setting} {_SETTING}.",
        )
    mode = stat.filemode(finding.mode)
    owner = _user_name(finding.uid)
    group = _group_name(finding.gid)
    if finding.offence is Offence.OWNER:
        return Problem(
            ProblemCode.UNTRUSTED,
            f"{shown} belongs to user '{owner}' (uid {finding.uid}, mode {mode}), not to {you}: "
            f"'{owner}' could run code as you through it, so it is not run.",
            f"If it should be yours, root runs `chown {recursive}{user} {target}`. If '{owner}' "
            f"may run code as you, an administrator adds '{owner}' to "
            f"c.ProjectKernels.trusted_owners (or {paths_setting}) {_SETTING}. Otherwise "
            "remove or rename it and make your own environment.",
        )
    if finding.offence is Offence.WORLD_WRITABLE:
        return Problem(
            ProblemCode.UNTRUSTED,
            f"{shown} is writable by everyone (mode {mode}): anyone on this machine could run "
            "code as you through it, so it is not run.",
            f"Its owner runs `chmod {recursive}go-w {target}`, or an administrator adds "
            f"{paths_setting} {_SETTING}.",
        )
    return Problem(
        ProblemCode.UNTRUSTED,
        f"{shown} is writable by group '{group}' (gid {finding.gid}, mode {mode}), which is not "
        f"a trusted group: its members could run code as you through it, so it is not run.",
        f"Its owner runs `chmod {recursive}g-w {target}`. If everyone in '{group}' may run "
        f"code as you, an administrator adds '{group}' to c.ProjectKernels.trusted_groups "
        f"(or {paths_setting}) {_SETTING}.",
    )


def _shown(finding: Finding) -> str:
    path = Path(os.path.abspath(finding.path))
    if path == finding.real:
        return f"{_capitalized(finding.role)} {path}"
    return f"{_capitalized(finding.role)} {path} (really {finding.real})"


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


class _RealPaths:
    """``os.path.realpath`` (and :func:`symlink_holders`) for the many paths of one
    environment, each directory resolved once.

    The checked paths share their parents: resolved one by one from ``/`` they cost an
    ``lstat`` per component each, most of an environment's checks. Here a path costs one
    ``lstat`` once its parent is known, and a symlink one ``readlink`` more; ``..`` goes up
    from the real directory, as realpath does. What is unusual (a relative path, a loop, a
    long chain of links) is left to ``os.path.realpath`` and not remembered, so the answers
    are the same.
    """

    def __init__(self) -> None:
        #: path -> (real path, real directories holding the links followed on the way)
        self._known: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._resolving: set[str] = set()
        #: ``lstat`` of real paths that are not symlinks, hence also their ``stat``.
        self.stats: dict[str, os.stat_result] = {}

    def __call__(self, path: Path) -> Path:
        try:
            return Path(self._resolve(os.fspath(path))[0])
        except _Unusual:
            self._resolving.clear()
            return _real(path)

    def with_holders(self, path: Path) -> tuple[Path, list[Path]]:
        """What :func:`symlink_holders` answers for ``path``."""
        try:
            real, holders = self._resolve(os.fspath(path))
        except _Unusual:
            self._resolving.clear()
            return symlink_holders(path)
        return Path(real), [Path(h) for h in holders]

    def _resolve(self, path: str) -> tuple[str, tuple[str, ...]]:
        known = self._known.get(path)
        if known is not None:
            return known
        parent, name = os.path.split(path)
        if path in self._resolving or len(self._resolving) > _MAX_SYMLINKS:
            raise _Unusual(path)
        if not os.path.isabs(path):
            raise _Unusual(path)
        if parent == path:
            return os.path.realpath(path), ()
        self._resolving.add(path)
        real_parent, holders = self._resolve(parent)
        if name in ("", ".", ".."):
            found = (os.path.dirname(real_parent) if name == ".." else real_parent, holders)
        else:
            found = self._step(path, real_parent, name, holders)
        self._resolving.discard(path)
        self._known[path] = found
        return found

    def _step(
        self, path: str, real_parent: str, name: str, holders: tuple[str, ...]
    ) -> tuple[str, tuple[str, ...]]:
        candidate = os.path.join(real_parent, name)
        try:
            info: os.stat_result | None = os.lstat(candidate)
        except OSError:
            info = None
        if info is None or not stat.S_ISLNK(info.st_mode):
            if info is not None:
                self.stats[candidate] = info
            return candidate, holders
        try:
            target = os.readlink(candidate)
        except OSError as error:
            raise _Unusual(path) from error
        # A link resolves against the real directory holding it, as realpath does.
        real, more = self._resolve(os.path.join(real_parent, target))
        return real, (*holders, real_parent, *more)


class _Unusual(Exception):
    """A path :class:`_RealPaths` leaves to ``os.path.realpath``."""


def _resolve_names(
    names: Iterable[str], lookup: Callable[[str], int | None]
) -> tuple[set[int], list[str]]:
    ids: set[int] = set()
    unknown: list[str] = []
    for name in names:
        found = lookup(name.strip())
        if found is None:
            unknown.append(name)
        else:
            ids.add(found)
    return ids, unknown


def _uid_of(name: str) -> int | None:
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _gid_of(name: str) -> int | None:
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


@lru_cache(maxsize=8)
def _private_group(uid: int, gid: int) -> int | None:
    """The user's private group (same name, no other members), as ``umask 002`` systems use."""
    try:
        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return None
    if user.pw_gid != gid or group.gr_name != user.pw_name:
        return None
    return gid if set(group.gr_mem) <= {user.pw_name} else None


def _is_member(uid: int, gid: int) -> bool:
    try:
        user = pwd.getpwuid(uid)
    except KeyError:
        return False
    if user.pw_gid == gid:
        return True
    try:
        return user.pw_name in grp.getgrgid(gid).gr_mem
    except KeyError:
        return False


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
