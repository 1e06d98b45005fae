"""Papermill, a plain jupyter_client user: the two routes that need no per-user step.

1. ``project-kernels enable`` (here at ``--user`` level, in temporary Jupyter
   directories) gives the python3 kernelspec the provisioner stanza.
2. ``JUPYTER_DEFAULT_PROVISIONER_NAME=project-kernels`` in the environment (set
   once in an image, a module file or a hub's spawner).

Either way a notebook in a project directory runs in that project's ``.venv``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
from envfactory import make_env
from jupyter import clean_environ, write_notebook
from jupyter_client.provisioning.factory import KernelProvisionerFactory

#: What these tests check depends on the interpreter running them (CI runs them from a
#: fresh virtual environment too).
pytestmark = [pytest.mark.slow, pytest.mark.interpreter]

CODE = "import sys, os; print(sys.prefix); print(os.environ.get('VIRTUAL_ENV'))"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``analysis/.venv`` and ``analysis/2024/report.ipynb`` with a parameters cell."""
    root = tmp_path_factory.mktemp("papermill")
    make_env(root / "analysis" / ".venv", "uv")
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("label = 'default'")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(CODE + "; print(label)")]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = root / "analysis" / "2024" / "report.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(notebook, path)
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The process environment with Jupyter's user directories in ``tmp_path``."""
    return {
        **clean_environ(),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        # The user's directories first, as outside a venv, even when the tests run in one.
        "JUPYTER_PREFER_ENV_PATH": "0",
    }


def papermill_cli(*args: str | Path, env: dict[str, str], cwd: Path) -> list[str]:
    """Run the papermill command; the printed lines of the last cell of its output notebook."""
    output = Path(env["JUPYTER_RUNTIME_DIR"]).parent / "out.ipynb"
    completed = subprocess.run(
        [sys.executable, "-m", "papermill", *map(str, args), str(output)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return printed(output)


def printed(notebook: Path) -> list[str]:
    cell = nbformat.read(notebook, as_version=4).cells[-1]
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout").split()


def enable_user(env: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "project_kernels", "enable", "--user"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_after_enable_papermill_runs_the_notebook_in_its_environment(
    project: Path, env: dict[str, str]
) -> None:
    enable_user(env)
    notebook = project / "analysis" / "2024" / "report.ipynb"
    venv = str(project / "analysis" / ".venv")
    # From the notebook's directory, and from anywhere with --cwd; parameters still apply.
    assert papermill_cli(notebook.name, "-p", "label", "here", env=env, cwd=notebook.parent) == [
        venv,
        venv,
        "here",
    ]
    assert papermill_cli(notebook, "--cwd", notebook.parent, env=env, cwd=project) == [
        venv,
        venv,
        "default",
    ]


def test_with_the_environment_variable_papermill_runs_the_notebook_in_its_environment(
    project: Path, env: dict[str, str]
) -> None:
    notebook = project / "analysis" / "2024" / "report.ipynb"
    variable = {**env, "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels"}
    venv = str(project / "analysis" / ".venv")
    assert papermill_cli(notebook.name, env=variable, cwd=notebook.parent) == [
        venv,
        venv,
        "default",
    ]


def test_papermills_python_api_with_the_environment_variable(
    project: Path,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    for name, value in {**env, "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels"}.items():
        monkeypatch.setenv(name, value)
    # The factory is a process-wide singleton that reads the variable when first made; a
    # process that sets it at start (as an image does) never has an older instance.
    KernelProvisionerFactory.clear_instance()
    request.addfinalizer(KernelProvisionerFactory.clear_instance)
    notebook = project / "analysis" / "2024" / "report.ipynb"
    papermill.execute_notebook(
        str(notebook), str(tmp_path / "api.ipynb"), cwd=str(notebook.parent), progress_bar=False
    )
    venv = str(project / "analysis" / ".venv")
    assert printed(tmp_path / "api.ipynb") == [venv, venv, "default"]


def test_papermill_from_another_directory_runs_the_notebook_in_its_environment(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    notebook = project / "analysis" / "2024" / "where.ipynb"
    write_notebook(notebook, "import os, sys\nprint(sys.prefix)\nprint(os.getcwd())")
    variable = {**env, "JUPYTER_DEFAULT_PROVISIONER_NAME": "project-kernels"}
    elsewhere, other = tmp_path / "elsewhere", tmp_path / "other"
    elsewhere.mkdir()
    other.mkdir()
    venv = str(project / "analysis" / ".venv")
    relative = os.path.relpath(notebook, elsewhere)
    # The kernel runs where papermill runs it (or in --cwd), from the notebook's environment.
    assert papermill_cli(relative, env=variable, cwd=elsewhere) == [venv, str(elsewhere)]
    assert papermill_cli(notebook, env=variable, cwd=elsewhere) == [venv, str(elsewhere)]
    assert papermill_cli(relative, "--cwd", other, env=variable, cwd=elsewhere) == [
        venv,
        str(other),
    ]


def test_without_either_route_papermill_runs_the_stock_kernel(
    project: Path, env: dict[str, str]
) -> None:
    notebook = project / "analysis" / "2024" / "report.ipynb"
    lines = papermill_cli(notebook.name, env=env, cwd=notebook.parent)
    assert lines[0] == sys.prefix and lines[1] == "None"
