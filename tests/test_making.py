"""Made on first open: cloned uv projects and notebooks with inline packages, through a server.

Real uv (from PyPI, the test extra) locks real projects whose dependency is a local
package; the projects are "cloned": ``pyproject.toml`` and ``uv.lock``, no ``.venv``.
One real ``jupyter server`` with ``create_environments`` on serves every session; uv
is reached through a wrapper (``tool_paths``) that records each run, so the tests can
count builds, and can slow one down to restart a kernel in the middle of it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import pid_alive
from envfactory import make_env, uv
from jupyter import (
    PROJECT_KERNELS_CONFIG,
    ExecuteResult,
    JupyterServer,
    clean_environ,
    running_server,
    write_notebook,
)
from making import LOCAL, PREFIX, local_package, runs_in, until, uv_env, uv_project

pytestmark = pytest.mark.slow


@dataclass
class World:
    root: Path
    cache: Path
    inline: Path
    #: What the uv wrapper recorded: one line per run, "<cwd> <arguments>".
    runs: Path
    localdep: Path
    #: The wrapper, given to the server as c.ProjectKernels.tool_paths["uv"].
    tool: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("making")
    root = base / "root"
    root.mkdir()
    runs = base / "uv-runs.log"
    wrapper = base / "bin" / "uv"
    wrapper.parent.mkdir()
    # The real uv, recording each run; a project named slow-* takes 5 s more to sync.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$PWD $*" >> "{runs}"\n'
        'case "$PWD" in *slow-*) [ "$1" = sync ] && sleep 5 ;; esac\n'
        f'exec "{uv()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return World(root, base / "cache", base / "inline", runs, local_package(root), wrapper)


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    config = (
        PROJECT_KERNELS_CONFIG
        + "c.ProjectKernels.create_environments = True\n"
        + f"c.ProjectKernels.inline_cache_dir = {str(world.inline)!r}\n"
        + f"c.ProjectKernels.tool_paths = {{'uv': {str(world.tool)!r}}}\n"
    )
    env = {**uv_env(), "XDG_CACHE_HOME": str(world.cache)}
    with running_server(world.root, tmp_path_factory.mktemp("server"), config, env=env) as srv:
        yield srv


def uv_runs(world: World, project: Path, command: str) -> int:
    """How often the wrapper ran ``uv <command>`` in ``project``."""
    if not world.runs.exists():
        return 0
    lines = world.runs.read_text().splitlines()
    return sum(1 for line in lines if line.startswith(f"{project} {command}"))


def test_a_cloned_uv_project_runs_in_its_locked_environment_at_first_open(
    world: World, server: JupyterServer
) -> None:
    project = uv_project(world.root, "survey")
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:  # the server stays responsive while the environment is made
        while not done.is_set():
            response = server.session.get(server.url + "/api/status", timeout=10)
            assert response.ok
            samples.append(response.elapsed.total_seconds())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    kernel = server.kernel_for("survey/notebooks/analysis.ipynb")
    opened = time.monotonic() - started
    sampler.start()
    first = server.execute(kernel, LOCAL, timeout=300)
    done.set()
    sampler.join()
    # The person saw what was made and what uv printed, then was asked to run it again.
    assert "[project-kernels] Making the uv environment of" in first.stdout, first
    assert f"cd {project}; uv sync" in first.stdout
    assert "Installed" in first.stdout  # uv's own output
    # Then the second round, in the same cell: ipykernel added (the project lacks it).
    second_round = f"[project-kernels] Making ipykernel in {project / '.venv'}"
    assert second_round in first.stdout, first.stdout
    assert first.error is not None and first.error["ename"] == "EnvironmentReady", first
    assert f"the kernel now runs in {project / '.venv'}" in first.error["traceback"][0]
    assert runs_in(server, kernel, LOCAL).stdout.strip() == "42"
    assert runs_in(server, kernel).stdout.strip() == str(project / ".venv")
    assert opened < 10  # the session started at once, not after the build
    assert samples and max(samples) < 0.1, sorted(samples)[-5:]
    # ipykernel was added (the project does not depend on it), bytecode compiled.
    site = next((project / ".venv" / "lib").glob("python3*")) / "site-packages"
    assert list((site / "localdep" / "__pycache__").glob("*.pyc"))
    assert list((site / "ipykernel" / "__pycache__").glob("*.pyc"))
    assert uv_runs(world, project, "sync") == 1


def test_the_second_open_starts_at_once_in_the_made_environment(
    world: World, server: JupyterServer
) -> None:
    project = world.root / "survey"
    assert (project / ".venv").is_dir()  # made by the test before
    before = world.runs.read_text()
    kernel = server.kernel_for("survey/notebooks/second.ipynb")
    assert server.execute(kernel, PREFIX).stdout.strip() == str(project / ".venv")
    assert world.runs.read_text() == before  # no tool ran


def test_two_notebooks_opened_at_once_make_the_environment_once(
    world: World, server: JupyterServer
) -> None:
    project = uv_project(world.root, "shared")
    kernels: list[str] = []
    threads = [
        threading.Thread(
            target=lambda n=name: kernels.append(server.kernel_for(f"shared/notebooks/{n}"))
        )
        for name in ("a.ipynb", "b.ipynb")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kernels) == 2
    for kernel in kernels:
        assert runs_in(server, kernel).stdout.strip() == str(project / ".venv")
    assert uv_runs(world, project, "sync") == 1


def test_a_restart_during_the_build_waits_for_it(world: World, server: JupyterServer) -> None:
    project = uv_project(world.root, "slow-project")
    kernel = server.kernel_for("slow-project/notebooks/nb.ipynb")
    time.sleep(1)  # the build has begun (and takes 5 s more)
    assert server.restart(kernel).ok
    assert runs_in(server, kernel).stdout.strip() == str(project / ".venv")
    assert uv_runs(world, project, "sync") == 1


def test_no_kernel_outlives_its_server(world: World, tmp_path: Path) -> None:
    uv_project(world.root, "ended")
    config = PROJECT_KERNELS_CONFIG + "c.ProjectKernels.create_environments = True\n"
    env = {**uv_env(), "XDG_CACHE_HOME": str(world.cache)}
    with running_server(world.root, tmp_path, config, env=env) as srv:
        made = srv.kernel_for("ended/notebooks/nb.ipynb")
        runs_in(srv, made)  # the making kernel became the environment's
        waiting = srv.kernel_for("ended/notebooks/other.ipynb")  # a plain start, to compare
        pids = [
            int(runs_in(srv, k, "import os; print(os.getpid())").stdout) for k in (made, waiting)
        ]
        srv.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.5)
    assert not any(pid_alive(p) for p in pids)


def test_an_interrupt_stops_waiting_in_the_cell_not_the_build(
    world: World, server: JupyterServer
) -> None:
    project = uv_project(world.root, "slow-interrupted")
    kernel = server.kernel_for("slow-interrupted/notebooks/nb.ipynb")
    answers: list[ExecuteResult] = []
    waiting = threading.Thread(
        target=lambda: answers.append(server.execute(kernel, PREFIX, timeout=300))
    )
    waiting.start()
    time.sleep(2)  # the cell waits for the build, which takes 5 s more
    assert server.interrupt(kernel).ok
    waiting.join(60)
    assert answers and answers[0].error is not None, answers
    assert answers[0].error["ename"] == "KeyboardInterrupt"
    assert "still being made" in answers[0].error["traceback"][0]
    assert runs_in(server, kernel).stdout.strip() == str(project / ".venv")
    assert uv_runs(world, project, "sync") == 1


def test_a_failed_build_is_explained_nothing_half_made_is_used_and_it_is_tried_again(
    world: World, server: JupyterServer
) -> None:
    # Locked against a local package that is then gone: `uv sync` cannot build it. (A slow
    # build: the cell is run while it happens, as a person opening the notebook would.)
    missing = local_package(world.root, "brokendep", value=7)
    project = uv_project(world.root, "slow-broken", "brokendep", source="../brokendep")
    shutil.rmtree(missing)
    kernel = server.kernel_for("slow-broken/notebooks/nb.ipynb")
    first = server.execute(kernel, LOCAL, timeout=300)
    assert first.error is not None and first.error["ename"] == "EnvironmentNotMade", first
    told = first.stdout + "\n".join(first.error["traceback"])
    assert "`cd " in told and "uv sync` exited with code" in told
    assert "brokendep" in told  # uv's own words about what is missing
    assert f"Run by hand to see more: cd {project}; uv sync" in told
    assert not (project / ".venv").exists()  # what uv began is gone
    # The kernel is now the explaining one (on_missing = notice): it runs the server's Python.
    notice = runs_in(server, kernel)
    assert notice.stdout.strip() == sys.prefix
    assert "Not made automatically: Making the uv environment" in notice.stderr
    # Repaired, the next start tries again and succeeds.
    local_package(world.root, "brokendep", value=7)
    assert server.restart(kernel).ok
    assert runs_in(server, kernel, "import brokendep; print(brokendep.VALUE)").stdout.strip() == "7"
    assert uv_runs(world, project, "sync") == 2


def test_an_untrusted_project_is_explained_and_never_built(
    world: World, server: JupyterServer
) -> None:
    project = uv_project(world.root, "untrusted")
    pyproject = project / "pyproject.toml"
    pyproject.chmod(pyproject.stat().st_mode | stat.S_IWOTH)
    before = sorted(p.name for p in project.rglob("*"))
    kernel = server.kernel_for("untrusted/notebooks/nb.ipynb")
    result = runs_in(server, kernel)
    assert result.stdout.strip() == sys.prefix  # the server's Python, with the notice
    assert f"The project file {pyproject} is writable by everyone" in result.stderr
    assert "so it is not made automatically" in result.stderr
    assert uv_runs(world, project, "") == 0
    assert sorted(p.name for p in project.rglob("*")) == before  # nothing written into it


def test_ipykernel_is_added_to_an_environment_that_lacks_it(
    world: World, server: JupyterServer
) -> None:
    env = world.root / "plain" / ".venv"
    make_env(env, "uv", ipykernel=False)
    kernel = server.kernel_for("plain/nb.ipynb")
    assert runs_in(server, kernel).stdout.strip() == str(env)
    assert uv_runs(world, world.root / "plain", "pip install --python") == 1


BLOCK = (
    '# /// script\n# requires-python = ">=3.9"\n# dependencies = [\n'
    '#   "localdep @ file://{root}/localdep",\n# ]\n# ///\n'
)


def test_notebooks_declaring_their_packages_share_one_environment_per_block(
    world: World, server: JupyterServer
) -> None:
    block = BLOCK.format(root=world.root)
    write_notebook(world.root / "inline" / "a.ipynb", block + "import localdep")
    write_notebook(world.root / "inline" / "b.ipynb", block + "print('other code')")
    first = server.kernel_for("inline/a.ipynb")
    shown = server.execute(first, LOCAL, timeout=300)
    assert "the script block of a.ipynb" in shown.stdout, shown
    made = runs_in(server, first).stdout.strip()
    assert Path(made).parent == world.inline
    assert runs_in(server, first, LOCAL).stdout.strip() == "42"
    # Same block: the same environment, and no build (the first cell runs at once).
    second = server.kernel_for("inline/b.ipynb")
    answer = server.execute(second, PREFIX)
    assert answer.status == "ok" and answer.stdout.strip() == made
    assert uv_runs(world, world.root / "inline", "venv") == 1
    # An edited block gets a new environment at the next restart.
    local_package(world.root / "more", "extra", value=5)
    edited = block.replace("# ]", f'#   "extra @ file://{world.root}/more/extra",\n# ]')
    write_notebook(world.root / "inline" / "b.ipynb", edited + "import extra")
    assert server.restart(second).ok
    other = runs_in(server, second, "import extra, sys; print(extra.VALUE, sys.prefix)")
    value, prefix = other.stdout.split()
    assert value == "5" and Path(prefix).parent == world.inline and prefix != made


def test_which_reports_the_inline_environment(world: World, server: JupyterServer) -> None:
    notebook = world.root / "inline" / "a.ipynb"
    config = world.root.parent / "which-config"
    config.mkdir(exist_ok=True)
    (config / "jupyter_server_config.py").write_text(
        f"c.ProjectKernels.create_environments = True\n"
        f"c.ProjectKernels.inline_cache_dir = {str(world.inline)!r}\n"
    )
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "XDG_CACHE_HOME": str(world.cache)}
    shown = subprocess.run(
        [sys.executable, "-m", "project_kernels", "which", "--json", str(notebook)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    report = json.loads(shown.stdout)
    assert report["inline"]["used"] is True
    assert report["inline"]["dependencies"] == [f"localdep @ file://{world.root}/localdep"]
    assert Path(report["environment"]["path"]).parent == world.inline
    (config / "jupyter_server_config.py").write_text("")
    off = subprocess.run(
        [sys.executable, "-m", "project_kernels", "which", str(notebook)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "declares its own packages" in " ".join(off.stdout.split())


def test_without_the_setting_the_notebook_says_what_to_run_and_it_runs_from_a_cell(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    local_package(root)
    project = uv_project(root, "survey")
    with running_server(root, tmp_path, PROJECT_KERNELS_CONFIG, env=uv_env()) as srv:
        kernel = srv.kernel_for("survey/notebooks/nb.ipynb")
        result = srv.execute(kernel, "print(40 + 2)")
        assert result.stdout.strip() == "42"  # the notebook's code runs, as stock would
        assert f"Fix: Make it: cd {project}; uv sync" in result.stderr
        assert "runs in the Jupyter server's own Python" in result.stderr
        assert srv.execute(kernel, "print(1)").stderr == ""  # said once
        # Each fix runs from a cell exactly as printed (uv is reachable there).
        made = srv.execute(kernel, f"!cd {project}; uv sync", timeout=300)
        assert made.status == "ok" and (project / ".venv").is_dir(), made
        assert srv.restart(kernel).ok
        refused = until(lambda: refusal(srv, kernel))
        fix = fix_line(refused)
        assert fix.startswith("uv pip install --python ")
        assert srv.execute(kernel, f"!{fix}", timeout=300).status == "ok"
        assert srv.restart(kernel).ok
        assert runs_in(srv, kernel, LOCAL).stdout.strip() == "42"
        assert runs_in(srv, kernel).stdout.strip() == str(project / ".venv")


def refusal(server: JupyterServer, kernel: str) -> ExecuteResult | None:
    """The explaining kernel's answer to a line of Python, once it is the one answering."""
    result = server.execute(kernel, "1 + 1", timeout=60)
    return result if result.error and result.error["ename"] == "EnvironmentUnusable" else None


def fix_line(result: ExecuteResult) -> str:
    """The command of the explanation's ``Fix:`` line."""
    assert result.error is not None
    text = "\n".join(result.error["traceback"])
    line = next(line for line in text.splitlines() if line.startswith("Fix:"))
    return line.split(": ", 2)[-1]


def test_nbconvert_makes_the_environment_before_the_kernel_starts(
    world: World, tmp_path: Path
) -> None:
    project = uv_project(world.root, "batch")
    notebook = project / "notebooks" / "report.ipynb"
    write_notebook(notebook, LOCAL + "; import sys; print(sys.prefix)")
    env = {
        **clean_environ(),
        **uv_env(),
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels",
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(world.cache),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ProjectKernels.create_environments=True",
            "--output-dir",
            str(tmp_path),
            str(notebook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    executed = nbformat.read(tmp_path / "report.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[0].outputs).split()
    assert printed == ["42", str(project / ".venv")]
    assert "uv sync" in done.stderr  # the tools' output went to the log


def test_fix_makes_the_environment_from_the_command_line(world: World, tmp_path: Path) -> None:
    project = uv_project(world.root, "cli-project")
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text("")
    env = {
        **os.environ,
        **uv_env(),
        "JUPYTER_CONFIG_DIR": str(config),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "project_kernels", "fix", str(project / "notebooks")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"$ cd {project}; uv sync" in done.stderr  # what it ran, and the tool's output
    assert "$ uv pip install --python" in done.stderr
    said = " ".join(done.stdout.split())
    assert f"Made the uv environment of {project} (uv.lock)" in said
    assert f"OK: the kernel launches from {project / '.venv' / 'bin' / 'python'}" in said
    again = subprocess.run(
        [sys.executable, "-m", "project_kernels", "fix", str(project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert again.returncode == 0 and again.stderr == ""  # nothing left to do
    shutil.rmtree(project / ".venv")
