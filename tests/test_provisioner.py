"""The provisioner, through a real jupyter server: notebooks run in their project's environment.

Every test builds real environments and starts real kernels over the server's REST
API and websocket, then asks the kernel where it runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from conftest import pid_alive
from envfactory import make_env, pyenv_python
from jupyter import PROJECT_KERNELS_CONFIG as PROJECT_KERNELS_CONFIG_TEXT
from jupyter import JupyterServer, clean_environ, running_server, write_notebook

pytestmark = pytest.mark.slow

WHERE = (
    "import os, sys, shutil; print(json.dumps({'prefix': sys.prefix, 'exe': sys.executable, "
    "'venv': os.environ.get('VIRTUAL_ENV'), 'path': os.environ['PATH'], 'pid': os.getpid(), "
    "'cwd': os.getcwd(), 'version': list(sys.version_info[:2])}))"
)


def where(server: JupyterServer, kernel_id: str) -> dict[str, object]:
    result = server.execute(kernel_id, "import json\n" + WHERE)
    assert result.status == "ok", (result, server.log())
    return dict(json.loads(result.stdout))


def notebook(root: Path, relative: str) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return relative


@pytest.mark.parametrize("tool", ["venv", "uv", "virtualenv"])
def test_notebook_runs_in_the_nearest_environment_made_by(
    tool: str, project: Path, server: JupyterServer
) -> None:
    make_env(project / "analysis" / ".venv", tool)
    kernel = server.kernel_for(notebook(project, "analysis/2024/q3/report.ipynb"))
    info = where(server, kernel)
    env = project / "analysis" / ".venv"
    assert info["prefix"] == str(env)
    assert info["exe"] == str(env / "bin" / "python")
    assert info["venv"] == str(env)
    assert str(info["path"]).split(":")[0] == str(env / "bin")
    assert info["cwd"] == str(project / "analysis" / "2024" / "q3")
    pip = server.execute(
        kernel,
        "!pip --version" if tool != "uv" else "!uv pip list --quiet >/dev/null; which python",
    )
    assert str(env) in pip.stdout, pip


def test_pip_in_a_cell_names_the_notebooks_environment(
    project: Path, server: JupyterServer
) -> None:
    make_env(project / ".venv", "venv")
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    result = server.execute(kernel, "!pip --version")
    assert str(project / ".venv" / "lib") in result.stdout, result


def test_nearest_environment_wins(project: Path, server: JupyterServer) -> None:
    make_env(project / ".venv")
    make_env(project / "inner" / ".venv")
    inner = server.kernel_for(notebook(project, "inner/deep/nb.ipynb"))
    outer = server.kernel_for(notebook(project, "other/nb.ipynb"))
    assert where(server, inner)["prefix"] == str(project / "inner" / ".venv")
    assert where(server, outer)["prefix"] == str(project / ".venv")


def test_dot_venv_beats_venv_at_one_level(project: Path, server: JupyterServer) -> None:
    make_env(project / "venv")
    make_env(project / ".venv")
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    assert where(server, kernel)["prefix"] == str(project / ".venv")


def test_venv_alone_is_found(project: Path, server: JupyterServer) -> None:
    make_env(project / "venv")
    kernel = server.kernel_for(notebook(project, "a/nb.ipynb"))
    assert where(server, kernel)["prefix"] == str(project / "venv")


def test_no_environment_gives_the_servers_interpreter(project: Path, server: JupyterServer) -> None:
    kernel = server.kernel_for(notebook(project, "plain/nb.ipynb"))
    info = where(server, kernel)
    assert info["exe"] == sys.executable
    assert info["venv"] is None


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.13"])
def test_environments_of_other_python_versions(
    version: str, project: Path, server: JupyterServer
) -> None:
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no Python {version} under pyenv")
    make_env(project / ".venv", "venv", python=python)
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    assert where(server, kernel)["version"] == [int(p) for p in version.split(".")]


@pytest.mark.interpreter
def test_system_site_packages_sees_the_bases_packages(
    project: Path, server: JupyterServer, base_with_ipykernel: Path
) -> None:
    # The base has ipykernel; the venv has none of its own.
    make_env(
        project / ".venv",
        "venv",
        python=base_with_ipykernel,
        system_site_packages=True,
        ipykernel=False,
    )
    assert not list((project / ".venv").glob("lib/python*/site-packages/ipykernel"))
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    result = server.execute(
        kernel, "import ipykernel, sys; print(sys.prefix); print(ipykernel.__file__)"
    )
    assert result.status == "ok", result
    prefix, ipykernel_file = result.stdout.splitlines()
    assert prefix == str(project / ".venv")
    assert ipykernel_file.startswith(str(base_with_ipykernel.parent.parent))


def test_restart_picks_up_an_environment_created_since(
    project: Path, server: JupyterServer
) -> None:
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    assert where(server, kernel)["exe"] == sys.executable
    make_env(project / ".venv")
    assert server.restart(kernel).ok
    assert where(server, kernel)["prefix"] == str(project / ".venv")


def test_interrupt_reaches_a_kernel_running_from_a_venv(
    project: Path, server: JupyterServer
) -> None:
    make_env(project / ".venv")
    kernel = server.kernel_for(notebook(project, "nb.ipynb"))
    assert where(server, kernel)["prefix"] == str(project / ".venv")
    result, seconds = server.interrupted_sleep(kernel)
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
    assert seconds < 30


def test_kernelspec_env_entries_still_apply(project: Path, tmp_path: Path) -> None:
    make_env(project / ".venv")
    kernels = tmp_path / "data" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3",
                "language": "python",
                "env": {"PROJECT_MARKER": "from-spec"},
            }
        )
    )
    from jupyter import PROJECT_KERNELS_CONFIG

    with running_server(
        project, tmp_path, PROJECT_KERNELS_CONFIG, env={"JUPYTER_PATH": str(tmp_path / "data")}
    ) as server:
        kernel = server.kernel_for(notebook(project, "nb.ipynb"))
        result = server.execute(
            kernel, "import os, sys; print(os.environ['PROJECT_MARKER'], sys.prefix)"
        )
        assert result.stdout.split() == ["from-spec", str(project / ".venv")]


def test_a_non_python_kernelspec_is_untouched(project: Path, tmp_path: Path) -> None:
    make_env(project / ".venv")
    spec_dir = tmp_path / "data" / "kernels" / "echo"
    spec_dir.mkdir(parents=True)
    # A "kernel" in another language: ipykernel run under a language name that is not Python.
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Not Python",
                "language": "r",
                "metadata": {"kernel_provisioner": {"provisioner_name": "project-kernels"}},
            }
        )
    )
    from jupyter import PROJECT_KERNELS_CONFIG

    with running_server(
        project, tmp_path, PROJECT_KERNELS_CONFIG, env={"JUPYTER_PATH": str(tmp_path / "data")}
    ) as server:
        kernel = server.kernel_for(notebook(project, "nb.ipynb"), kernel="echo")
        assert where(server, kernel)["exe"] == sys.executable


def test_no_kernel_process_is_left_after_shutdown(project: Path, tmp_path: Path) -> None:
    make_env(project / ".venv")
    from jupyter import PROJECT_KERNELS_CONFIG

    with running_server(project, tmp_path, PROJECT_KERNELS_CONFIG) as server:
        first = server.kernel_for(notebook(project, "a.ipynb"))
        second = server.kernel_for(notebook(project, "b/b.ipynb"))
        pids = [int(where(server, k)["pid"]) for k in (first, second)]  # type: ignore[call-overload]
        assert server.request("DELETE", f"/api/kernels/{first}").status_code == 204
        deadline = time.monotonic() + 10
        while pid_alive(pids[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(pids[0])
        assert pid_alive(pids[1])
    deadline = time.monotonic() + 10
    while pid_alive(pids[1]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(pids[1])


def test_nbconvert_execute_with_the_environment_variable(project: Path, tmp_path: Path) -> None:
    import subprocess

    import nbformat

    make_env(project / ".venv")
    notebook_path = project / "reports" / "weekly.ipynb"
    write_notebook(notebook_path, "import os, sys\nprint(sys.prefix, os.environ['VIRTUAL_ENV'])")
    env = clean_environ()
    env.update(JUPYTER_DEFAULT_PROVISIONER_NAME="project-kernels", HOME=str(tmp_path))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--inplace",
            str(notebook_path),
        ],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
    )
    outputs = nbformat.read(notebook_path, as_version=4).cells[0].outputs
    assert outputs[0]["text"].split() == [str(project / ".venv")] * 2


def test_kernels_api_with_a_path_runs_in_its_environment(
    project: Path, server: JupyterServer
) -> None:
    # POST /api/kernels with a path gives the provisioner a cwd and no JPY_SESSION_NAME.
    make_env(project / "lab" / ".venv")
    (project / "lab" / "sub").mkdir()
    response = server.request("POST", "/api/kernels", json={"name": "python3", "path": "lab/sub"})
    assert response.status_code == 201, response.text
    assert where(server, response.json()["id"])["prefix"] == str(project / "lab" / ".venv")


def test_kernels_api_without_a_path_walks_from_the_root(
    project: Path, server: JupyterServer
) -> None:
    make_env(project / ".venv")
    response = server.request("POST", "/api/kernels", json={"name": "python3"})
    assert response.status_code == 201, response.text
    assert where(server, response.json()["id"])["prefix"] == str(project / ".venv")


@pytest.mark.interpreter
def test_a_server_running_inside_a_venv_does_not_leak_it(project: Path, tmp_path: Path) -> None:
    make_env(project / ".venv")
    stale = {
        "VIRTUAL_ENV": "/opt/server-env",
        "CONDA_PREFIX": "/opt/conda",
        "PIXI_PROJECT_ROOT": "/opt/pixi",
        "PYTHONHOME": sys.base_prefix,
        "PATH": "/opt/server-env/bin:/opt/conda/bin:/usr/bin:/bin",
    }
    with running_server(project, tmp_path, PROJECT_KERNELS_CONFIG_TEXT, env=stale) as server:
        kernel = server.kernel_for("nb.ipynb")
        result = server.execute(
            kernel,
            (
                "import os; print(sorted(k for k in os.environ if k.startswith(('CONDA', 'PIXI', "
                "'PYTHONHOME')))); print(os.environ['PATH'])"
            ),
        )
        names, path = result.stdout.splitlines()
        assert names == "[]"
        assert path.split(":")[0] == str(project / ".venv" / "bin")
        assert "/opt/server-env/bin" not in path and "/opt/conda/bin" not in path
