"""Kernels as Slurm jobs: a real cluster, a real server, real kernels on the "compute node".

One single-node cluster (``tests/slurm.py``) and one ``jupyter server`` for the module.
Project environments ask for Slurm in their ``project-kernels.toml``; their kernels
run as jobs with the environment's Lmod modules loaded and connect back to the server
through the node's address. The tests interrupt, restart and shut kernels down, keep
one waiting in a partition with no free CPUs, cancel one with ``scancel``, and stop
the server with jobs running and queued: nothing may be left in ``squeue``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import slurm
import sysdeps
from conftest import pid_alive
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server

from project_kernels.modules import write_declaration

pytestmark = [pytest.mark.slow]

HPC_MODULE = "HPCPy/2.1"
#: Seconds one Slurm command may take in the module's server.
COMMAND_TIMEOUT = 8
#: The server extension too: it serves the jobs endpoint.
CONFIG = PROJECT_KERNELS_CONFIG + (
    'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n'
)
#: What a kernel says about where it runs.
WHERE = (
    "import json, os, socket, sys, ipykernel.connect\n"
    "try:\n"
    "    import hpcpkg; pkg = hpcpkg.FROM_MODULE\n"
    "except ImportError:\n"
    "    pkg = None\n"
    "print(json.dumps({'job': os.environ.get('SLURM_JOB_ID'), 'pid': os.getpid(),"
    " 'prefix': sys.prefix, 'venv': os.environ.get('VIRTUAL_ENV'), 'pkg': pkg,"
    " 'modules': os.environ.get('LOADEDMODULES'), 'cwd': os.getcwd(),"
    " 'ip': json.loads(ipykernel.connect.get_connection_info())['ip']}))\n"
)


def slurm_table(**options: object) -> str:
    lines = ["", "[slurm]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def declare(environment: Path, modules: list[str], **slurm_options: object) -> None:
    write_declaration(environment, modules)
    with open(environment / "project-kernels.toml", "a") as handle:
        handle.write(slurm_table(**slurm_options))


@pytest.fixture(scope="module")
def cluster() -> Iterator[slurm.Cluster]:
    with slurm.running_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A module tree with one module that puts a package on PYTHONPATH."""
    sysdeps.lmod()
    site = tmp_path_factory.mktemp("site")
    package = site / "site-python" / "hpcpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"FROM_MODULE = {HPC_MODULE!r}\n")
    modulefile = site / "modulefiles" / f"{HPC_MODULE}.lua"
    modulefile.parent.mkdir(parents=True)
    modulefile.write_text(f'prepend_path("PYTHONPATH", "{site / "site-python"}")\n')
    return site


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """analysis: [slurm] in interactive with a module; queued: [slurm] in batch; local: none."""
    root = tmp_path_factory.mktemp("slurm-projects") / "root"
    for name in ("analysis", "queued", "impatient", "local"):
        make_env(root / name / ".venv", "uv", system_site_packages=False)
        (root / name / "notebooks").mkdir()
    declare(root / "analysis" / ".venv", [HPC_MODULE], partition="interactive", time="30")
    declare(root / "queued" / ".venv", [], partition="batch", cpus=1)
    declare(root / "impatient" / ".venv", [], partition="batch", queue_timeout=4)
    return root


@pytest.fixture(scope="module")
def server(
    cluster: slurm.Cluster, site: Path, projects: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("slurm-server")
    config = CONFIG + (
        f"c.ProjectKernels.module_cache_dir = {str(tmp / 'modules')!r}\n"
        f"c.ProjectKernels.slurm = {{'job_directory': {str(tmp / 'jobs')!r}, "
        f"'poll_interval': 1, 'command_timeout': {COMMAND_TIMEOUT}}}\n"
    )
    env = {"SLURM_CONF": str(cluster.conf), "MODULEPATH": str(site / "modulefiles")}
    with running_server(projects, tmp, config, env=env) as running:
        yield running


def where(server: JupyterServer, kernel: str) -> dict[str, Any]:
    result = server.execute(kernel, WHERE)
    assert result.status == "ok", (result, server.log())
    return dict(json.loads(result.stdout))


def kernel_job(cluster: slurm.Cluster, job_id: str) -> dict[str, str] | None:
    return cluster.job(job_id)


def test_a_kernel_runs_as_a_job_in_its_environment_with_its_modules(
    cluster: slurm.Cluster, server: JupyterServer, projects: Path
) -> None:
    kernel = server.kernel_for("analysis/notebooks/a.ipynb")
    seen = where(server, kernel)
    environment = projects / "analysis" / ".venv"
    assert seen["job"], seen
    job = cluster.job(seen["job"])
    assert job is not None and job["state"] == "RUNNING" and job["node"] == cluster.hostname
    assert seen["prefix"] == seen["venv"] == str(environment)
    assert seen["pkg"] == HPC_MODULE
    assert seen["modules"] == HPC_MODULE
    assert seen["cwd"] == str(projects / "analysis" / "notebooks")
    # The kernel listens on the node's address, and the server reached it there.
    assert seen["ip"] == cluster.address != "127.0.0.1"
    assert f"runs the kernel on {cluster.hostname} ({cluster.address})" in server.log()
    # The status bar's answer: the plan's job options and the job as it is now.
    answer = server.request("GET", f"/project-kernels/api/kernels/{kernel}").json()
    assert answer["slurm"]["partition"] == "interactive" and answer["slurm"]["time"] == "30"
    assert answer["slurm_job"]["job_id"] == seen["job"]
    assert answer["slurm_job"]["state"] == "RUNNING"
    assert answer["slurm_job"]["node"] == cluster.hostname
    # A notebook of an environment without [slurm] runs where the server runs.
    local_kernel = server.kernel_for("local/notebooks/l.ipynb")
    local = where(server, local_kernel)
    assert local["job"] is None and local["prefix"] == str(projects / "local" / ".venv")
    for done in (kernel, local_kernel):
        assert server.request("DELETE", f"/api/kernels/{done}").status_code == 204


def test_interrupt_restart_and_shutdown_act_on_the_job(
    cluster: slurm.Cluster, server: JupyterServer
) -> None:
    kernel = server.kernel_for("analysis/notebooks/b.ipynb")
    first = where(server, kernel)
    results: list[Any] = []
    cell = threading.Thread(
        target=lambda: results.append(server.execute(kernel, "import time; time.sleep(120)"))
    )
    cell.start()
    time.sleep(3)
    assert server.interrupt(kernel).status_code == 204
    cell.join(60)
    assert results and results[0].error["ename"] == "KeyboardInterrupt", results

    assert server.restart(kernel).status_code == 200, server.log()
    second = where(server, kernel)
    assert second["job"] != first["job"]
    cluster.wait_for(lambda: cluster.state(first["job"]) != "RUNNING", "old job ends")
    assert cluster.state(first["job"]) in ("COMPLETED", "CANCELLED")

    assert server.request("DELETE", f"/api/kernels/{kernel}").status_code == 204
    assert cluster.state(second["job"]) in ("COMPLETED", "CANCELLED", "COMPLETING")
    assert not [
        job
        for job in cluster.jobs()
        if job["id"] == second["job"] and job["state"] in ("RUNNING", "PENDING")
    ]


def test_a_controller_that_does_not_answer_is_no_news_about_a_running_kernel(
    cluster: slurm.Cluster, server: JupyterServer
) -> None:
    kernel = server.kernel_for("analysis/notebooks/d.ipynb")
    try:
        before = where(server, kernel)
        controller = cluster.processes["slurmctld"]
        controller.send_signal(signal.SIGSTOP)
        try:
            time.sleep(COMMAND_TIMEOUT + 4)
            during = where(server, kernel)
        finally:
            controller.send_signal(signal.SIGCONT)
        assert f"did not answer within {COMMAND_TIMEOUT} seconds" in server.log()
        assert during["pid"] == before["pid"] and during["job"] == before["job"]
        assert cluster.state(before["job"]) == "RUNNING"
    finally:
        assert server.request("DELETE", f"/api/kernels/{kernel}").status_code == 204


def test_a_queued_kernel_says_why_and_starts_when_cpus_free_up(
    cluster: slurm.Cluster, server: JupyterServer
) -> None:
    # Jobs of interactive share CPUs among themselves, never with a job of batch.
    assert not cluster.jobs(), "an earlier test left a job running"
    filler = cluster.fill()
    responses: list[requests.Response] = []
    opening = threading.Thread(
        target=lambda: responses.append(server.start_session("queued/notebooks/q.ipynb"))
    )
    opening.start()
    try:

        def queued_jobs() -> list[dict[str, Any]]:
            jobs = server.request("GET", "/project-kernels/api/slurm/jobs").json()["jobs"]
            return [job for job in jobs if job["state"] == "PENDING" and job["reason"] != "None"]

        cluster.wait_for(queued_jobs, "the server shows the kernel's job as queued")
        (queued,) = queued_jobs()
        (pending,) = [job for job in cluster.jobs("PENDING") if job["name"] == "project-kernels"]
        assert queued["job_id"] == pending["id"]
        assert queued["reason"] == "Resources"
        assert queued["partition"] == "batch"
        assert queued["text"].startswith("queued in partition batch: Resources (the partition")
        assert queued["environment"].endswith("queued/.venv")
        assert queued["notebook"].endswith("queued/notebooks/q.ipynb")
        assert queued["path"] == "queued/notebooks/q.ipynb"
        assert "is queued in partition batch: Resources" in server.log()
    finally:
        cluster.cancel(filler)
    opening.join(120)
    assert responses and responses[0].status_code == 201, (responses, server.log())
    kernel = responses[0].json()["kernel"]["id"]
    assert where(server, kernel)["job"]
    server.request("DELETE", f"/api/kernels/{kernel}")


def test_a_job_that_never_starts_is_explained_and_cancelled(
    cluster: slurm.Cluster, server: JupyterServer
) -> None:
    filler = cluster.fill()
    try:
        response = server.start_session("impatient/notebooks/i.ipynb")
    finally:
        cluster.cancel(filler)
    assert response.status_code == 500
    text = response.json()["message"]
    assert "waited" in text and "without starting (queued in partition batch: Resources" in text
    assert "so it was cancelled" in text and "queue_timeout" in text
    cluster.wait_for(
        lambda: (
            not [
                j
                for j in cluster.jobs()
                if j["name"] == "project-kernels" and j["partition"] == "batch"
            ]
        ),
        "the job is gone",
    )


def test_a_job_cancelled_with_scancel_is_explained_in_the_notebook(
    cluster: slurm.Cluster, server: JupyterServer
) -> None:
    kernel = server.kernel_for("analysis/notebooks/c.ipynb")
    job = where(server, kernel)["job"]
    cluster.run("scancel", job)
    deadline = time.monotonic() + 90
    explained = None
    while time.monotonic() < deadline:
        try:
            result = server.execute(kernel, "1 + 1", timeout=20)
        except Exception:  # the kernel is being replaced: its websocket closes or times out
            time.sleep(1)
            continue
        if result.status == "error" and result.error is not None:
            explained = "\n".join(result.error["traceback"])
            break
        time.sleep(1)
    assert explained is not None, server.log()
    assert f"ran as Slurm job {job} on {cluster.hostname}" in explained
    assert "it was cancelled (by scancel, or by an administrator) (CANCELLED)" in explained
    assert "Restart the kernel" in explained
    # The person's restart runs it in a new job.
    assert server.restart(kernel).status_code == 200, server.log()
    again = where(server, kernel)
    assert again["job"] and again["job"] != job
    server.request("DELETE", f"/api/kernels/{kernel}")


def open_quietly(server: JupyterServer, notebook: str) -> None:
    """Open a notebook whose start the server will not finish (it is stopped meanwhile)."""
    with contextlib.suppress(requests.RequestException):
        server.start_session(notebook)


def test_stopping_the_server_cancels_every_job_it_started(
    cluster: slurm.Cluster, site: Path, projects: Path, tmp_path: Path
) -> None:
    config = CONFIG + (
        f"c.ProjectKernels.module_cache_dir = {str(tmp_path / 'modules')!r}\n"
        f"c.ProjectKernels.slurm = {{'job_directory': {str(tmp_path / 'jobs')!r}}}\n"
    )
    env = {"SLURM_CONF": str(cluster.conf), "MODULEPATH": str(site / "modulefiles")}
    filler = cluster.fill()
    try:
        with running_server(projects, tmp_path, config, env=env) as own:
            running = where(own, own.kernel_for("analysis/notebooks/s.ipynb"))
            # A second notebook whose job waits for CPUs while the server stops.
            threading.Thread(target=open_quietly, args=(own, "queued/notebooks/s.ipynb")).start()
            cluster.wait_for(
                lambda: any(j["partition"] == "batch" for j in cluster.jobs("PENDING")),
                "the second job is queued",
            )
    finally:
        cluster.cancel(filler)
    cluster.wait_empty(60)
    assert not pid_alive(running["pid"])
