"""A project (and a notebook) names its environment instead of leaving it to discovery.

The rules from files (planted environments: microseconds each), then the real thing:
real environments made by venv and uv, conda and pixi layouts copied from a real
Python installation, a real ``jupyter server`` running kernels in what was named, a
real other owner (``nobody``) refused by trust, and ``project-kernels which``/``doctor``
run as a person runs them.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, clean_environ, running_server
from jupyter import write_notebook as write_one_cell_notebook
from planted import plant_venv

from project_kernels.choices import PROJECT_FILE, ChoiceLevel, read_project_choice
from project_kernels.decision import LaunchMode, LaunchPlan, decide
from project_kernels.environments import Kind, ProblemCode
from project_kernels.kinds.base import Level
from project_kernels.locators import ToolOptions
from project_kernels.making.settings import MakingSettings
from project_kernels.names import DIAGNOSIS_VARIABLE
from project_kernels.resolver import LaunchRequest
from project_kernels.schema import plan_json
from project_kernels.settings import Settings

NAMES_ALT = '[project]\nname = "survey"\n\n[tool.project-kernels]\nenvironment = "envs/alt"\n'
BASE = {"PATH": "/usr/bin"}


def write_notebook(path: Path, environment: object = None) -> Path:
    """A one-cell notebook; ``environment`` (unless None) is its metadata's choice."""
    write_one_cell_notebook(path, "import sys\nprint(sys.prefix)")
    if environment is not None:
        notebook = nbformat.read(path, as_version=4)
        notebook.metadata["project-kernels"] = {"environment": environment}
        nbformat.write(notebook, path)
    return path


def decided(
    root: Path, where: str, notebook: str | None = None, settings: Settings | None = None
) -> LaunchPlan:
    """What launches for a notebook in ``root/where``, as a server decides it."""
    request = LaunchRequest(
        cwd=str(root / where),
        session_name=str(root / where / notebook) if notebook else None,
        root_dir=root,
        env=BASE,
    )
    return decide(request, settings or Settings())


def problem(plan: LaunchPlan) -> tuple[ProblemCode, str, str]:
    assert plan.environment is not None, plan
    [found] = plan.environment.problems
    return found.code, found.summary, found.fix


# -- a project names its environment ------------------------------------------------------


def test_the_environment_a_pyproject_names_beats_the_venv_beside_it(tmp_path: Path) -> None:
    plant_venv(tmp_path / "survey" / ".venv")
    plant_venv(tmp_path / "survey" / "envs" / "alt")
    (tmp_path / "survey" / "pyproject.toml").write_text(NAMES_ALT)
    (tmp_path / "survey" / "notebooks").mkdir()
    plan = decided(tmp_path, "survey/notebooks")
    assert plan.mode is LaunchMode.ENVIRONMENT
    assert plan.environment is not None
    assert plan.environment.root == tmp_path / "survey" / "envs" / "alt"
    pyproject = tmp_path / "survey" / "pyproject.toml"
    assert plan.environment.reason == (
        f"environment the project names in {pyproject}, line 5 "
        '([tool.project-kernels] environment = "envs/alt")'
    )
    chosen = plan_json(plan, tmp_path)["chosen_by"]
    assert chosen == {
        "level": "project",
        "file": str(pyproject),
        "relative": "survey/pyproject.toml",
        "line": 5,
        "key": "environment",
        "value": "envs/alt",
        "error": None,
    }


def test_a_nearer_project_without_a_choice_keeps_its_own_venv(tmp_path: Path) -> None:
    plant_venv(tmp_path / "survey" / "envs" / "alt")
    (tmp_path / "survey" / "pyproject.toml").write_text(NAMES_ALT)
    plant_venv(tmp_path / "survey" / "sub" / ".venv")
    (tmp_path / "survey" / "sub" / "pyproject.toml").write_text('[project]\nname = "sub"\n')
    plan = decided(tmp_path, "survey/sub")
    assert plan.environment is not None
    assert plan.environment.root == tmp_path / "survey" / "sub" / ".venv"
    assert plan_json(plan, tmp_path)["chosen_by"] is None


def test_a_project_without_pyproject_names_it_in_its_own_file(tmp_path: Path) -> None:
    plant_venv(tmp_path / "p" / ".venv")
    plant_venv(tmp_path / "p" / "envs" / "gpu")
    (tmp_path / "p" / PROJECT_FILE).write_text('# the GPU one\nenvironment = "envs/gpu"\n')
    plan = decided(tmp_path, "p")
    assert plan.environment is not None and plan.environment.root == tmp_path / "p" / "envs" / "gpu"
    assert plan.walk is not None and plan.walk.chosen_by is not None
    assert (plan.walk.chosen_by.file, plan.walk.chosen_by.line) == (
        tmp_path / "p" / PROJECT_FILE,
        2,
    )


def test_the_declaration_inside_an_environment_is_never_taken_for_a_projects_choice(
    tmp_path: Path,
) -> None:
    # project-kernels.toml is what pin-modules writes inside an environment: beside a project
    # it means nothing, and inside the environment it keeps declaring modules.
    plant_venv(tmp_path / "p" / ".venv")
    plant_venv(tmp_path / "p" / "envs" / "alt")
    (tmp_path / "p" / "project-kernels.toml").write_text('environment = "envs/alt"\n')
    (tmp_path / "p" / ".venv" / "project-kernels.toml").write_text("modules = []\n")
    plan = decided(tmp_path, "p")
    assert plan.environment is not None and plan.environment.root == tmp_path / "p" / ".venv"
    assert read_project_choice(Level(tmp_path / "p" / ".venv")) is None


def test_a_relative_path_is_relative_to_the_file_and_an_absolute_one_is_taken_as_it_is(
    tmp_path: Path,
) -> None:
    plant_venv(tmp_path / "shared" / "env")
    (tmp_path / "p" / "a").mkdir(parents=True)
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[tool."project-kernels"]\nenvironment = "../shared/env"\n'
    )
    (tmp_path / "p" / "a" / PROJECT_FILE).write_text(f'environment = "{tmp_path}/shared/env"\n')
    for where in ("p", "p/a"):
        plan = decided(tmp_path, where)
        assert plan.environment is not None and plan.environment.root == tmp_path / "shared" / "env"


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ('[tool.project-kernels]\nmodules = ["GCC/12"]\n', 2, "belongs in the environment's own"),
        ("[tool.project-kernels]\ntrusted_paths = ['/']\n", 2, "does not know, 'trusted_paths'"),
        (
            '[tool.project-kernels]\nenvironment = "a"\nconda-environment = "b"\n',
            3,
            "names more than one environment (environment, conda-environment)",
        ),
        ("[tool.project-kernels]\n", 1, "names no environment"),
        ("[tool.project-kernels]\nenvironment = 3\n", 2, "must be a non-empty string"),
        ('[tool.project-kernels]\nenvironment = "a\n', 2, "is not valid TOML"),
        ('[project]\nname = "x"\n\n[tool]\nproject-kernels.environment = ""\n', 5, "non-empty"),
    ],
)
def test_a_choice_that_cannot_be_followed_is_explained_with_its_line_not_replaced(
    tmp_path: Path, content: str, line: int, expected: str
) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / "pyproject.toml").write_text(content)
    plan = decided(tmp_path, "")
    assert plan.mode is LaunchMode.FALLBACK
    code, summary, _ = problem(plan)
    assert code is ProblemCode.CHOSEN_INVALID
    assert expected in summary
    assert f"Named by: {tmp_path / 'pyproject.toml'}, line {line}\n" in plan.message
    assert str(tmp_path / ".venv") not in plan.message


def test_a_pyproject_that_is_not_toml_and_says_nothing_of_project_kernels_is_left_alone(
    tmp_path: Path,
) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert decided(tmp_path, "").mode is LaunchMode.ENVIRONMENT


def test_two_files_naming_the_environment_of_one_directory_are_one_too_many(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(NAMES_ALT)
    (tmp_path / PROJECT_FILE).write_text('environment = "envs/alt"\n')
    code, summary, _ = problem(decided(tmp_path, ""))
    assert code is ProblemCode.CHOSEN_INVALID and "names its environment twice" in summary


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_text("not an environment"), "is a file, not a directory"),
        (lambda p: p.mkdir(), "is a directory without pyvenv.cfg"),
    ],
    ids=["nothing", "a-file", "an-empty-directory"],
)
def test_a_name_that_points_at_no_environment_is_explained_naming_the_file(
    tmp_path: Path, make: object, expected: str
) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / "envs").mkdir()
    make(tmp_path / "envs" / "alt")  # type: ignore[operator]
    (tmp_path / "pyproject.toml").write_text(NAMES_ALT)
    plan = decided(tmp_path, "")
    assert plan.mode is LaunchMode.FALLBACK
    code, summary, fix = problem(plan)
    assert code is ProblemCode.CHOSEN_MISSING
    named = tmp_path / "envs" / "alt"
    assert summary.startswith(
        f"{named}, which {tmp_path / 'pyproject.toml'}, line 5 names, {expected}"
    )
    assert f"`python3 -m venv {named}`" in fix
    # The explaining kernel runs with nothing of what was named on PATH.
    assert str(named) not in plan.env["PATH"] and DIAGNOSIS_VARIABLE in plan.env


def test_a_kind_the_server_does_not_run_is_refused_not_skipped(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    plant_venv(tmp_path / "envs" / "alt")
    (tmp_path / "pyproject.toml").write_text(NAMES_ALT)
    only_conda = Settings(environment_kinds=frozenset({Kind.CONDA, Kind.VENV}))
    assert decided(tmp_path, "", settings=only_conda).mode is LaunchMode.ENVIRONMENT
    plan = decided(tmp_path, "", settings=Settings(environment_kinds=frozenset({Kind.CONDA})))
    code, summary, fix = problem(plan)
    assert code is ProblemCode.CHOSEN_INVALID
    assert "a venv environment, but this server runs only conda environments" in summary
    assert "environment_kinds" in fix


def test_what_a_file_in_home_names_is_a_default_for_home_though_its_venv_is_passed_over(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    plant_venv(home / ".venv")
    plant_venv(home / "envs" / "default")
    (home / "notes").mkdir()
    request = LaunchRequest(cwd=str(home / "notes"), root_dir=home, home=home, env=BASE)
    assert decide(request, Settings()).environment is None
    (home / PROJECT_FILE).write_text('environment = "envs/default"\n')
    plan = decide(request, Settings())
    assert plan.environment is not None and plan.environment.root == home / "envs" / "default"


# -- a notebook names its environment ------------------------------------------------------


def test_the_notebooks_choice_beats_its_projects(tmp_path: Path) -> None:
    plant_venv(tmp_path / "survey" / ".venv")
    plant_venv(tmp_path / "survey" / "envs" / "alt")
    (tmp_path / "survey" / "pyproject.toml").write_text(NAMES_ALT)
    write_notebook(tmp_path / "survey" / "nb" / "a.ipynb", "../.venv")
    plan = decided(tmp_path, "survey/nb", "a.ipynb")
    assert plan.environment is not None and plan.environment.root == tmp_path / "survey" / ".venv"
    chosen = plan_json(plan, tmp_path)["chosen_by"]
    assert chosen["level"] == "notebook" and chosen["relative"] == "survey/nb/a.ipynb"
    lines = (tmp_path / "survey" / "nb" / "a.ipynb").read_text().splitlines()
    assert lines[chosen["line"] - 1].strip() == '"environment": "../.venv"'


def test_the_notebooks_choice_is_read_only_when_the_server_names_the_notebook(
    tmp_path: Path,
) -> None:
    plant_venv(tmp_path / ".venv")
    write_notebook(tmp_path / "a.ipynb", "gone")
    # nbconvert and papermill give the directory only; a pinned kernel keeps its environment.
    assert decided(tmp_path, "").mode is LaunchMode.ENVIRONMENT
    pinned = LaunchRequest(
        cwd=str(tmp_path),
        session_name=str(tmp_path / "a.ipynb"),
        root_dir=tmp_path,
        environment=tmp_path / ".venv",
    )
    assert decide(pinned, Settings()).mode is LaunchMode.ENVIRONMENT
    plan = decided(tmp_path, "", "a.ipynb")
    code, summary, _ = problem(plan)
    assert code is ProblemCode.CHOSEN_MISSING and summary.startswith(f"{tmp_path / 'gone'}, which")


def test_a_notebooks_choice_that_is_no_path_is_explained(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", {"path": "x"})
    code, summary, fix = problem(decided(tmp_path, "", "a.ipynb"))
    assert code is ProblemCode.CHOSEN_INVALID and "which is not a path" in summary
    assert "notebook's metadata" in fix


def test_a_notebook_that_names_its_environment_is_not_made_from_its_script_block(
    tmp_path: Path,
) -> None:
    plant_venv(tmp_path / ".venv")
    path = write_notebook(tmp_path / "a.ipynb", ".venv")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = '# /// script\n# dependencies = ["pandas"]\n# ///\n'
    nbformat.write(notebook, path)
    making = Settings(making=MakingSettings(enabled=True))
    plan = decided(tmp_path, "", "a.ipynb", settings=making)
    assert plan.mode is LaunchMode.ENVIRONMENT and plan.inline is None
    assert plan.environment is not None and plan.environment.root == tmp_path / ".venv"


# -- conda and pixi names, found by their kinds' rules ----------------------------------------


def plant_conda(root: Path, version: str = "3.11.7") -> Path:
    """A conda-style environment as files (the real layouts run in the server tests below)."""
    (root / "conda-meta").mkdir(parents=True)
    (root / "conda-meta" / f"python-{version}-h0_cpython.json").write_text("{}")
    (root / "bin").mkdir()
    (root / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    site = root / "lib" / f"python{version.rsplit('.', 1)[0]}" / "site-packages"
    site.mkdir(parents=True)
    (site / "ipykernel-7.1.0.dist-info").mkdir()
    return root


PIXI_WORKSPACE = (
    '[workspace]\nname = "survey"\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n\n'
    '[feature.cuda.dependencies]\npython = "*"\n\n[environments]\ncuda = ["cuda"]\n'
)


PIXI_PYPROJECT = """\
[project]
name = "pixiproj"

[tool.pixi.workspace]
channels = ["conda-forge"]
platforms = ["linux-64"]

[tool.pixi.feature.cuda.dependencies]
python = "*"

[tool.pixi.environments]
cuda = ["cuda"]

[tool.project-kernels]
pixi-environment = "cuda"
"""


def test_a_pixi_environment_is_named_in_its_workspace(tmp_path: Path) -> None:
    (tmp_path / "pixi.toml").write_text(PIXI_WORKSPACE)
    plant_conda(tmp_path / ".pixi" / "envs" / "default")
    (tmp_path / PROJECT_FILE).write_text('pixi-environment = "cuda"\n')
    # Not installed yet: the walk stops at it, and says how to make it.
    plan = decided(tmp_path, "")
    assert plan.mode is LaunchMode.NOTICE and plan.declared is not None
    assert plan.declared.command == ("pixi", "install", "-e", "cuda")
    assert f"named in {tmp_path / PROJECT_FILE}, line 1" in plan.declared.declared_by
    plant_conda(tmp_path / ".pixi" / "envs" / "cuda")
    plan = decided(tmp_path, "")
    assert plan.mode is LaunchMode.ENVIRONMENT and plan.environment is not None
    assert plan.environment.kind is Kind.PIXI
    assert plan.environment.root == tmp_path / ".pixi" / "envs" / "cuda"
    assert plan.env["PIXI_ENVIRONMENT_NAME"] == "cuda"
    assert plan.env["CONDA_DEFAULT_ENV"] == "survey:cuda"
    (tmp_path / PROJECT_FILE).write_text('pixi-environment = "gpu"\n')
    code, summary, _ = problem(decided(tmp_path, ""))
    assert code is ProblemCode.CHOSEN_MISSING
    assert "does not define (it defines: default, cuda)" in summary


def test_a_pixi_name_outside_a_workspace_is_explained(tmp_path: Path) -> None:
    (tmp_path / PROJECT_FILE).write_text('pixi-environment = "../../etc"\n')
    assert problem(decided(tmp_path, ""))[0] is ProblemCode.CHOSEN_INVALID
    (tmp_path / PROJECT_FILE).write_text('pixi-environment = "cuda"\n')
    code, summary, _ = problem(decided(tmp_path, ""))
    assert code is ProblemCode.CHOSEN_MISSING and "is no pixi workspace" in summary


def test_a_conda_name_is_looked_for_where_conda_keeps_named_environments(tmp_path: Path) -> None:
    envs = tmp_path / "conda" / "envs"
    plant_conda(envs / "shared-analysis")
    plant_venv(tmp_path / "p" / ".venv")
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[tool.project-kernels]\nconda-environment = "shared-analysis"\n'
    )
    settings = Settings(tools=ToolOptions(conda_envs_dirs=(envs,)))
    plan = decided(tmp_path, "p", settings=settings)
    assert plan.mode is LaunchMode.ENVIRONMENT and plan.environment is not None
    assert plan.environment.root == envs / "shared-analysis"
    assert plan.environment.kind is Kind.CONDA
    assert plan.env["CONDA_DEFAULT_ENV"] == "shared-analysis"
    assert plan.environment.reason.endswith(f", found in {envs}")
    (tmp_path / "p" / "pyproject.toml").write_text(
        '[tool.project-kernels]\nconda-environment = "nope"\n'
    )
    code, summary, fix = problem(decided(tmp_path, "p", settings=settings))
    assert code is ProblemCode.CHOSEN_MISSING and f"({envs}," in summary
    assert "`conda create -n nope python ipykernel`" in fix


# -- the real thing: real environments, a real server, a real other owner, the CLI ----------


NOBODY = pwd.getpwnam("nobody")


@dataclass
class Projects:
    root: Path
    #: The copied Python installation the conda and pixi layouts are made of.
    conda_envs: Path


def link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def conda_copy(base_python: Path, root: Path, record_version: str) -> Path:
    """A conda (or pixi) environment as conda lays it out: a real installation with
    ipykernel (its files hard-linked: 270 MB each otherwise), ``conda-meta`` and the record
    of its python package."""
    shutil.copytree(base_python.parent.parent, root, symlinks=True, copy_function=link_or_copy)
    (root / "conda-meta").mkdir()
    record = root / "conda-meta" / f"python-{record_version}-h0_cpython.json"
    record.write_text(json.dumps({"name": "python", "version": record_version}))
    return root


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory, base_with_ipykernel: Path) -> Projects:
    """Under one root:

    - ``survey/``: ``.venv`` and ``envs/alt`` (uv), its pyproject.toml naming ``envs/alt``;
      ``survey/sub/`` a deeper project with its own ``.venv`` and no table; ``survey/nb/``
      a notebook whose metadata names ``../.venv``;
    - ``missing/``: a ``.venv`` and a pyproject.toml naming ``envs/gpu``, which does not exist;
    - ``foreign/``: a pyproject.toml naming ``../theirs``, an environment owned by nobody;
    - ``condaproj/``: naming the conda environment ``shared-analysis`` (in an envs directory
      given to the server by ``CONDA_ENVS_PATH``); ``pixiproj/``: a pixi workspace whose
      pyproject.toml names its ``cuda`` environment.
    """
    root = tmp_path_factory.mktemp("choices") / "root"
    survey = root / "survey"
    make_env(survey / ".venv", "venv")
    make_env(survey / "envs" / "alt", "uv")
    (survey / "pyproject.toml").write_text(NAMES_ALT)
    write_notebook(survey / "notebooks" / "report.ipynb")
    write_notebook(survey / "nb" / "mine.ipynb", "../.venv")
    make_env(survey / "sub" / ".venv", "uv")
    write_notebook(survey / "sub" / "deeper.ipynb")

    plant_venv(root / "missing" / ".venv")
    (root / "missing" / "pyproject.toml").write_text(
        '[project]\nname = "missing"\n\n[tool.project-kernels]\nenvironment = "envs/gpu"\n'
    )
    write_notebook(root / "missing" / "analysis.ipynb")

    theirs = root / "theirs"
    plant_venv(theirs)
    for parent, dirs, files in os.walk(theirs):
        for name in [".", *dirs, *files]:
            os.chown(
                os.path.join(parent, name), NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False
            )
    (root / "foreign").mkdir()
    (root / "foreign" / PROJECT_FILE).write_text('environment = "../theirs"\n')
    write_notebook(root / "foreign" / "analysis.ipynb")

    version = "{}.{}.{}".format(*sys.version_info[:3])
    conda_envs = root.parent / "conda" / "envs"
    conda_copy(base_with_ipykernel, conda_envs / "shared-analysis", version)
    (root / "condaproj").mkdir()
    (root / "condaproj" / "pyproject.toml").write_text(
        '[tool.project-kernels]\nconda-environment = "shared-analysis"\n'
    )
    write_notebook(root / "condaproj" / "analysis.ipynb")

    pixiproj = root / "pixiproj"
    conda_copy(base_with_ipykernel, pixiproj / ".pixi" / "envs" / "cuda", version)
    (pixiproj / "pyproject.toml").write_text(PIXI_PYPROJECT)
    write_notebook(pixiproj / "analysis.ipynb")
    return Projects(root, conda_envs)


@pytest.fixture(scope="module")
def server(projects: Projects, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("choices-server")
    env = {"CONDA_ENVS_PATH": str(projects.conda_envs)}
    with running_server(projects.root, tmp, CONFIG, env=env) as srv:
        yield srv


CONFIG = PROJECT_KERNELS_CONFIG + (
    'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n'
)
REPORT = "import os, sys\nprint(sys.prefix); print(os.environ.get('CONDA_DEFAULT_ENV', '-'))"


def explained(server: JupyterServer, notebook: str) -> tuple[str, dict[str, Any]]:
    """What the explaining kernel answers a line of Python with, and the kernel's plan."""
    kernel = server.kernel_for(notebook)
    try:
        cell = server.execute(kernel, "1 + 1")
        launch = server.request("GET", f"/project-kernels/api/kernels/{kernel}").json()
    finally:
        server.request("DELETE", f"/api/kernels/{kernel}")
    assert cell.error is not None and cell.error["ename"] == "EnvironmentUnusable", cell
    return "\n".join(cell.error["traceback"]), launch


def runs_in(server: JupyterServer, notebook: str) -> list[str]:
    kernel = server.kernel_for(notebook)
    try:
        result = server.execute(kernel, REPORT)
        assert result.status == "ok", (result, server.log())
        return result.stdout.split()
    finally:
        server.request("DELETE", f"/api/kernels/{kernel}")


def test_notebooks_run_in_what_their_project_or_they_themselves_name(
    server: JupyterServer, projects: Projects
) -> None:
    survey = projects.root / "survey"
    assert runs_in(server, "survey/notebooks/report.ipynb")[0] == str(survey / "envs" / "alt")
    which = server.request("GET", "/project-kernels/api/which?path=survey/notebooks/report.ipynb")
    assert which.json()["chosen_by"]["relative"] == "survey/pyproject.toml"
    assert runs_in(server, "survey/sub/deeper.ipynb")[0] == str(survey / "sub" / ".venv")
    assert runs_in(server, "survey/nb/mine.ipynb")[0] == str(survey / ".venv")
    assert runs_in(server, "condaproj/analysis.ipynb") == [
        str(projects.conda_envs / "shared-analysis"),
        "shared-analysis",
    ]
    assert runs_in(server, "pixiproj/analysis.ipynb") == [
        str(projects.root / "pixiproj" / ".pixi" / "envs" / "cuda"),
        "pixiproj:cuda",
    ]


def test_a_named_environment_that_is_not_there_is_explained_in_the_notebook(
    server: JupyterServer, projects: Projects
) -> None:
    text, launch = explained(server, "missing/analysis.ipynb")
    pyproject = projects.root / "missing" / "pyproject.toml"
    gpu = projects.root / "missing" / "envs" / "gpu"
    assert f"Named by: {pyproject}, line 5 ([tool.project-kernels] environment = " in text
    assert f"Problem: {gpu}, which {pyproject}, line 5 names, does not exist." in text
    assert str(projects.root / "missing" / ".venv") not in text
    assert launch["chosen_by"]["line"] == 5
    assert launch["problems"][0]["label"] == "not found"


def test_an_environment_owned_by_someone_else_is_refused_wherever_a_file_points(
    server: JupyterServer, projects: Projects
) -> None:
    text, launch = explained(server, "foreign/analysis.ipynb")
    theirs = projects.root / "theirs"
    assert f"The environment directory {theirs} (and " in text
    assert f"belongs to user 'nobody' (uid {NOBODY.pw_uid}" in text
    assert f"Named by: {projects.root / 'foreign' / PROJECT_FILE}, line 1" in text
    assert launch["mode"] == "fallback" and launch["problems"][0]["code"] == "untrusted"
    assert launch["chosen_by"]["relative"] == f"foreign/{PROJECT_FILE}"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "project_kernels", *args],
        capture_output=True,
        text=True,
        env={**clean_environ(), **env},
        check=False,
    )


def test_papermill_runs_a_notebook_where_its_metadata_says(
    projects: Projects, tmp_path: Path
) -> None:
    # project-kernels' papermill engine tells the provisioner which notebook runs.
    survey = projects.root / "survey"
    env = {
        **clean_environ(),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PREFER_ENV_PATH": "0",
        "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels",
    }
    output = tmp_path / "out.ipynb"
    completed = subprocess.run(
        [sys.executable, "-m", "papermill", str(survey / "nb" / "mine.ipynb"), str(output)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    [cell] = nbformat.read(output, as_version=4).cells
    assert "".join(o.get("text", "") for o in cell.outputs).split() == [str(survey / ".venv")]


def flat(text: str) -> str:
    """Human output with its folding for the terminal undone."""
    return " ".join(text.split())


def test_which_and_doctor_say_the_project_chose_it_and_where(
    projects: Projects, tmp_path: Path
) -> None:
    env = {"JUPYTER_CONFIG_DIR": str(tmp_path)}
    survey = projects.root / "survey"
    notebook = str(survey / "notebooks" / "report.ipynb")
    root = ["--root-dir", str(projects.root)]
    pyproject = survey / "pyproject.toml"
    named = f'{pyproject}, line 5 ([tool.project-kernels] environment = "envs/alt")'

    which = cli("which", notebook, *root, env=env)
    assert which.returncode == 0, which.stderr
    assert f"Chosen as the environment the project names in {named}." in flat(which.stdout)
    data = json.loads(cli("which", "--json", notebook, *root, env=env).stdout)
    for chosen in (data["chosen_by"], data["launch"]["chosen_by"]):
        assert chosen["file"] == str(pyproject) and chosen["line"] == 5
        assert chosen["level"] == ChoiceLevel.PROJECT.value
    assert data["launch"]["chosen_by"]["relative"] == "survey/pyproject.toml"

    doctor = cli("doctor", notebook, *root, env=env)
    assert doctor.returncode == 0, doctor.stdout
    assert f"found {survey / 'envs' / 'alt'} (uv, Python" in flat(doctor.stdout)
    assert f": usable named by {named} " in flat(doctor.stdout)
    data = json.loads(cli("doctor", "--json", notebook, *root, env=env).stdout)
    assert data["chosen_by"]["file"] == str(pyproject)
    assert [c["chosen_by"]["line"] for c in data["candidates"] if c["chosen_by"]] == [5]

    missing = cli("doctor", str(projects.root / "missing" / "analysis.ipynb"), *root, env=env)
    assert missing.returncode == 1
    assert f"Problem: {projects.root / 'missing' / 'envs' / 'gpu'}, which " in flat(missing.stdout)
