"""Warm kernels, through real jupyter servers: the next notebook in an environment is handed a
kernel started before it asked, which is in every way the kernel a cold start would give it.

One server with ``warm_kernels = 1`` over two real environments serves most tests; the
bounds and the ends of servers each need a server of their own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import pid_alive
from envfactory import make_env, run, uv
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server

pytestmark = pytest.mark.slow

WARM_CONFIG = PROJECT_KERNELS_CONFIG + "c.ProjectKernels.warm_kernels = 1\n"
#: A warm kernel at nice 19 on a busy machine may take long to get ready.
READY_WITHIN = 300.0

READY = re.compile(r"a warm kernel from (\S+) is ready \(pid (\d+)")
HANDED = re.compile(r"is a warm kernel from (\S+) \(pid (\d+)")
DISCARDED = re.compile(r"discarded the warm kernel from (\S+) \(pid (\d+)\): (.*)")

STATE = """
import json, os, sys
def _nice(stat):
    return int(open(stat).read().rsplit(') ', 1)[1].split()[16])
print(json.dumps({
    'pid': os.getpid(), 'cwd': os.getcwd(), 'environ': dict(os.environ), 'path': sys.path,
    'argv': sys.argv, 'orig_argv': sys.orig_argv, 'prefix': sys.prefix,
    'session': globals().get('__session__'), 'leaked': 'leaked' in globals(),
    'modules': sorted(sys.modules),
    'nice': sorted({_nice(f'/proc/self/task/{t}/stat') for t in os.listdir('/proc/self/task')}),
    'autogroup': open('/proc/self/autogroup').read().split()[-1],
}))
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A server root with two project environments, ``a/.venv`` and ``b/.venv``."""
    root = tmp_path_factory.mktemp("warm") / "root"
    for name in ("a", "b"):
        make_env(root / name / ".venv", "uv")
    return root


@pytest.fixture(scope="module")
def server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_server(root, tmp_path_factory.mktemp("server"), WARM_CONFIG) as srv:
        yield srv


def state(server: JupyterServer, kernel_id: str, before: str = "") -> dict[str, object]:
    """What the kernel's process is like (after running ``before``)."""
    result = server.execute(kernel_id, before + "\n" + STATE)
    assert result.status == "ok", (result, server.log())
    return dict(json.loads(result.stdout))


def start(server: JupyterServer, notebook: str) -> str:
    (server.root / notebook).parent.mkdir(parents=True, exist_ok=True)
    return server.kernel_for(notebook)


def waiting_warm_kernel(server: JupyterServer, environment: Path) -> int:
    """The pid of a warm kernel of ``environment`` that is ready and waiting (waits for one)."""
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        log = server.log()
        gone = {int(pid) for _, pid in HANDED.findall(log)}
        gone |= {int(pid) for _, pid, _ in DISCARDED.findall(log)}
        waiting = [
            int(pid)
            for env, pid in READY.findall(log)
            if env == str(environment) and int(pid) not in gone and pid_alive(int(pid))
        ]
        if waiting:
            return waiting[-1]
        time.sleep(0.2)
    raise AssertionError(f"no warm kernel of {environment} got ready:\n{server.log()}")


def children(server: JupyterServer) -> dict[int, list[str]]:
    """The server's child processes and their commands."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode().split("\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == server.process.pid:
            found[int(entry)] = argv
    return found


def launchers(server: JupyterServer, environment: Path | None = None) -> list[int]:
    """The server's children that started as warm kernels (of ``environment``)."""
    return [
        pid
        for pid, argv in children(server).items()
        if any(a.endswith("warm/launcher.py") for a in argv)
        and (environment is None or argv[0] == str(environment / "bin" / "python"))
    ]


def warm_kernel_of(server: JupyterServer, environment: Path) -> int:
    """A ready warm kernel of ``environment``: one started for it, else one made to start."""
    log = server.log()
    used = {int(pid) for _, pid in HANDED.findall(log)}
    used |= {int(pid) for _, pid, _ in DISCARDED.findall(log)}
    if not set(launchers(server, environment)) - used:
        start(server, f"{environment.parent.name}/warming.ipynb")
    return waiting_warm_kernel(server, environment)


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """The pids still alive after waiting ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if pid_alive(p)]


def test_the_next_notebook_in_an_environment_gets_a_warm_kernel_equal_to_a_cold_one(
    root: Path, server: JupyterServer
) -> None:
    env = root / "a" / ".venv"
    first = start(server, "a/one/first.ipynb")
    cold = state(server, first)
    state(server, first, "leaked = 1; import os; os.environ['LEAKED'] = '1'")
    warm_pid = waiting_warm_kernel(server, env)
    # While it waits, it yields the CPU to anything else (Linux's session groups).
    assert Path(f"/proc/{warm_pid}/autogroup").read_text().split()[-1] == "19"

    second = start(server, "a/two/second.ipynb")
    warm = state(server, second)

    notebook = str(root / "a" / "two" / "second.ipynb")
    assert warm["pid"] == warm_pid
    assert f"the kernel for {notebook} is a warm kernel from {env} (pid {warm_pid}" in server.log()
    assert warm["cwd"] == str(root / "a" / "two")
    assert warm["prefix"] == str(env)
    assert warm["session"] == notebook
    environ = warm["environ"]
    assert isinstance(environ, dict)
    assert environ["JPY_SESSION_NAME"] == notebook
    assert environ["VIRTUAL_ENV"] == str(env)
    assert not warm["leaked"] and "LEAKED" not in environ
    # As a cold start would be, apart from what names the notebook and its connection file.
    cold_environ = cold["environ"]
    assert isinstance(cold_environ, dict)
    assert {**environ, "JPY_SESSION_NAME": ""} == {**cold_environ, "JPY_SESSION_NAME": ""}
    assert warm["path"] == cold["path"]
    for key in ("argv", "orig_argv"):
        assert [a for a in warm[key] if "kernel-" not in a] == [  # type: ignore[attr-defined]
            a
            for a in cold[key]  # type: ignore[attr-defined]
            if "kernel-" not in a
        ]
    assert not set(warm["modules"]) - set(cold["modules"])  # type: ignore[call-overload]
    assert warm["nice"] == cold["nice"] == [0]
    assert warm["autogroup"] == cold["autogroup"]


def test_a_warm_kernel_is_interrupted_and_restarted_as_usual(
    root: Path, server: JupyterServer
) -> None:
    env = root / "a" / ".venv"
    warm_pid = warm_kernel_of(server, env)
    kernel = start(server, "a/three/nb.ipynb")
    assert state(server, kernel)["pid"] == warm_pid

    result, seconds = server.interrupted_sleep(kernel)
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
    assert seconds < 30

    state(server, kernel, "leaked = 1")
    assert server.restart(kernel).ok
    after = state(server, kernel)
    assert after["pid"] != warm_pid and not after["leaked"]
    assert after["cwd"] == str(root / "a" / "three")
    assert after["prefix"] == str(env)
    assert after["session"] == str(root / "a" / "three" / "nb.ipynb")


def test_a_package_installed_after_warming_is_importable_in_the_next_notebook(
    root: Path, server: JupyterServer, tmp_path: Path
) -> None:
    env = root / "a" / ".venv"
    warm_pid = warm_kernel_of(server, env)
    package = tmp_path / "fresh"
    (package / "fresh_pkg").mkdir(parents=True)
    (package / "fresh_pkg" / "__init__.py").write_text("VALUE = 42\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "fresh-pkg"\nversion = "1.0"\n'
    )
    # Editable: a .pth file, which only an interpreter started after it was written reads.
    run(uv(), "pip", "install", "--quiet", "--python", env / "bin" / "python", "-e", package)

    kernel = start(server, "a/four/nb.ipynb")
    result = server.execute(kernel, "import fresh_pkg, os; print(fresh_pkg.VALUE, os.getpid())")
    assert result.status == "ok", (result, server.log())
    value, pid = result.stdout.split()
    assert value == "42" and int(pid) != warm_pid
    assert (
        f"discarded the warm kernel from {env} (pid {warm_pid}): the environment changed"
        in server.log()
    )
    assert not pid_alive(warm_pid)


def test_a_notebook_in_another_environment_is_never_handed_this_ones_warm_kernel(
    root: Path, server: JupyterServer
) -> None:
    warm_pid = warm_kernel_of(server, root / "a" / ".venv")
    other = state(server, start(server, "b/nb.ipynb"))
    assert other["prefix"] == str(root / "b" / ".venv")
    assert other["pid"] != warm_pid
    assert pid_alive(warm_pid)  # still waiting for the next notebook of a/


def test_a_warm_kernel_that_died_while_waiting_leaves_the_next_start_to_a_cold_kernel(
    root: Path, server: JupyterServer
) -> None:
    env = root / "a" / ".venv"
    warm_pid = warm_kernel_of(server, env)
    os.kill(warm_pid, signal.SIGKILL)
    noticed = f"the warm kernel from {env} (pid {warm_pid}) exited with code -9"
    deadline = time.monotonic() + 10
    while noticed not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert noticed in server.log()
    kernel = start(server, "a/six/nb.ipynb")
    after = state(server, kernel)
    assert after["pid"] != warm_pid and after["prefix"] == str(env)


def test_an_environment_that_may_no_longer_run_loses_its_warm_kernels(
    root: Path, server: JupyterServer
) -> None:
    env = root / "a" / ".venv"
    warm_pid = warm_kernel_of(server, env)
    env.chmod(0o777)  # writable by anyone: refused by the trust checks
    try:
        kernel = start(server, "a/five/nb.ipynb")
        result = server.execute(kernel, "1")
        assert result.error is not None and "writable by everyone" in str(result.error), result
    finally:
        env.chmod(0o755)
    assert f"discarded the warm kernel from {env} (pid {warm_pid})" in server.log()
    assert gone_within([warm_pid], 10) == []


def test_without_warm_kernels_nothing_is_prestarted(root: Path, tmp_path: Path) -> None:
    with running_server(root, tmp_path, PROJECT_KERNELS_CONFIG) as server:
        kernel = start(server, "a/nb.ipynb")
        assert state(server, kernel)["prefix"] == str(root / "a" / ".venv")
        time.sleep(1)
        assert launchers(server) == []
        assert "warm kernel" not in server.log()


def test_warm_kernels_are_bounded_and_the_least_recently_used_environment_gives_way(
    root: Path, tmp_path: Path
) -> None:
    config = WARM_CONFIG + "c.ProjectKernels.warm_kernels_max = 1\n"
    with running_server(root, tmp_path, config) as server:
        start(server, "a/nb.ipynb")
        a_pid = waiting_warm_kernel(server, root / "a" / ".venv")
        start(server, "b/nb.ipynb")
        b_pid = waiting_warm_kernel(server, root / "b" / ".venv")
        assert f"(pid {a_pid}): making room for a warm kernel from {root / 'b' / '.venv'}" in (
            server.log()
        )
        assert gone_within([a_pid], 10) == []
        assert launchers(server) == [b_pid]
        everything = launchers(server)
    # Stopped as usual (SIGINT), the server takes its warm kernels with it.
    assert gone_within(everything, 10) == []


def test_an_unused_warm_kernel_ends_after_warm_idle_timeout(root: Path, tmp_path: Path) -> None:
    config = WARM_CONFIG + "c.ProjectKernels.warm_idle_timeout = 2\n"
    with running_server(root, tmp_path, config) as server:
        start(server, "a/nb.ipynb")
        deadline = time.monotonic() + 30
        while "not used within 2 s" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        (pid,) = (int(p) for _, p, why in DISCARDED.findall(server.log()) if "not used" in why)
        assert gone_within([pid], 10) == []


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_warm_kernel_outlives_a_server_that_is_killed(
    how: signal.Signals, root: Path, tmp_path: Path
) -> None:
    with running_server(root, tmp_path, WARM_CONFIG) as server:
        start(server, "a/nb.ipynb")
        deadline = time.monotonic() + 30
        while not launchers(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        warm, everything = launchers(server), list(children(server))
        assert warm, server.log()
        server.process.send_signal(how)
        try:
            server.process.wait(20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not end on {how.name}:\n{server.log()}")
    try:
        # Whatever it was doing (importing or waiting), the server's end is its end.
        assert gone_within(warm, 10) == []
        if how is signal.SIGTERM:  # the kernel too; after SIGKILL that is ipykernel's business
            assert gone_within(everything, 10) == []
    finally:
        for pid in gone_within(everything, 5):
            os.killpg(pid, signal.SIGKILL)
