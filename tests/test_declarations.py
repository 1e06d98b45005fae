"""Environments a project declares but nobody has made: found from files, explained, planned.

Every kind the tools declare is built here as files (the tools' own project files), and
the decision is asked what launches: the walk stops at the declaration, the notebook is
told which environment is missing and the command that makes it (``on_missing``), and
with ``create_environments`` the plan says what to make, with which tool, under which
lock. The real tools make real environments in ``test_making.py`` and
``test_making_tools.py``; pixi and conda cannot be installed here, so their command
lines are checked with fake programs that record their arguments and lay out what the
tool would (``conda-meta/``, ``bin/python``), which is how the tests say so.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import pid_alive
from planted import PYTHON, plant_venv

from project_kernels.decision import LaunchMode, LaunchPlan, decide
from project_kernels.environments import Kind
from project_kernels.kinds.base import ToolOptions
from project_kernels.making.carry import make_and_decide
from project_kernels.making.settings import MakingSettings
from project_kernels.names import DIAGNOSIS_VARIABLE
from project_kernels.resolver import LaunchRequest
from project_kernels.schema import plan_json
from project_kernels.settings import OnMissing, Settings

UV_PROJECT = '[project]\nname = "demo"\nversion = "0.1"\ndependencies = []\n'

#: Each kind's project files, and what the walk must say about it.
DECLARED: dict[str, tuple[dict[str, str], Kind, str, tuple[str, ...]]] = {
    "uv.lock": (
        {"pyproject.toml": UV_PROJECT, "uv.lock": "version = 1\n"},
        Kind.UV,
        "uv.lock",
        ("uv", "sync"),
    ),
    "[tool.uv]": (
        {"pyproject.toml": UV_PROJECT + "\n[tool.uv]\npackage = false\n"},
        Kind.UV,
        "[tool.uv] in pyproject.toml",
        ("uv", "sync"),
    ),
    "pixi.toml": (
        {
            "pixi.toml": (
                '[workspace]\nname = "p"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
            )
        },
        Kind.PIXI,
        "the environment 'default' of pixi.toml",
        ("pixi", "install", "-e", "default"),
    ),
    "[tool.pixi]": (
        {"pyproject.toml": UV_PROJECT + '\n[tool.pixi.workspace]\nchannels = ["conda-forge"]\n'},
        Kind.PIXI,
        "the environment 'default' of pyproject.toml",
        ("pixi", "install", "-e", "default"),
    ),
    "poetry.lock": (
        {"pyproject.toml": UV_PROJECT, "poetry.lock": "# poetry\n"},
        Kind.POETRY,
        "poetry.lock",
        ("poetry", "install"),
    ),
    "[tool.poetry]": (
        {"pyproject.toml": UV_PROJECT + "\n[tool.poetry]\npackage-mode = false\n"},
        Kind.POETRY,
        "[tool.poetry] in pyproject.toml",
        ("poetry", "install"),
    ),
    "Pipfile": ({"Pipfile": "[packages]\n"}, Kind.PIPENV, "Pipfile", ("pipenv", "install")),
    "pdm.lock": (
        {"pyproject.toml": UV_PROJECT, "pdm.lock": "# pdm\n"},
        Kind.PDM,
        "pdm.lock",
        ("pdm", "install"),
    ),
    "[tool.pdm]": (
        {"pyproject.toml": UV_PROJECT + "\n[tool.pdm]\ndistribution = false\n"},
        Kind.PDM,
        "[tool.pdm] in pyproject.toml",
        ("pdm", "install"),
    ),
    ".pdm-python": (
        {"pyproject.toml": UV_PROJECT, ".pdm-python": "/nowhere/.venv/bin/python\n"},
        Kind.PDM,
        ".pdm-python naming /nowhere/.venv/bin/python",
        ("pdm", "install"),
    ),
    "[tool.hatch.envs]": (
        {"pyproject.toml": UV_PROJECT + "\n[tool.hatch.envs.default]\ndependencies = []\n"},
        Kind.HATCH,
        "[tool.hatch.envs] in pyproject.toml",
        ("hatch", "env", "create"),
    ),
    "environment.yml": (
        {"environment.yml": "name: survey-env\ndependencies:\n  - python\n"},
        Kind.CONDA,
        "environment.yml naming the environment 'survey-env'",
        ("conda", "env", "create", "-f", "environment.yml"),
    ),
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home of the test's own, so no tool configuration of the machine leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    return home


def project(root: Path, files: dict[str, str]) -> Path:
    directory = root / "project"
    (directory / "notebooks").mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def env_of(home: Path, **extra: str) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        **extra,
    }


def decided(where: Path, home: Path, settings: Settings | None = None, **env: str) -> LaunchPlan:
    request = LaunchRequest(
        cwd=str(where), root_dir=where.parents[1], home=home, env=env_of(home, **env)
    )
    return decide(request, settings or Settings())


def settings_for(home: Path, **making: object) -> Settings:
    return Settings(
        making=MakingSettings(state_dir=home / "builds", **making),  # type: ignore[arg-type]
        tools=ToolOptions(conda_envs_dirs=(home / "envs",)),
    )


@pytest.mark.parametrize("case", list(DECLARED))
def test_a_declared_environment_not_made_stops_the_walk_and_is_explained(
    case: str, tmp_path: Path, home: Path
) -> None:
    files, kind, declared_by, command = DECLARED[case]
    directory = project(tmp_path, files)
    plant_venv(tmp_path / ".venv")  # above the project: never reached
    plan = decided(directory / "notebooks", home, settings_for(home))
    assert plan.mode is LaunchMode.NOTICE
    declared = plan.declared
    assert declared is not None and declared.kind is kind and declared.project == directory
    assert declared.declared_by == declared_by and declared.command == command
    assert plan.walk is not None and plan.walk.environment is None
    shown = f"cd {directory}; {' '.join(command)}"
    assert f"Fix: Make it: {shown}" in plan.message
    assert "runs in the Jupyter server's own Python" in plan.message
    diagnosis = json.loads(plan.env[DIAGNOSIS_VARIABLE])
    assert diagnosis["runs_code"] is True and diagnosis["message"] == plan.message


def test_a_plain_pyproject_declares_nothing(tmp_path: Path, home: Path) -> None:
    built_with_hatchling = UV_PROJECT + '\n[build-system]\nbuild-backend = "hatchling.build"\n'
    for index, text in enumerate((UV_PROJECT, built_with_hatchling)):
        directory = project(tmp_path / str(index), {"pyproject.toml": text})
        plan = decided(directory / "notebooks", home)
        assert plan.mode is LaunchMode.STOCK and plan.declared is None


def test_an_environment_made_wins_over_the_declaration(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["uv.lock"][0])
    plant_venv(directory / ".venv", uv=True)
    plan = decided(directory / "notebooks", home)
    assert plan.mode is LaunchMode.ENVIRONMENT and plan.declared is None


def test_uv_project_environment_is_where_uv_puts_it(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tools' settings are read from the server's own variables.
    monkeypatch.setenv("UV_PROJECT_ENVIRONMENT", "envs/dev")
    directory = project(tmp_path, DECLARED["uv.lock"][0])
    plan = decided(directory / "notebooks", home)
    assert plan.declared is not None and plan.declared.environment == directory / "envs" / "dev"
    plant_venv(directory / "envs" / "dev", uv=True)
    found = decided(directory / "notebooks", home)
    assert found.mode is LaunchMode.ENVIRONMENT
    assert found.environment is not None and found.environment.root == directory / "envs" / "dev"


@pytest.mark.parametrize(
    ("on_missing", "mode", "runs_code"),
    [
        (OnMissing.NOTICE, LaunchMode.NOTICE, True),
        (OnMissing.FALLBACK, LaunchMode.FALLBACK, False),
        (OnMissing.ERROR, LaunchMode.ERROR, None),
    ],
)
def test_on_missing_chooses_what_runs_meanwhile(
    on_missing: OnMissing, mode: LaunchMode, runs_code: bool | None, tmp_path: Path, home: Path
) -> None:
    directory = project(tmp_path, DECLARED["Pipfile"][0])
    plan = decided(directory / "notebooks", home, Settings(on_missing=on_missing))
    assert plan.mode is mode
    if runs_code is None:
        assert DIAGNOSIS_VARIABLE not in plan.env
        return
    assert json.loads(plan.env[DIAGNOSIS_VARIABLE])["runs_code"] is runs_code
    # The server's own programs come first: the fix runs from a cell exactly as printed.
    assert plan.env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert plan.command(["python", "-m", "ipykernel_launcher", "-f", "c.json"])[0] == sys.executable


def tool(bin_dir: Path, name: str, script: str) -> Path:
    """A fake program that records its arguments and working directory, then runs ``script``."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$PWD" "$@" > "{bin_dir}/{name}.args"\n'
        f"echo 'fake {name}: working'\n"
        f"{script}\n"
    )
    path.chmod(0o755)
    return path


def conda_layout_script(prefix: str) -> str:
    """Shell lines laying out a conda environment with Python and ipykernel at ``prefix``."""
    site = f"{prefix}/lib/python{PYTHON}/site-packages"
    return (
        f'mkdir -p "{prefix}/conda-meta" "{prefix}/bin" "{site}/ipykernel-7.1.0.dist-info"\n'
        f'ln -sf "{os.path.realpath(sys.executable)}" "{prefix}/bin/python"\n'
        f'touch "{prefix}/conda-meta/python-{PYTHON}.0-h0_cpython.json"\n'
    )


def test_pixi_is_made_with_pixi_install_of_the_environment(tmp_path: Path, home: Path) -> None:
    # pixi cannot be installed here: a fake pixi records its command line and lays out
    # what `pixi install` makes (.pixi/envs/default as a conda prefix).
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(tmp_path / "bin", "pixi", conda_layout_script("$PWD/.pixi/envs/default"))
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    plan = decided(directory / "notebooks", home, settings)
    assert plan.mode is LaunchMode.MAKING and plan.making is not None
    assert [s.argv for s in plan.making.steps] == [(str(fake), "install", "-e", "default")]
    request = LaunchRequest(
        cwd=str(directory / "notebooks"), root_dir=tmp_path, home=home, env=env_of(home)
    )
    made, outcomes = make_and_decide(request, settings)
    assert [o.ok for o in outcomes] == [True]
    assert (tmp_path / "bin" / "pixi.args").read_text().split("\n")[:4] == [
        str(directory),
        "install",
        "-e",
        "default",
    ]
    assert made.mode is LaunchMode.ENVIRONMENT and made.environment is not None
    assert made.environment.root == directory / ".pixi" / "envs" / "default"
    assert made.environment.kind is Kind.PIXI


def test_conda_is_made_with_conda_env_create(tmp_path: Path, home: Path) -> None:
    # conda cannot be installed here: a fake conda records its command line and makes the
    # named environment in the first environments directory, as `conda env create` would.
    directory = project(tmp_path, DECLARED["environment.yml"][0])
    fake = tool(tmp_path / "bin", "conda", conda_layout_script(f"{home}/envs/survey-env"))
    settings = settings_for(home, enabled=True)
    plan = decided(directory / "notebooks", home, settings, CONDA_EXE=str(fake))
    assert plan.mode is LaunchMode.MAKING and plan.making is not None
    assert plan.making.steps[0].argv == (str(fake), "env", "create", "-f", "environment.yml")
    request = LaunchRequest(
        cwd=str(directory / "notebooks"),
        root_dir=tmp_path,
        home=home,
        env=env_of(home, CONDA_EXE=str(fake)),
    )
    made, _ = make_and_decide(request, settings)
    args = (tmp_path / "bin" / "conda.args").read_text().split("\n")
    assert args[:5] == [str(directory), "env", "create", "-f", "environment.yml"]
    assert made.mode is LaunchMode.ENVIRONMENT and made.environment is not None
    assert made.environment.root == home / "envs" / "survey-env"


def test_a_failing_build_is_explained_cleaned_up_and_tried_again(
    tmp_path: Path, home: Path
) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(
        tmp_path / "bin",
        "pixi",
        'mkdir -p "$PWD/.pixi/envs/default/conda-meta"\n'
        'echo "error: no python for linux-64" >&2\nexit 3',
    )
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    request = LaunchRequest(
        cwd=str(directory / "notebooks"), root_dir=tmp_path, home=home, env=env_of(home)
    )
    plan, outcomes = make_and_decide(request, settings)
    assert [o.ok for o in outcomes] == [False]
    assert plan.mode is LaunchMode.NOTICE  # what on_missing says, with why it was not made
    assert "`cd " in plan.message and "pixi install -e default` exited with code 3" in plan.message
    assert "error: no python for linux-64" in plan.message
    assert not (directory / ".pixi" / "envs" / "default").exists()  # nothing half-made kept
    again = decided(directory / "notebooks", home, settings)
    assert again.mode is LaunchMode.MAKING  # the next start tries again


def test_a_tool_that_is_nowhere_is_explained(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    plan = decided(directory / "notebooks", home, settings_for(home, enabled=True))
    assert plan.mode is LaunchMode.NOTICE
    assert "pixi is not installed where the Jupyter server runs" in plan.message
    assert "c.ProjectKernels.tool_paths" in plan.message


def test_an_untrusted_project_is_explained_and_never_built(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(tmp_path / "bin", "pixi", conda_layout_script("$PWD/.pixi/envs/default"))
    manifest = directory / "pixi.toml"
    manifest.chmod(manifest.stat().st_mode | stat.S_IWOTH)
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    request = LaunchRequest(
        cwd=str(directory / "notebooks"), root_dir=tmp_path, home=home, env=env_of(home)
    )
    before = sorted(p.name for p in directory.iterdir())
    plan, outcomes = make_and_decide(request, settings)
    assert outcomes == [] and plan.mode is LaunchMode.NOTICE
    assert f"The project file {manifest} is writable by everyone" in plan.message
    assert "not made automatically" in plan.message
    assert not (tmp_path / "bin" / "pixi.args").exists()
    assert sorted(p.name for p in directory.iterdir()) == before  # nothing written into it


def test_an_untrusted_tool_is_not_run(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(tmp_path / "bin", "pixi", "exit 0")
    fake.chmod(0o777)
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    plan = decided(directory / "notebooks", home, settings)
    assert plan.mode is LaunchMode.NOTICE
    assert f"The pixi program {fake} is writable by everyone" in plan.message


def test_ipykernel_is_planned_for_an_environment_without_it(tmp_path: Path, home: Path) -> None:
    plant_venv(tmp_path / "project" / ".venv", ipykernel=None)
    (tmp_path / "project" / "notebooks").mkdir()
    uv = tool(tmp_path / "bin", "uv", "exit 0")
    settings = settings_for(home, enabled=True, tool_paths={"uv": str(uv)})
    plan = decided(tmp_path / "project" / "notebooks", home, settings)
    assert plan.mode is LaunchMode.MAKING and plan.making is not None
    python = str(tmp_path / "project" / ".venv" / "bin" / "python")
    assert plan.making.steps[0].argv == (str(uv), "pip", "install", "--python", python, "ipykernel")
    assert plan.making.environ["UV_COMPILE_BYTECODE"] == "1"
    off = decided(tmp_path / "project" / "notebooks", home, settings_for(home))
    assert off.mode is LaunchMode.FALLBACK  # as before: the fallback explains it


def test_a_build_that_leaves_the_environment_missing_is_not_repeated(
    tmp_path: Path, home: Path
) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(tmp_path / "bin", "pixi", "exit 0")  # says it worked, makes nothing
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    request = LaunchRequest(
        cwd=str(directory / "notebooks"), root_dir=tmp_path, home=home, env=env_of(home)
    )
    plan, outcomes = make_and_decide(request, settings)
    assert len(outcomes) == 1 and plan.mode is LaunchMode.NOTICE
    assert "still missing after its tools succeeded" in plan.message


def test_a_build_is_stopped_after_create_timeout(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    # The fake pixi starts a child that would outlive it: the whole group is stopped.
    fake = tool(tmp_path / "bin", "pixi", f'sleep 60 & echo $! > "{tmp_path}/child"\nsleep 60')
    settings = settings_for(home, enabled=True, timeout=1.0, tool_paths={"pixi": str(fake)})
    request = LaunchRequest(
        cwd=str(directory / "notebooks"), root_dir=tmp_path, home=home, env=env_of(home)
    )
    plan, outcomes = make_and_decide(request, settings)
    assert [o.reason for o in outcomes] == ["it did not finish within 1 seconds"]
    assert outcomes[0].seconds < 30
    assert "it did not finish within 1 seconds" in plan.message
    child = int((tmp_path / "child").read_text())
    assert not pid_alive(child)


def test_doctor_lists_a_declared_environment_kept_outside_the_project(
    tmp_path: Path, home: Path
) -> None:
    directory = project(tmp_path, DECLARED["Pipfile"][0])
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.py").write_text("")
    env = {**os.environ, **env_of(home), "JUPYTER_CONFIG_DIR": str(config), "COLUMNS": "200"}
    shown = subprocess.run(
        [sys.executable, "-m", "project_kernels", "doctor", str(directory / "notebooks")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert shown.returncode == 1
    lines = shown.stdout.splitlines()
    level = lines.index(f"  {directory}")
    workon = home / ".local" / "share" / "virtualenvs"
    assert lines[level + 1].startswith(f"    declared {workon}/project-")  # its whole path
    assert f"`cd {directory}; pipenv install` makes it" in lines[level + 1]
    assert f"Fix: Make it: cd {directory}; pipenv install" in shown.stdout
    report = subprocess.run(
        [sys.executable, "-m", "project_kernels", "which", "--json", str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    launch = json.loads(report.stdout)["launch"]
    assert launch["mode"] == "notice" and launch["making"] is None
    assert launch["declared"]["kind"] == "pipenv"
    assert launch["declared"]["command"] == ["pipenv", "install"]


def test_the_plan_json_says_what_is_being_made(tmp_path: Path, home: Path) -> None:
    directory = project(tmp_path, DECLARED["pixi.toml"][0])
    fake = tool(tmp_path / "bin", "pixi", "exit 0")
    settings = settings_for(home, enabled=True, tool_paths={"pixi": str(fake)})
    plan = decided(directory / "notebooks", home, settings)
    shown = plan_json(plan, tmp_path)
    assert shown["mode"] == "making"
    assert shown["declared"]["project"] == str(directory)
    assert shown["relative"] == "project/.pixi/envs/default" and shown["kind"] == "pixi"
    assert shown["environment"] is None  # nothing runs from it yet
    assert shown["making"]["commands"] == [f"cd {directory}; pixi install -e default"]
    assert shown["making"]["what"].startswith("the pixi environment of")
