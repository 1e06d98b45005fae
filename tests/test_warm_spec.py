"""When two kernel starts may share a warm kernel, and what turns one into a notebook's kernel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from project_kernels.warm.spec import CONNECTION_FILE, Launch, WarmSpec, assignment_for, spec_of

ENV = Path("/home/ada/analysis/.venv")
PYTHON = str(ENV / "bin" / "python")
VARIABLES = {"PATH": f"{ENV}/bin:/usr/bin", "VIRTUAL_ENV": str(ENV), "LANG": "C.UTF-8"}


def launch(notebook: str = "/home/ada/analysis/2024/q3.ipynb", **changes: Any) -> Launch:
    connection_file = f"/run/jupyter/kernel-{abs(hash(notebook))}.json"
    values: dict[str, object] = {
        "environment": ENV,
        "kernel_name": "python3",
        "cmd": (PYTHON, "-m", "ipykernel_launcher", "-f", connection_file),
        "env": {**VARIABLES, "JPY_SESSION_NAME": notebook},
        "cwd": os.path.dirname(notebook),
        "connection_file": connection_file,
    }
    values.update(changes)
    return Launch(**values)  # type: ignore[arg-type]


def spec(**changes: Any) -> WarmSpec:
    found = spec_of(launch(**changes))
    assert isinstance(found, WarmSpec), found
    return found


def test_two_notebooks_of_one_environment_share_a_spec() -> None:
    assert spec() == spec(notebook="/home/ada/analysis/other/deep/b.ipynb")


def test_the_spec_holds_the_command_with_the_connection_file_left_open() -> None:
    found = spec()
    assert found.interpreter == (PYTHON,)
    assert found.module == "ipykernel_launcher"
    assert found.arguments == ("-f", CONNECTION_FILE)
    assert "JPY_SESSION_NAME" not in dict(found.env)
    assert dict(found.env) == VARIABLES


def test_the_warm_kernel_starts_with_the_same_interpreter_options_and_variables() -> None:
    found = spec(
        cmd=(PYTHON, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{c}"),
        connection_file="{c}",
    )
    assert found.launcher_command("/pk/launcher.py", 5, 7) == [
        PYTHON,
        "-Xfrozen_modules=off",
        "/pk/launcher.py",
        "5",
        "7",
        "ipykernel_launcher",
    ]
    assert found.launcher_env(1234) == {**VARIABLES, "JPY_PARENT_PID": "1234"}


@pytest.mark.parametrize(
    "changes",
    [
        {"env": {**VARIABLES, "MODULE_LOADED": "GCC/12"}},  # modules pinned differently
        {"env": {**VARIABLES, "PROJECT_MARKER": "from-spec"}},  # the kernelspec's env
        {"cmd": (PYTHON, "-m", "ipykernel_launcher", "-f", "{c}", "--matplotlib=inline")},
        {"cmd": (PYTHON, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{c}")},
        {"kernel_name": "project-analysis-venv-1a2b3c4d"},
        {"environment": Path("/home/ada/other/.venv")},
    ],
    ids=["variables", "kernelspec-env", "arguments", "interpreter-options", "kernelspec", "env"],
)
def test_a_different_kernelspec_command_or_variables_makes_a_different_spec(
    changes: dict[str, Any],
) -> None:
    if "cmd" in changes:
        changes["connection_file"] = "{c}"
    assert spec(**changes) != spec()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"other_options": ("stdout",)}, "passes stdout"),
        ({"cmd": (PYTHON, "/opt/kernel.py", "-f", "{c}")}, "does not run a module"),
        ({"cmd": (PYTHON, "-m", "my_kernel", "-f", "{c}")}, "runs my_kernel, not ipykernel"),
        ({"cmd": (PYTHON, "-c", "x", "-m", "ipykernel", "-f", "{c}")}, "is not <interpreter>"),
        ({"cmd": (PYTHON, "-m", "ipykernel_launcher")}, "does not name its connection file"),
        ({"env": {**VARIABLES, "PYTHONPATH": "/opt/lib:src"}}, "relative directories: src"),
    ],
    ids=["popen-options", "script", "other-module", "dash-c", "no-connection-file", "pythonpath"],
)
def test_a_launch_a_warm_kernel_cannot_stand_in_for_says_why(
    changes: dict[str, Any], why: str
) -> None:
    if "cmd" in changes:
        changes["connection_file"] = "{c}"
    reason = spec_of(launch(**changes))
    assert isinstance(reason, str) and why in reason


def test_the_assignment_carries_what_differs_per_notebook() -> None:
    notebook = "/home/ada/analysis/2024/q3.ipynb"
    started = launch(notebook)
    assignment = assignment_for(started, spec(notebook="/home/ada/analysis/first.ipynb"))
    assert assignment.cwd == "/home/ada/analysis/2024"
    assert dict(assignment.set) == {"JPY_SESSION_NAME": notebook}
    assert assignment.unset == ()
    assert assignment.argv == ("-f", started.connection_file)
    assert assignment.orig_argv == started.cmd


def test_without_a_session_name_the_kernel_has_none() -> None:
    started = launch(env=dict(VARIABLES))
    assignment = assignment_for(started, spec_of(started))  # type: ignore[arg-type]
    assert dict(assignment.set) == {} and assignment.unset == ("JPY_SESSION_NAME",)


def test_the_home_directory_is_expanded_as_jupyter_client_does() -> None:
    found = spec(
        cmd=("~/.venv/bin/python", "-m", "ipykernel_launcher", "-f", "{c}"), connection_file="{c}"
    )
    assert found.interpreter == (os.path.expanduser("~/.venv/bin/python"),)


def test_a_launch_is_read_from_the_provisioners_arguments() -> None:
    started = Launch.of(
        ENV,
        "python3",
        [PYTHON, "-m", "ipykernel_launcher", "-f", "/c.json"],
        {"env": VARIABLES, "cwd": "/home/ada", "kernel_id": "k", "stdin": None},
        "/c.json",
    )
    assert started.cwd == "/home/ada" and started.other_options == ()
    assert Launch.of(ENV, "python3", [], {"stderr": 2}, "").other_options == ("stderr",)
