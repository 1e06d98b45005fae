"""``project-kernels which|doctor|list``: what a person or an admin's script reads.

The command runs for real, as a subprocess, reading a real jupyter_server_config.py
from an isolated JUPYTER_CONFIG_DIR, so it reports what the server would do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from envfactory import make_env
from jupyter import clean_environ
from planted import plant_venv

from project_kernels.cli import wrap_for_terminal
from project_kernels.picker import kernel_name


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good/.venv (usable), bad/.venv (no ipykernel), plain/ (nothing), under one root."""
    root = tmp_path_factory.mktemp("projects")
    make_env(root / "good" / ".venv", "uv")
    make_env(root / "bad" / ".venv", "uv", ipykernel=False)
    (root / "good" / "notebooks").mkdir()
    (root / "plain").mkdir()
    return root


def cli(*args: str, config: str = "", tmp: Path) -> subprocess.CompletedProcess[str]:
    config_dir = tmp / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.py").write_text(config)
    env = clean_environ()
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), COLUMNS="80")
    return subprocess.run(
        [sys.executable, "-m", "project_kernels", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def flat(text: str) -> str:
    """Human output with its line folding undone."""
    return " ".join(text.split())


def test_which_names_the_interpreter_environment_and_why(projects: Path, tmp_path: Path) -> None:
    out = cli("which", str(projects / "good" / "notebooks" / "a.ipynb"), tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.splitlines()[0] == f"Launches: {projects / 'good' / '.venv' / 'bin' / 'python'}"
    )
    assert "(uv, Python" in flat(out.stdout) and "ipykernel" in out.stdout
    assert "nearest directory named '.venv'" in flat(out.stdout)


def test_which_json_is_stable_for_scripts(projects: Path, tmp_path: Path) -> None:
    out = cli("which", "--json", str(projects / "bad"), tmp=tmp_path)
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["schema"] == 1
    assert data["mode"] == "fallback"
    assert data["environment"]["path"] == str(projects / "bad" / ".venv")
    assert data["environment"]["usable"] is False
    assert [p["code"] for p in data["environment"]["problems"]] == ["no-ipykernel"]


def test_which_without_an_environment_says_stock(projects: Path, tmp_path: Path) -> None:
    out = cli("which", str(projects / "plain"), "--root-dir", str(projects), tmp=tmp_path)
    assert out.returncode == 0
    assert f"No project environment between {projects / 'plain'} and {projects}." in flat(
        out.stdout
    )


def test_which_reads_the_servers_configuration(tmp_path: Path) -> None:
    plant_venv(tmp_path / "project" / "env", ipykernel=None)
    config = (
        'c.ProjectKernels.environment_names = ["env"]\nc.ProjectKernels.on_unusable = "error"\n'
    )
    out = cli("which", "--json", str(tmp_path / "project"), config=config, tmp=tmp_path)
    data = json.loads(out.stdout)
    assert data["environment"]["path"] == str(tmp_path / "project" / "env")
    assert data["mode"] == "error"


def test_doctor_shows_every_level_and_exits_non_zero_when_broken(
    projects: Path, tmp_path: Path
) -> None:
    out = cli("doctor", str(projects / "bad"), "--root-dir", str(projects), tmp=tmp_path)
    assert out.returncode == 1
    assert f"Walked from {projects / 'bad'} up to {projects}:" in flat(out.stdout)
    assert "UNUSABLE" in out.stdout
    assert "Fix: Install it: uv pip install" in out.stdout
    prose = [line for line in out.stdout.splitlines() if not line.startswith(("Fix:", "  "))]
    assert all(len(line) <= 80 for line in prose), out.stdout


def test_doctor_run_starts_the_interpreter(projects: Path, tmp_path: Path) -> None:
    out = cli("doctor", "--run", "--json", str(projects / "good"), tmp=tmp_path)
    assert out.returncode == 0, out.stdout
    assert json.loads(out.stdout)["ok"] is True


def test_list_shows_environments_and_their_status(projects: Path, tmp_path: Path) -> None:
    out = cli("list", "--json", str(projects), tmp=tmp_path)
    listed = {e["path"]: e["environment"]["usable"] for e in json.loads(out.stdout)["environments"]}
    assert listed[str(projects / "good" / ".venv")] is True
    assert listed[str(projects / "bad" / ".venv")] is False
    human = cli("list", str(projects), tmp=tmp_path).stdout
    assert "[ok]" in human and "[unusable: no-ipykernel]" in human


def test_jupyter_project_kernels_is_the_same_program(projects: Path, tmp_path: Path) -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    out = subprocess.run(
        [str(jupyter), "project-kernels", "which", "--json", str(projects / "good")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(out.stdout)["mode"] == "environment", out.stderr


def test_which_for_a_kernel_chosen_in_the_picker_reports_that_environment(
    projects: Path, tmp_path: Path
) -> None:
    name = kernel_name("bad/.venv")
    where = str(projects / "good" / "notebooks")
    out = cli("which", "--json", "--kernel", name, "--root-dir", str(projects), where, tmp=tmp_path)
    data = json.loads(out.stdout)
    assert data["environment"]["path"] == str(projects / "bad" / ".venv")
    assert data["environment"]["reason"] == "chosen in the kernel picker"
    assert data["mode"] == "fallback" and out.returncode == 1


def test_which_for_an_unknown_kernel_name_is_a_usage_error(projects: Path, tmp_path: Path) -> None:
    out = cli("which", "--kernel", "project-nothing-1234abcd", "--root-dir", str(projects),
              str(projects), tmp=tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"project-kernels which: No environment under {projects} is listed as "
        "'project-nothing-1234abcd'."
    ]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("short line\n", "short line\n"),
        (
            "Problem: " + "word " * 20 + "end.",
            "Problem: word word word word word word word word word word word word word word\n"
            "  word word word word word word end.",
        ),
        ("Fix: " + "x" * 100, "Fix: " + "x" * 100),
        ("  /a/very/long/path/" + "d" * 90, "  /a/very/long/path/" + "d" * 90),
        ("Launches: /p/" + "e" * 90 + "\n", "Launches: /p/" + "e" * 90 + "\n"),
    ],
)
def test_human_output_folds_prose_but_never_commands_or_paths(text: str, folded: str) -> None:
    assert wrap_for_terminal(text) == folded
