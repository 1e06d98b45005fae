"""Configuration mistakes: one line each when a server starts, and the server keeps running.

The checks take every trait of the classes, so the pure tests show that a setting
added later is checked too; the real servers, started with a wrong and a misspelt
setting by each enabling route, show the lines in the log before any session, and
the notebook then running in its environment with the defaults in force.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server, write_notebook
from traitlets import Int, Unicode
from traitlets.config import Config

from project_kernels.config import ProjectKernels
from project_kernels.kernelspec import ProjectKernelSpecManager
from project_kernels.validation import (
    SettingProblem,
    check_configuration,
    find_problems,
    with_sources,
)

CLASSES = {"ProjectKernels": ProjectKernels, "ProjectKernelSpecManager": ProjectKernelSpecManager}


def config_of(text: str) -> Config:
    config = Config()
    exec(text, {"c": config})
    return config


def test_every_setting_is_checked_with_its_own_trait() -> None:
    config = config_of(
        'c.ProjectKernels.on_unusable = "explode"\n'
        "c.ProjectKernels.environment_names = [1]\n"
        "c.ProjectKernels.module_timeout = 60\n"  # an int for a float is fine
        'c.ProjectKernelSpecManager.list_environments = "yes"\n'
        "c.ProjectKernelSpecManager.allowed_kernelspecs = {'python3'}\n"  # jupyter_client's own
    )
    problems = {(p.section, p.name): p for p in find_problems(config, CLASSES)}
    assert set(problems) == {
        ("ProjectKernels", "on_unusable"),
        ("ProjectKernels", "environment_names"),
        ("ProjectKernelSpecManager", "list_environments"),
    }
    assert problems["ProjectKernels", "on_unusable"].default == "'fallback'"


def test_a_setting_added_later_is_checked_without_being_named_anywhere() -> None:
    class Grown(ProjectKernels):
        warm_kernels = Int(0, min=0).tag(config=True)
        inline_cache_dir = Unicode("").tag(config=True)

    config = config_of(
        "c.ProjectKernels.warm_kernels = -2\nc.ProjectKernels.inline_cache_dir = 3\n"
    )
    problems = find_problems(config, {"ProjectKernels": Grown})
    assert [p.name for p in problems] == ["warm_kernels", "inline_cache_dir"]


def test_a_setting_whose_default_would_be_wrong_is_reported_and_kept() -> None:
    class Guarded(ProjectKernels):
        jobs = Int(0, min=0).tag(config=True, keep_when_invalid=True)

    config = config_of("c.ProjectKernels.jobs = -1\nc.ProjectKernels.module_timeout = 'x'\n")
    said: list[SettingProblem] = []
    check_configuration(config, {"ProjectKernels": Guarded}, said.append)
    assert [(p.name, p.kept) for p in said] == [("jobs", True), ("module_timeout", False)]
    assert "It is kept: what needs it refuses to start until it is fixed." in said[0].message()
    assert config.ProjectKernels == {"jobs": -1}  # the other one keeps its default


def test_an_unknown_name_suggests_the_closest_setting() -> None:
    config = config_of('c.ProjectKernels.environment_name = [".venv"]\nc.ProjectKernels.zzz = 1\n')
    problems = find_problems(config, CLASSES)
    assert [(p.name, p.suggestion) for p in problems] == [
        ("environment_name", "environment_names"),
        ("zzz", ""),
    ]
    assert "did you mean environment_names?" in problems[0].message()
    assert find_problems(config, CLASSES, unknown_names=()) == []


def test_settings_made_by_append_or_on_the_command_line_are_checked() -> None:
    config = config_of("c.ProjectKernels.environment_names.append(5)\n")
    (problem,) = find_problems(config, CLASSES)
    assert problem.name == "environment_names"
    assert (
        find_problems(config_of('c.ProjectKernels.environment_names.append("env")\n'), CLASSES)
        == []
    )


def test_the_source_is_the_last_file_that_sets_it(tmp_path: Path) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.json"
    first.write_text("c.ProjectKernels.module_timeout = 'x'\n")
    second.write_text('{"ProjectKernels": {"module_timeout": "y"}}')
    problem = SettingProblem("ProjectKernels", "module_timeout", "y", "bad.")
    (located,) = with_sources([problem], [str(first), str(second)])
    assert located.source == str(second)
    command_line = config_of("c.ProjectKernels.module_timeout = 'z'\n")
    (located,) = with_sources([problem], [str(first)], command_line)
    assert located.source == "the command line"


def test_wrong_values_are_taken_out_and_checked_once() -> None:
    config = config_of(
        "c.ProjectKernels.environment_names = 5\nc.ProjectKernels.pixi_environment = 'x'\n"
    )
    said: list[SettingProblem] = []
    check_configuration(config, CLASSES, said.append)
    check_configuration(config, CLASSES, said.append)
    assert [p.name for p in said] == ["environment_names"]
    assert ProjectKernels(config=config).environment_names == [".venv", "venv"]
    assert ProjectKernels(config=config).pixi_environment == "x"


MISTAKES = (
    "c.ProjectKernels.environment_names = 5\n"
    'c.ProjectKernels.environment_name = [".venv"]\n'
    'c.ProjectKernelSpecManager.list_max_depth = "deep"\n'
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("validation") / "root"
    make_env(root / "analysis" / ".venv", "uv")
    write_notebook(root / "analysis" / "nb.ipynb", "import sys; print(sys.prefix)")
    return root


@pytest.fixture(
    scope="module",
    params=[
        PROJECT_KERNELS_CONFIG,
        'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n',
    ],
    ids=["spec-manager-class", "extension"],
)
def server(
    request: pytest.FixtureRequest, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("validation-server")
    with running_server(project, tmp, request.param + MISTAKES) as server:
        yield server


def test_a_server_says_each_mistake_in_one_line_at_start_and_runs_with_the_defaults(
    server: JupyterServer,
) -> None:
    started = server.log()  # the server answers: it has started, and no session has
    file = server.env["JUPYTER_CONFIG_DIR"] + "/jupyter_server_config.py"
    assert (
        f"project-kernels: c.ProjectKernels.environment_names = 5 in {file} is not valid: it "
        "expected a list, not the int 5. The default, ['.venv', 'venv'], is used instead.\n"
    ) in started
    assert (
        f"project-kernels: c.ProjectKernels.environment_name in {file} is not a setting of "
        "ProjectKernels; did you mean environment_names?"
    ) in started
    assert (f"c.ProjectKernelSpecManager.list_max_depth = 'deep' in {file} is not valid") in started
    assert "Traceback" not in started
    kernel = server.kernel_for("analysis/nb.ipynb")
    result = server.execute(kernel, "import sys; print(sys.prefix)")
    assert result.stdout.strip() == str(server.root / "analysis" / ".venv"), result
    # Said once, at start: not again at the session's start.
    assert server.log().count("environment_name in") == 1
