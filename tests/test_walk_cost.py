"""What a kernel start costs the file system: a fixed few calls per directory level.

Home and project directories on clusters live on shared file systems (NFS, Lustre,
GPFS) where every ``stat`` is a round trip and listing a large directory takes
seconds. The walk from a notebook up to its environment, the inspection of that
environment and the reading of its module declaration must therefore cost a small,
fixed number of calls per directory level, list no directory the walk passes through,
and not grow with how many files the project holds.

The calls are counted for real: ``open``, ``os.listdir`` and ``os.scandir`` through
Python's audit hooks, ``stat``/``lstat``/``access``/``readlink`` by wrapping the ``os``
functions every Python-level file check goes through; and, where ``strace`` can run,
the system calls of a separate process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sysdeps
from envfactory import run

from project_kernels.discovery import Walk
from project_kernels.modules import DECLARATION_NAME, ModuleSettings, with_modules
from project_kernels.resolver import LaunchRequest, resolve
from project_kernels.settings import Settings

#: Calls one directory level of the walk may cost: one stat per name looked for there
#: (environment directories such as .venv, the tools' marker files such as pixi.toml, and
#: the project's own .project-kernels.toml).
PER_LEVEL_BUDGET = 13
#: Calls inspecting the environment found may cost, whatever the project's size. Trust checks
#: dominate: they follow every checked path from ``/`` (an lstat per component, as realpath).
INSPECTION_BUDGET = 200
#: Directory listings inspection may make (lib/, site-packages), never of walked directories.
LISTING_BUDGET = 10

_WRAPPED = ("stat", "lstat", "access", "readlink")
_AUDITED = {"open": "open", "os.listdir": "listdir", "os.scandir": "scandir"}


@dataclass
class Calls:
    """File-system calls seen while recording: (kind, path) in order."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    subprocesses: list[str] = field(default_factory=list)

    def of(self, *kinds: str) -> list[str]:
        return [path for kind, path in self.seen if kind in kinds]


_recording: list[Calls] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording:
        return
    if event in _AUDITED:
        target = args[0] if args else None
        if isinstance(target, int):  # an fd, e.g. os.scandir(fd): not a path lookup
            return
        _recording[-1].seen.append((_AUDITED[event], os.fsdecode(target or ".")))
    elif event == "subprocess.Popen":
        _recording[-1].subprocesses.append(str(args[1]))


sys.addaudithook(_audit)


@contextmanager
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    """Count the file-system calls made inside the block (this thread)."""
    calls = Calls()

    def wrap(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
            if _recording and not isinstance(path, int):
                _recording[-1].seen.append((name, os.fsdecode(path)))
            return real(path, *args, **kwargs)

        return counted

    with monkeypatch.context() as patch:
        for name in _WRAPPED:
            patch.setattr(os, name, wrap(name, getattr(os, name)))
        _recording.append(calls)
        try:
            yield calls
        finally:
            _recording.pop()


def make_project(root: Path, depth: int, clutter: int) -> Path:
    """``root/.venv`` and a notebook directory ``depth`` levels below ``root``.

    With ``clutter``, each level also holds that many files and directories, and a
    data tree sits beside the path, as in a real project.
    """
    start = root
    for level in range(depth):
        start = start / f"level{level}"
    start.mkdir(parents=True, exist_ok=True)
    directory = start
    while clutter and directory != root.parent:
        for index in range(clutter):
            (directory / f"file{index}.csv").write_text("1,2\n")
            (directory / f"dir{index}").mkdir(exist_ok=True)
        directory = directory.parent
    for index in range(clutter * 5):
        (root / "data" / f"run{index // 50}" / f"part{index}").mkdir(parents=True)
    return start


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    """Projects by (depth, clutter), each with a real venv at its root."""
    made: dict[tuple[int, int], Path] = {}
    for depth, clutter in ((2, 0), (6, 0), (10, 0), (10, 100)):
        root = tmp_path_factory.mktemp(f"cost-{depth}-{clutter}") / "root"
        root.mkdir()
        run(sys.executable, "-m", "venv", "--without-pip", root / ".venv")
        made[(depth, clutter)] = make_project(root, depth, clutter)
    return made


def project_root(start: Path) -> Path:
    return next(p for p in start.parents if p.name == "root")


def launch_path(start: Path) -> Walk | None:
    """What a kernel start does before it launches: walk, inspect, read the module declaration."""
    request = LaunchRequest(cwd=str(start), root_dir=project_root(start))
    walk = resolve(request, Settings())
    walk, _ = with_modules(walk, os.environ, ModuleSettings())
    return walk


def cost(start: Path, monkeypatch: pytest.MonkeyPatch) -> Calls:
    launch_path(start)  # warm interpreter-wide caches (the running Python's own ELF header)
    with recording(monkeypatch) as calls:
        walk = launch_path(start)
    assert walk is not None and walk.environment is not None
    assert walk.environment.root == project_root(start) / ".venv"
    return calls


def test_each_level_of_the_walk_costs_a_fixed_few_calls(
    projects: dict[tuple[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = {depth: len(cost(projects[(depth, 0)], monkeypatch).seen) for depth in (2, 6, 10)}
    per_level, remainder = divmod(counts[10] - counts[6], 4)
    assert remainder == 0 and counts[6] - counts[2] == counts[10] - counts[6], counts
    assert 0 < per_level <= PER_LEVEL_BUDGET, counts
    assert counts[2] - 2 * per_level <= INSPECTION_BUDGET, counts


def test_cost_does_not_grow_with_the_files_in_the_project(
    projects: dict[tuple[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = cost(projects[(10, 0)], monkeypatch)
    cluttered = cost(projects[(10, 100)], monkeypatch)
    assert len(cluttered.seen) == len(bare.seen)


def test_no_walked_directory_is_listed(
    projects: dict[tuple[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    start = projects[(10, 100)]
    root = project_root(start)
    calls = cost(start, monkeypatch)
    listed = [Path(p) for p in calls.of("listdir", "scandir")]
    assert len(listed) <= LISTING_BUDGET, listed
    walked = {start, *(p for p in start.parents if root in p.parents or p == root)}
    assert not walked & set(listed), listed
    inside_project = [p for p in listed if root in p.parents]
    assert all(root / ".venv" in p.parents for p in inside_project), listed


def test_reading_an_absent_module_declaration_costs_one_call_and_runs_nothing(
    projects: dict[tuple[int, int], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    start = projects[(2, 0)]
    walk = resolve(LaunchRequest(cwd=str(start), root_dir=project_root(start)), Settings())
    with recording(monkeypatch) as calls:
        after, env = with_modules(walk, {"PATH": "/usr/bin"}, ModuleSettings())
    assert calls.seen == [("open", str(project_root(start) / ".venv" / DECLARATION_NAME))]
    assert calls.subprocesses == []
    assert after == walk and env == {"PATH": "/usr/bin"}


# -- the same, seen by the kernel: system calls of a separate process --------------------

_TRACED = (
    "trace=openat,open,stat,lstat,newfstatat,statx,access,faccessat,faccessat2,"
    "readlink,readlinkat,getdents64"
)


def traced_calls(start: Path, strace: str, tmp_path: Path) -> list[str]:
    """The system calls naming a path under the project, in the second (warm) launch."""
    marker = "project-kernels-walk-cost-marker"
    program = tmp_path / "traced.py"
    program.write_text(
        "from test_walk_cost import launch_path\nimport os, sys\nfrom pathlib import Path\n"
        "launch_path(Path(sys.argv[1]))\n"
        f"try:\n    os.stat('/{marker}')\nexcept OSError:\n    pass\n"
        "launch_path(Path(sys.argv[1]))\n"
    )
    log = tmp_path / "strace.log"
    done = subprocess.run(
        [
            strace,
            "-f",
            "-y",
            "-e",
            _TRACED,
            "-o",
            str(log),
            sys.executable,
            str(program),
            str(start),
        ],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0 and "ptrace" in done.stderr.lower():
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    after = next(i for i, line in enumerate(lines) if marker in line)
    root = str(project_root(start))
    return [line for line in lines[after + 1 :] if re.search(re.escape(root) + r"[/\">]", line)]


@pytest.mark.slow
def test_system_calls_agree(projects: dict[tuple[int, int], Path], tmp_path: Path) -> None:
    strace = sysdeps.strace()
    bare = traced_calls(projects[(10, 0)], strace, tmp_path)
    cluttered = traced_calls(projects[(10, 100)], strace, tmp_path)
    assert len(cluttered) == len(bare), "\n".join(cluttered)
    start = projects[(10, 100)]
    walked = {str(start), *(str(p) for p in start.parents)}
    listings = [line for line in cluttered if "getdents64(" in line]
    listed = {
        m.group(1) for line in listings if (m := re.search(r"getdents64\(\d+<([^>]*)>", line))
    }
    assert listed, "strace showed no listing at all (inspection lists the environment's lib)"
    assert not walked & listed, listings
    shallow = traced_calls(projects[(6, 0)], strace, tmp_path)
    per_level = (len(bare) - len(shallow)) / 4
    assert 0 < per_level <= PER_LEVEL_BUDGET, (len(bare), len(shallow))
