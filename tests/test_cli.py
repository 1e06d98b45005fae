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
from envfactory import make_env, uv
from envfactory import run as run_tool
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


def cli(
    *args: str,
    config: str = "",
    tmp: Path,
    env: dict[str, str] | None = None,
    python_flags: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    config_dir = tmp / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "jupyter_server_config.py").write_text(config)
    variables = clean_environ()
    variables.update(JUPYTER_CONFIG_DIR=str(config_dir), COLUMNS="80", **(env or {}))
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "project_kernels", *args],
        capture_output=True,
        text=True,
        env=variables,
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
    assert "[ok]" in flat(human) and "[unusable: needs ipykernel]" in flat(human)


def test_jupyter_project_kernels_is_the_same_program(projects: Path, tmp_path: Path) -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    out = subprocess.run(
        [str(jupyter), "project-kernels", "which", "--json", str(projects / "good")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(out.stdout)["mode"] == "environment", out.stderr


def bare_env(path: Path) -> None:
    """A real environment without ipykernel (uv makes one in milliseconds)."""
    run_tool(uv(), "venv", "--quiet", path)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("which", "/nonexistent/path/nb.ipynb"), "does not exist"),
        (("doctor", "{root}/missing-dir"), "does not exist"),
        (("list", "/nonexistent"), "/nonexistent does not exist"),
        (("list", "{root}/good/notebooks/a.ipynb"), "does not exist"),
        (("list", "{root}/file.txt"), "is not a directory"),
        (("list", "--max-depth", "-1", "{root}"), "--max-depth: must be 0 or more, not -1"),
        (("list", "--max-directories", "x", "{root}"), "must be a whole number, not 'x'"),
        (("which", "--root-dir", "{root}/good", "{root}/bad"), "is outside the server's root"),
        (("which", "--root-dir", "{root}/nowhere", "{root}"), "is not a directory"),
        (("which", "--config", "/nonexistent.py", "{root}"), "/nonexistent.py does not exist"),
        (("which", "--config", "{root}/broken.py", "{root}"), "SyntaxError"),
        (("which", ""), "the path is empty"),
        (("whcih", "{root}"), "invalid choice: 'whcih'"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem_and_exit_code_2(
    projects: Path, tmp_path: Path, args: tuple[str, ...], problem: str
) -> None:
    (projects / "file.txt").write_text("")
    (projects / "broken.py").write_text("c = get_config()\nc.ProjectKernels.on_unusable = (\n")
    out = cli(*(a.format(root=projects) for a in args), tmp=tmp_path)
    assert out.returncode == 2, out
    assert out.stdout == ""
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert problem in out.stderr and "Traceback" not in out.stderr


def test_configuration_mistakes_are_one_line_each_and_their_defaults_apply(
    projects: Path, tmp_path: Path
) -> None:
    config = (
        "c.ProjectKernels.environment_names = 5\n"
        'c.ProjectKernels.environment_name = ["env"]\n'
        'c.ProjectKernelSpecManager.list_max_depth = "deep"\n'
        "c.ProjectKernelProvisioner.startup_grace = -1\n"
    )
    out = cli("which", "--json", str(projects / "good"), config=config, tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    # The defaults are in force: .venv is found.
    assert json.loads(out.stdout)["environment"]["path"] == str(projects / "good" / ".venv")
    file = tmp_path / "jupyter-config" / "jupyter_server_config.py"
    lines = out.stderr.splitlines()
    assert lines == [
        f"project-kernels: c.ProjectKernels.environment_names = 5 in {file} is not valid: "
        "it expected a list, not the int 5. The default, ['.venv', 'venv'], is used instead.",
        f"project-kernels: c.ProjectKernels.environment_name in {file} is not a setting of "
        "ProjectKernels; did you mean environment_names? It is ignored (the README's "
        "Configuration lists every setting).",
        f"project-kernels: c.ProjectKernelSpecManager.list_max_depth = 'deep' in {file} is not "
        "valid: it expected an int, not the str 'deep'. The default, 4, is used instead.",
        f"project-kernels: c.ProjectKernelProvisioner.startup_grace = -1 in {file} is not "
        "valid: it should not be less than 0.0, but a value of -1.0 was specified. The default, "
        "10.0, is used instead.",
    ]


def test_a_broken_configuration_file_is_left_out_in_one_line(
    projects: Path, tmp_path: Path
) -> None:
    out = cli("which", str(projects / "good"), config="c.ProjectKernels = (\n", tmp=tmp_path)
    assert out.returncode == 0
    (line,) = out.stderr.splitlines()
    assert "jupyter_server_config.py (left out, as the server leaves it out): SyntaxError" in line
    assert out.stdout.startswith("Launches: ")


def test_which_doctor_and_list_do_not_import_jupyter_client(projects: Path, tmp_path: Path) -> None:
    config = "c.ProjectKernelSpecManager.list_environments = True\n"
    for command in ("which", "doctor", "list"):
        out = cli(
            command, str(projects), config=config, tmp=tmp_path, python_flags=("-X", "importtime")
        )
        imported = [line.split("|")[-1].strip() for line in out.stderr.splitlines()]
        assert not [m for m in imported if m.startswith(("jupyter_client", "jupyter_server"))]


def test_list_says_how_deep_it_looked_and_what_it_did_not_look_at(
    projects: Path, tmp_path: Path
) -> None:
    deep = projects / "deep" / "a" / "b" / "c" / "d" / ".venv"  # at depth 5
    bare_env(deep)
    out = cli("list", "--json", str(projects), tmp=tmp_path)
    data = json.loads(out.stdout)
    assert str(deep) not in [e["path"] for e in data["environments"]]
    assert data["truncated"] is True and data["max_depth"] == 4
    assert data["depth_limited"] == [str(projects / "deep" / "a" / "b" / "c")]
    human = flat(cli("list", str(projects), tmp=tmp_path).stdout)
    assert "down to 4 levels below" in human
    assert "Not looked at: what is below 1 directory at depth 4 (deep/a/b/c)" in human
    assert "raise --max-depth" in human

    deeper = json.loads(
        cli("list", "--json", "--max-depth", "5", str(projects), tmp=tmp_path).stdout
    )
    assert str(deep) in [e["path"] for e in deeper["environments"]]
    assert deeper["truncated"] is False and deeper["depth_limited"] == []

    # The picker's bound from the configuration applies, and the directory bound is said too.
    config = "c.ProjectKernelSpecManager.list_max_directories = 2\n"
    bounded = json.loads(cli("list", "--json", str(projects), config=config, tmp=tmp_path).stdout)
    assert bounded["truncated"] is True and bounded["not_visited"] > 0
    assert bounded["directories_seen"] == 2
    human = flat(cli("list", str(projects), config=config, tmp=tmp_path).stdout)
    assert "directories after the first 2; narrow ROOT or raise --max-directories" in human


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home directory with its own ~/.venv, and notebooks in a directory without one."""
    home = tmp_path_factory.mktemp("home")
    bare_env(home / ".venv")
    (home / "notes").mkdir()
    return home


def test_the_home_directorys_own_environment_is_not_used_by_default(
    home: Path, tmp_path: Path
) -> None:
    out = cli("which", str(home / "notes" / "nb.ipynb"), tmp=tmp_path, env={"HOME": str(home)})
    assert out.returncode == 0, out.stderr
    text = flat(out.stdout)
    assert f"No project environment between {home / 'notes'} and {home}." in text
    assert f"Not used: {home / '.venv'}, the home directory's own environment" in text
    assert "c.ProjectKernels.home_environment = True would use it" in text


def test_with_home_environment_on_which_says_the_environment_is_homes(
    home: Path, tmp_path: Path
) -> None:
    out = cli(
        "which",
        "--json",
        str(home / "notes"),
        config="c.ProjectKernels.home_environment = True\n",
        tmp=tmp_path,
        env={"HOME": str(home)},
    )
    assert json.loads(out.stdout)["environment"]["path"] == str(home / ".venv")
    text = flat(
        cli(
            "which",
            str(home / "notes"),
            config="c.ProjectKernels.home_environment = True\n",
            tmp=tmp_path,
            env={"HOME": str(home)},
        ).stdout
    )
    assert "Note: this is the home directory's own environment: it serves every notebook " in text


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
