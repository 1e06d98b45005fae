"""Every unusable environment explains itself inside the notebook, and can be repaired from there.

Each failure class is built for real (a venv without ipykernel, an old ipykernel, a base
Python that disappeared, Python 2.7 and 3.6, an interpreter that is not executable or not
for this machine, an unreadable or garbage environment, an interpreter that dies at start,
things named like environments that are not). The tests read what a person reads: the
fallback kernel's answer to a cell, or the HTTP error text in ``error`` mode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import pid_alive
from envfactory import install, make_env, pyenv_python, run
from jupyter import PROJECT_KERNELS_CONFIG, ExecuteResult, JupyterServer, running_server

pytestmark = pytest.mark.slow

HEADLINE = "The project environment for this notebook cannot run a kernel."
PREFIX = "import sys; print(sys.prefix)"


def until(check: Callable[[], ExecuteResult | None], timeout: float = 90) -> ExecuteResult:
    """Retry ``check`` until it returns a result (kernels restart asynchronously)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # the kernel may be between processes
            last = error
            result = None
        if result is not None:
            return result
        time.sleep(1)
    raise TimeoutError(f"gave up waiting: {last!r}")


def explanation(server: JupyterServer, kernel: str) -> str:
    """What the fallback kernel answers to a line of Python."""

    def refused() -> ExecuteResult | None:
        result = server.execute(kernel, "1 + 1", timeout=30)
        if result.error and result.error["ename"] == "EnvironmentUnusable":
            return result
        return None

    error = until(refused).error
    assert error is not None
    return "\n".join(error["traceback"])


def prefix(server: JupyterServer, kernel: str) -> str:
    result = server.execute(kernel, PREFIX)
    assert result.status == "ok", (result, server.log()[-3000:])
    return result.stdout.strip()


def fix_command(message: str) -> str:
    """The command after 'Fix: ...: ' in the explanation."""
    line = next(line for line in message.splitlines() if line.startswith("Fix:"))
    return line.split(": ", 2)[-1].strip("`")


# --- building each failure for real -------------------------------------------------------


def venv_without_ipykernel(project: Path) -> Path:
    make_env(project / "no-ipykernel" / ".venv", "venv", ipykernel=False)
    return project / "no-ipykernel"


def venv_with_old_ipykernel(project: Path) -> Path:
    python = make_env(project / "old-ipykernel" / ".venv", "venv", ipykernel=False)
    install(python, "ipykernel==5.5.6")
    return project / "old-ipykernel"


def venv_whose_base_is_gone(project: Path, tmp: Path) -> tuple[Path, Path, Path]:
    """A venv made from a Python reached through a link; removing the link removes the base."""
    real = Path(sys.base_prefix)
    link = tmp / "base-python"
    link.symlink_to(real)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = link / "bin" / f"python{version}"
    make_env(project / "base-gone" / ".venv", "venv", python=base, ipykernel=True)
    link.unlink()
    return project / "base-gone", link, real


def venv_of_old_python(project: Path, version: str) -> Path | None:
    python = pyenv_python(version)
    if python is None:
        return None
    env = project / f"python{version}" / ".venv"
    if version.startswith("2"):
        # Python 2 has no venv module; build the layout virtualenv/venv would, by hand.
        (env / "bin").mkdir(parents=True)
        (env / "bin" / "python").symlink_to(python)
        (env / "lib" / "python2.7" / "site-packages").mkdir(parents=True)
        (env / "pyvenv.cfg").write_text(f"home = {python.parent}\nversion = 2.7.18\n")
    else:
        run(python, "-m", "venv", "--without-pip", env)
    return env.parent


def venv_not_executable(project: Path) -> Path:
    env = project / "not-executable" / ".venv"
    run(sys.executable, "-m", "venv", "--copies", "--without-pip", env)
    for exe in (env / "bin").glob("python*"):
        exe.chmod(0o644)
    return env.parent


def venv_for_another_machine(project: Path) -> Path:
    env = project / "foreign" / ".venv"
    run(sys.executable, "-m", "venv", "--copies", "--without-pip", env)
    # An ELF executable for 64-bit ARM (e_machine 183) or, on ARM, for x86-64 (62).
    machine = 62 if os.uname().machine in ("aarch64", "arm64") else 183
    header = b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little")
    header += machine.to_bytes(2, "little") + (1).to_bytes(4, "little") + bytes(40)
    for exe in (env / "bin").glob("python*"):
        exe.write_bytes(header)
        exe.chmod(0o755)
    with pytest.raises(OSError, match="Exec format error"):
        subprocess.run([str(env / "bin" / "python"), "-V"], check=False)
    return env.parent


def venv_with_garbage_cfg(project: Path) -> Path:
    env = project / "garbage" / ".venv"
    make_env(env, "venv", ipykernel=False)
    (env / "pyvenv.cfg").write_bytes(bytes(range(256)) * 4)
    return env.parent


def venv_that_dies_at_start(project: Path) -> Path:
    """A venv whose ipykernel install is damaged: the interpreter runs, the kernel dies."""
    python = make_env(project / "dies" / ".venv", "venv")
    site = next((project / "dies" / ".venv" / "lib").glob("python*/site-packages"))
    damaged = site / "ipykernel" / "kernelapp.py"
    # uv hard-links installed files to its cache: replace the file, never write through it.
    damaged.unlink()
    damaged.write_text("raise RuntimeError('damaged ipykernel')\n")
    assert subprocess.run([str(python), "-c", "pass"]).returncode == 0
    launch = [str(python), "-m", "ipykernel_launcher", "--help"]
    assert subprocess.run(launch, capture_output=True).returncode != 0
    return project / "dies"


# --- the fallback kernel explains each class --------------------------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """One project tree holding one broken environment per failure class."""
    tmp = tmp_path_factory.mktemp("broken")
    root = tmp / "root"
    root.mkdir()
    venv_without_ipykernel(root)
    venv_with_old_ipykernel(root)
    venv_whose_base_is_gone(root, tmp)
    venv_of_old_python(root, "3.6")
    venv_of_old_python(root, "2.7")
    venv_not_executable(root)
    venv_for_another_machine(root)
    venv_with_garbage_cfg(root)
    yield root, tmp


EXPECTED = {
    "no-ipykernel": ("ipykernel is not installed in", "-m pip install ipykernel"),
    "old-ipykernel": (
        "has ipykernel 5.5.6; this Jupyter server needs ipykernel 6.0 or newer",
        "-m pip install --upgrade ipykernel",
    ),
    "base-gone": ("is gone", "-m venv --clear"),
    "python3.6": ("uses Python 3.6.15", "newer Python"),
    "python2.7": ("uses Python 2.7.18", "newer Python"),
    "not-executable": ("is not executable by you", "chmod +x"),
    "foreign": (
        "is not a program this machine can run",
        "Recreate the environment on this machine",
    ),
    "garbage": ("is not a text file of 'key = value' lines", "-m venv --clear"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_the_fallback_kernel_explains(case: str, broken: tuple[Path, Path]) -> None:
    root, tmp = broken
    if not (root / case).exists():
        pytest.skip(f"{case}: the interpreter it needs is not on this machine")
    with running_server(root, tmp, PROJECT_KERNELS_CONFIG) as server:
        kernel = server.kernel_for(f"{case}/notebook.ipynb")
        message = explanation(server, kernel)
        problem, fix = EXPECTED[case]
        assert message.startswith(HEADLINE)
        assert f"Environment: {root / case / '.venv'}" in message
        assert problem in message
        assert fix in message
        assert f"project-kernels doctor {root / case}" in message
        # Shell commands still run, in the broken environment's activated variables.
        shell = server.execute(kernel, "!echo $VIRTUAL_ENV")
        assert shell.stdout.strip() == str(root / case / ".venv")


def test_error_mode_fails_the_start_with_the_same_text(broken: tuple[Path, Path]) -> None:
    root, tmp = broken
    config = PROJECT_KERNELS_CONFIG + 'c.ProjectKernels.on_unusable = "error"\n'
    with running_server(root, tmp, config) as server:
        for case, (problem, fix) in EXPECTED.items():
            if not (root / case).exists():
                continue
            response = server.start_session(f"{case}/nb.ipynb")
            assert response.status_code == 500, (case, response.text)
            text = response.json()["message"]
            assert HEADLINE in text and problem in text and fix in text, (case, text)
        # The server stays healthy and other notebooks still start.
        assert server.request("GET", "/api/status").ok
        assert prefix(server, server.kernel_for("elsewhere/nb.ipynb")) == sys.prefix


def test_warn_mode_runs_the_servers_python_and_logs_why(broken: tuple[Path, Path]) -> None:
    root, tmp = broken
    config = PROJECT_KERNELS_CONFIG + 'c.ProjectKernels.on_unusable = "warn"\n'
    with running_server(root, tmp, config) as server:
        kernel = server.kernel_for("no-ipykernel/nb.ipynb")
        assert prefix(server, kernel) == sys.prefix
        assert "ipykernel is not installed in" in server.log()


def test_unreadable_environment_explains_itself(project: Path, tmp_path: Path) -> None:
    env = project / "locked" / ".venv"
    make_env(env, "venv", ipykernel=False)
    env.chmod(0o000)
    # Root reads everything; run the server without the capabilities that let it.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to make permissions bite")
    try:
        with running_server(project, tmp_path, PROJECT_KERNELS_CONFIG, wrap=drop) as server:
            message = explanation(server, server.kernel_for("locked/nb.ipynb"))
            assert f"Permission denied reading {env / 'pyvenv.cfg'}" in message
            assert f"chmod -R u+rX,go+rX {env}" in message
    finally:
        env.chmod(0o755)


# --- repaired from the notebook, the restarted kernel lands in the environment -----------


def test_installing_ipykernel_from_a_cell_then_restarting(
    project: Path, server: JupyterServer
) -> None:
    venv_without_ipykernel(project)
    kernel = server.kernel_for("no-ipykernel/analysis.ipynb")
    fix = fix_command(explanation(server, kernel))
    assert (
        fix == f"{project / 'no-ipykernel' / '.venv' / 'bin' / 'python'} -m pip install ipykernel"
    )
    result = server.execute(kernel, f"!{fix}", timeout=300)
    assert result.status == "ok", result
    assert server.restart(kernel).ok
    assert prefix(server, kernel) == str(project / "no-ipykernel" / ".venv")


def test_upgrading_an_old_ipykernel_from_a_cell(project: Path, server: JupyterServer) -> None:
    venv_with_old_ipykernel(project)
    kernel = server.kernel_for("old-ipykernel/nb.ipynb")
    fix = fix_command(explanation(server, kernel))
    result = server.execute(kernel, f"!{fix}", timeout=300)
    assert result.status == "ok", result
    assert server.restart(kernel).ok
    assert prefix(server, kernel) == str(project / "old-ipykernel" / ".venv")


def test_the_oldest_supported_ipykernel_really_runs(project: Path, server: JupyterServer) -> None:
    # ipykernel 6.0 predates Python 3.12 (it needs distutils): check it on the Python it supports.
    base = pyenv_python("3.11") or (sys.executable if sys.version_info < (3, 12) else None)
    if base is None:
        pytest.skip("no Python 3.11 or older to run ipykernel 6.0 on")
    python = make_env(project / ".venv", "venv", python=base, ipykernel=False)
    # ipykernel 6.0.x imports ipython_genutils without declaring it.
    install(python, "ipykernel==6.0.3", "ipython_genutils")
    kernel = server.kernel_for("nb.ipynb")
    result = server.execute(
        kernel, "import ipykernel, sys; print(ipykernel.__version__, sys.prefix)"
    )
    assert result.stdout.split() == ["6.0.3", str(project / ".venv")], result


def test_a_base_python_that_comes_back(
    project: Path, tmp_path: Path, server: JupyterServer
) -> None:
    directory, link, real = venv_whose_base_is_gone(project, tmp_path)
    kernel = server.kernel_for("base-gone/nb.ipynb")
    message = explanation(server, kernel)
    assert f"The Python it was made from, {link / 'bin'}, is gone" in message
    assert "pin-modules" in message  # on a cluster, the usual cause is a module not loaded
    link.symlink_to(real)
    assert server.restart(kernel).ok
    assert prefix(server, kernel) == str(directory / ".venv")


def test_recreating_an_environment_of_a_too_old_python(
    project: Path, server: JupyterServer
) -> None:
    if venv_of_old_python(project, "3.6") is None:
        pytest.skip("no Python 3.6 under pyenv")
    kernel = server.kernel_for("python3.6/nb.ipynb")
    assert "uses Python 3.6" in explanation(server, kernel)
    shutil.rmtree(project / "python3.6" / ".venv")  # what the fix says: --clear, newer Python
    make_env(project / "python3.6" / ".venv", "venv")
    assert server.restart(kernel).ok
    assert prefix(server, kernel) == str(project / "python3.6" / ".venv")


# --- an interpreter that starts and dies at once ------------------------------------------


def test_an_interpreter_that_dies_at_start_ends_in_the_explanation(
    project: Path, server: JupyterServer
) -> None:
    venv_that_dies_at_start(project)
    kernel = server.kernel_for("dies/nb.ipynb")
    message = explanation(server, kernel)
    assert "starts but exits at once" in message
    assert "RuntimeError: damaged ipykernel" in message
    assert f"project-kernels doctor {project / 'dies'}" in message
    log = server.log()
    assert f"the kernel from {project / 'dies' / '.venv'}" in log
    assert "damaged ipykernel" in log
    install(project / "dies" / ".venv" / "bin" / "python", "--reinstall", "ipykernel")
    assert server.restart(kernel).ok
    assert prefix(server, kernel) == str(project / "dies" / ".venv")


def test_in_error_mode_the_restarter_gives_up_and_the_next_start_explains(
    project: Path, tmp_path: Path
) -> None:
    venv_that_dies_at_start(project)
    config = PROJECT_KERNELS_CONFIG + 'c.ProjectKernels.on_unusable = "error"\n'
    with running_server(project, tmp_path, config) as server:
        kernel = server.kernel_for("dies/nb.ipynb")

        def gone() -> ExecuteResult | None:
            response = server.request("GET", f"/api/kernels/{kernel}")
            return ExecuteResult(status="gone") if response.status_code == 404 else None

        until(gone, timeout=120)
        assert "restart failed" in server.log()
        response = server.start_session("dies/again.ipynb")
        assert response.status_code == 500, server.log()
        assert "damaged ipykernel" in response.json()["message"]
        assert server.request("GET", "/api/status").ok


# --- things named like environments that are not ------------------------------------------


def test_lookalikes_are_skipped_and_the_walk_goes_on(project: Path, server: JupyterServer) -> None:
    make_env(project / ".venv")
    inner = project / "inner"
    (inner / "venv").mkdir(parents=True)
    (inner / ".venv").write_text("not an environment\n")
    kernel = server.kernel_for("inner/nb.ipynb")
    assert prefix(server, kernel) == str(project / ".venv")
    doctor = subprocess.run(
        [sys.executable, "-m", "project_kernels", "doctor", str(inner), "--root-dir", str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doctor.returncode == 0, doctor.stderr
    assert "skipped .venv: is a file, not a directory" in doctor.stdout
    assert "skipped venv: is a directory without pyvenv.cfg" in doctor.stdout


# --- nothing is left behind ---------------------------------------------------------------


def test_broken_and_working_notebooks_side_by_side_leave_no_process(
    project: Path, tmp_path: Path
) -> None:
    venv_without_ipykernel(project)
    make_env(project / "good" / ".venv")
    with running_server(project, tmp_path, PROJECT_KERNELS_CONFIG) as server:
        broken_kernel = server.kernel_for("no-ipykernel/nb.ipynb")
        good_kernel = server.kernel_for("good/nb.ipynb")
        explanation(server, broken_kernel)
        fallback_pid = int(server.execute(broken_kernel, "!echo $PPID").stdout.strip())
        good = server.execute(good_kernel, "import os, sys; print(os.getpid(), sys.prefix)")
        good_pid, good_prefix = good.stdout.split()
        assert good_prefix == str(project / "good" / ".venv")
        assert pid_alive(fallback_pid) and pid_alive(int(good_pid))
    deadline = time.monotonic() + 15
    while (pid_alive(fallback_pid) or pid_alive(int(good_pid))) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not pid_alive(fallback_pid)
    assert not pid_alive(int(good_pid))
