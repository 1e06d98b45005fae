"""The REST API the status bar reads: which environment a kernel runs in, or would run in.

One real server with the server extension enabled (as ``project-kernels enable`` does)
over a tree of projects: a working venv, a directory with none, venvs without
ipykernel (one repaired during the tests), and kernelspecs that are not ipykernel's.
Real kernels are started through ``POST /api/sessions`` as JupyterLab starts them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from envfactory import install, make_env
from jupyter import JupyterServer, running_server, write_notebook

pytestmark = pytest.mark.slow

EXTENSION_CONFIG = 'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n'
API = "/project-kernels/api"
PRINT_PREFIX = "import sys; print(sys.prefix)"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root: the projects each test starts a notebook in."""
    root = tmp_path_factory.mktemp("handlers") / "root"
    make_env(root / "analysis" / ".venv")
    make_env(root / "broken" / ".venv", ipykernel=False)
    make_env(root / "repair" / ".venv", ipykernel=False)
    (root / "plain").mkdir(parents=True)
    for notebook in ("analysis/2024/report", "broken/notes", "repair/notes", "plain/notes"):
        write_notebook(root / f"{notebook}.ipynb", PRINT_PREFIX)
    return root


@pytest.fixture(scope="module")
def server(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One server for the module, with two kernelspecs that are not ipykernel's Python."""
    data = tmp_path_factory.mktemp("data")
    for name, metadata in (
        ("stock-r", {}),
        ("named-r", {"kernel_provisioner": {"provisioner_name": "project-kernels"}}),
    ):
        spec = data / "kernels" / name
        spec.mkdir(parents=True)
        # ipykernel under another language's name: a kernel project-kernels leaves alone.
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": name, "language": "r", "metadata": metadata})
        )
    tmp = tmp_path_factory.mktemp("server")
    with running_server(tree, tmp, EXTENSION_CONFIG, env={"JUPYTER_PATH": str(data)}) as srv:
        yield srv


def launched(server: JupyterServer, kernel_id: str) -> dict[str, Any]:
    response = server.request("GET", f"{API}/kernels/{kernel_id}")
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    return dict(response.json())


def which(server: JupyterServer, path: str) -> requests.Response:
    return server.request("GET", f"{API}/which", params={"path": path})


def test_a_kernel_in_a_project_reports_the_environment_it_runs_in(
    tree: Path, server: JupyterServer
) -> None:
    kernel = server.kernel_for("analysis/2024/report.ipynb")
    environment = tree / "analysis" / ".venv"
    plan = launched(server, kernel)
    assert plan["schema"] == 1
    assert plan["mode"] == "environment"
    assert plan["environment"] == str(environment)
    assert plan["relative"] == "analysis/.venv"
    assert plan["kind"] == "venv"
    assert plan["python_version"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert plan["reason"] == "nearest directory named '.venv' above the notebook"
    assert plan["problems"] == []
    # What it reports is where the kernel really runs.
    assert server.execute(kernel, PRINT_PREFIX).stdout.strip() == str(environment)


def test_a_kernel_with_no_environment_nearby_reports_the_server_python(
    tree: Path, server: JupyterServer
) -> None:
    plan = launched(server, server.kernel_for("plain/notes.ipynb"))
    assert plan["mode"] == "stock"
    assert plan["environment"] is None
    assert plan["relative"] is None
    assert plan["kind"] is None
    assert plan["problems"] == []
    assert plan["reason"] == f"no project environment between {tree / 'plain'} and {tree}"


def test_a_kernel_next_to_a_venv_without_ipykernel_reports_the_fallback_and_the_fix(
    tree: Path, server: JupyterServer
) -> None:
    environment = tree / "broken" / ".venv"
    plan = launched(server, server.kernel_for("broken/notes.ipynb"))
    assert plan["mode"] == "fallback"
    assert plan["environment"] == str(environment)
    assert plan["relative"] == "broken/.venv"
    [problem] = plan["problems"]
    assert problem["code"] == "no-ipykernel"
    assert problem["label"] == "needs ipykernel"
    assert problem["summary"] == (
        f"ipykernel is not installed in {environment}, so it cannot run a Jupyter kernel."
    )
    assert problem["fix"] == f"Install it: {problem['command']}"
    assert problem["command"] == f"{environment}/bin/python -m pip install ipykernel"


def test_the_report_is_what_launched_until_a_restart_launches_the_repaired_environment(
    tree: Path, server: JupyterServer
) -> None:
    environment = tree / "repair" / ".venv"
    kernel = server.kernel_for("repair/notes.ipynb")
    assert launched(server, kernel)["mode"] == "fallback"
    install(environment / "bin" / "python", "ipykernel")
    # Recorded at launch, not recomputed: the running kernel is still the fallback...
    assert launched(server, kernel)["mode"] == "fallback"
    # ...while a new start would get the environment...
    assert which(server, "repair/notes.ipynb").json()["mode"] == "environment"
    # ...and the restart does, and says so.
    assert server.restart(kernel).status_code == 200
    plan = launched(server, kernel)
    assert (plan["mode"], plan["environment"], plan["problems"]) == (
        "environment",
        str(environment),
        [],
    )
    assert server.execute(kernel, PRINT_PREFIX).stdout.strip() == str(environment)


@pytest.mark.parametrize("kernelspec", ["stock-r", "named-r"])
def test_a_kernel_that_is_not_python_is_reported_as_passed_through(
    server: JupyterServer, kernelspec: str
) -> None:
    plan = launched(server, server.kernel_for("analysis/2024/other.ipynb", kernelspec))
    assert plan["mode"] == "passthrough"
    assert plan["environment"] is None


def test_an_unknown_kernel_is_not_found(server: JupyterServer) -> None:
    response = server.request("GET", f"{API}/kernels/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "There is no kernel 00000000-0000-0000-0000-000000000000" in response.text


@pytest.mark.parametrize("path", ["/kernels/{kernel}", "/which?path=analysis"])
def test_without_the_token_nothing_is_told(server: JupyterServer, path: str) -> None:
    kernel = server.kernel_for("analysis/2024/report.ipynb")
    response = requests.get(server.url + API + path.format(kernel=kernel), timeout=30)
    assert response.status_code == 403
    assert "analysis" not in response.text


def test_which_tells_what_a_notebook_would_launch_before_any_kernel_exists(
    tree: Path, server: JupyterServer
) -> None:
    kernels_before = server.request("GET", "/api/kernels").json()
    plan = which(server, "analysis/2024/new.ipynb").json()
    assert plan["schema"] == 1
    assert (plan["mode"], plan["environment"], plan["relative"], plan["kind"]) == (
        "environment",
        str(tree / "analysis" / ".venv"),
        "analysis/.venv",
        "venv",
    )
    assert server.request("GET", "/api/kernels").json() == kernels_before
    broken = which(server, "broken").json()
    assert broken["mode"] == "fallback"
    assert broken["problems"][0]["command"].endswith("-m pip install ipykernel")
    assert which(server, "plain/notes.ipynb").json()["mode"] == "stock"
    assert which(server, "").json()["mode"] == "stock"


@pytest.mark.parametrize("path", ["../etc/notes.ipynb", "analysis/../../x.ipynb", "/etc"])
def test_which_refuses_a_path_outside_the_root(server: JupyterServer, path: str) -> None:
    response = which(server, path)
    assert response.status_code == 400
    assert "relative to it, without '..'" in response.json()["message"]


def test_which_for_a_directory_that_does_not_exist_is_not_found(server: JupyterServer) -> None:
    response = which(server, "nowhere/notes.ipynb")
    assert response.status_code == 404
    assert response.json()["message"] == "There is no directory 'nowhere' under the server's root."
