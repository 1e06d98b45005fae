"""What is said about Slurm settings before any kernel runs: `which`, `doctor`, server start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import slurm
from jupyter import PROJECT_KERNELS_CONFIG, clean_environ, running_server
from planted import plant_venv

CONFIG = "c.ProjectKernels.slurm = {'account': 'site', 'queue_timeout': 120}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    environment = tmp_path / "proj" / ".venv"
    plant_venv(environment)
    (environment / "project-kernels.toml").write_text('[slurm]\npartition = "gpu"\ncpus = 2\n')
    return tmp_path / "proj"


def cli(tmp: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    config_dir = tmp / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.py").write_text(CONFIG)
    env = clean_environ()
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), COLUMNS="80")
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "project_kernels", *args],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


def test_which_shows_the_job_it_would_submit_and_where_slurm_is(
    project: Path, tmp_path: Path
) -> None:
    slurm.installed()
    out = cli(tmp_path, "which", str(project / "nb.ipynb"))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert (
        "Runs as a Slurm job: partition gpu, account site, 2 CPUs; waits at most 120 seconds"
        in text
    )
    assert "Slurm commands: " in text and "/sbatch" in text and "/srun" in text
    data = json.loads(cli(tmp_path, "which", "--json", str(project / "nb.ipynb")).stdout)
    assert data["slurm"]["enabled"] is True
    assert (data["slurm"]["partition"], data["slurm"]["account"]) == ("gpu", "site")
    assert data["slurm"]["commands"]["sbatch"].endswith("/sbatch")
    assert data["launch"]["slurm"]["cpus"] == 2


def test_doctor_fails_where_slurms_commands_cannot_be_reached(
    project: Path, tmp_path: Path
) -> None:
    out = cli(tmp_path, "doctor", str(project / "nb.ipynb"), path=os.path.dirname(sys.executable))
    assert out.returncode == 1, out.stdout
    text = " ".join(out.stdout.split())
    assert "Problem: sbatch, srun, squeue, scancel not found on PATH" in text
    assert "NOT OK: the kernel cannot be submitted as a Slurm job from here" in text


def test_an_environment_without_slurm_says_nothing_about_it(tmp_path: Path) -> None:
    plant_venv(tmp_path / "plain" / ".venv")
    out = cli(tmp_path, "which", "--json", str(tmp_path / "plain"))
    assert json.loads(out.stdout)["slurm"] == {"enabled": False}
    assert "Slurm" not in cli(tmp_path, "which", str(tmp_path / "plain")).stdout


def test_a_wrong_deployment_setting_is_said_when_the_server_starts(tmp_path: Path) -> None:
    config = (
        PROJECT_KERNELS_CONFIG
        + 'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n'
        + "c.ProjectKernels.slurm = {'enabled': True, 'time': 'an hour'}\n"
    )
    (tmp_path / "root").mkdir()
    with running_server(tmp_path / "root", tmp_path, config) as server:
        log = server.log()
    assert "project-kernels: c.ProjectKernels.slurm: 'time' = 'an hour' is not valid" in log
