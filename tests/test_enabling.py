"""``project-kernels enable|disable|status``, with real ``jupyter`` commands and real servers.

Everything runs from a throwaway venv (made by uv, seeing this machine's Jupyter
through ``--system-site-packages``, with project-kernels installed editable) whose
``sys.prefix`` the tests may write, and with the user's Jupyter directories in
temporary directories: nothing outside them is read or written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from envfactory import make_env, uv
from envfactory import run as run_tool
from jupyter import JupyterServer, clean_environ, running_server, write_notebook

#: What these tests check depends on the interpreter running them (CI runs them from a
#: fresh virtual environment too).
pytestmark = [pytest.mark.slow, pytest.mark.interpreter]

REPO = Path(__file__).resolve().parents[1]
PREFIX_CODE = "import sys; print(sys.prefix)"
#: What the prefix's Python runs besides project-kernels: the server, nbconvert, papermill.
PREFIX_PACKAGES = ("jupyter_server", "nbconvert", "papermill")


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory, base_with_ipykernel: Path) -> Path:
    """A writable prefix: a venv with Jupyter and project-kernels (editable), on a base whose
    ipykernel runs the stock python3 kernel (as an image's or a module's Python would)."""
    venv = tmp_path_factory.mktemp("prefix") / "venv"
    python = venv / "bin" / "python"
    run_tool(
        uv(), "venv", "--quiet", "--system-site-packages", "--python", base_with_ipykernel, venv
    )
    run_tool(uv(), "pip", "install", "--quiet", "--python", python, *PREFIX_PACKAGES, "-e", REPO)
    return venv


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with ``analysis/.venv`` (uv, ipykernel) and a notebook printing sys.prefix."""
    root = tmp_path_factory.mktemp("project")
    make_env(root / "analysis" / ".venv", "uv")
    write_notebook(root / "analysis" / "2024" / "report.ipynb", PREFIX_CODE)
    return root


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """Variables that put the user's Jupyter directories in ``tmp_path``."""
    return {
        **clean_environ(),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "user-config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "user-data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        # The user's directories first, as outside a venv, even when the tests run in one.
        "JUPYTER_PREFER_ENV_PATH": "0",
    }


@pytest.fixture
def clean_prefix(prefix: Path, home: dict[str, str]) -> Iterator[Path]:
    """The prefix, with whatever a test enabled there disabled and removed afterwards."""
    yield prefix
    project_kernels(prefix, "disable", env=home)
    for leftover in (prefix / "etc", prefix / "share" / "jupyter"):
        shutil.rmtree(leftover, ignore_errors=True)


def files_below(directory: Path) -> dict[str, str]:
    """Every file below ``directory`` (relative path -> text); empty when it does not exist."""
    return {
        str(path.relative_to(directory)): path.read_text()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def printed(notebook: Path) -> str:
    """The stdout of the first cell of an executed notebook."""
    cell = nbformat.read(notebook, as_version=4).cells[0]
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout").strip()


def run(
    argv: list[str | Path], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def project_kernels(
    prefix: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return run([prefix / "bin" / "project-kernels", *args], env)


def extension_list(prefix: Path, env: dict[str, str]) -> str:
    """``jupyter server extension list`` as the prefix's Python prints it, without colours."""
    listed = run([prefix / "bin" / "python", "-m", "jupyter_server", "extension", "list"], env)
    return re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)


@contextmanager
def server_from(
    prefix: Path, root: Path, tmp: Path, home: dict[str, str], config: str = ""
) -> Iterator[JupyterServer]:
    """A real server run by the prefix's Python, reading only the prefix's and ``home``'s config."""
    with running_server(
        root,
        tmp,
        config,
        env={"JUPYTER_DATA_DIR": home["JUPYTER_DATA_DIR"]},
        python=prefix / "bin" / "python",
    ) as server:
        yield server


def python3_spec(server: JupyterServer) -> dict[str, Any]:
    specs = server.request("GET", "/api/kernelspecs").json()["kernelspecs"]
    return dict(specs["python3"]["spec"])


def kernel_prefix(server: JupyterServer, notebook: str) -> str:
    kernel = server.kernel_for(notebook)
    result = server.execute(kernel, PREFIX_CODE)
    assert result.status == "ok", (result, server.log())
    return result.stdout.strip()


def test_enable_makes_a_server_with_no_other_config_project_aware_and_disable_undoes_it(
    clean_prefix: Path, project: Path, home: dict[str, str], tmp_path: Path
) -> None:
    prefix = clean_prefix
    enabled = project_kernels(prefix, "enable", env=home)
    assert enabled.returncode == 0, enabled
    drop_in = prefix / "etc" / "jupyter" / "jupyter_server_config.d" / "project_kernels.json"
    kernel_json = prefix / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    assert json.loads(drop_in.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"project_kernels.extension": True}}
    }
    assert json.loads(kernel_json.read_text())["metadata"]["kernel_provisioner"] == {
        "provisioner_name": "project-kernels",
        "config": {},
    }
    listed = extension_list(prefix, home)
    assert re.search(r"project_kernels\.extension\s+enabled", listed), listed

    status = project_kernels(prefix, "status", "--json", env=home)
    assert status.returncode == 0, status
    verdicts = {f["front_end"]: f for f in json.loads(status.stdout)["front_ends"]}
    assert all(f["aware"] for f in verdicts.values()), verdicts
    assert str(drop_in) in verdicts["Jupyter server (JupyterLab, Notebook 7, Voila)"]["why"]

    with server_from(prefix, project, tmp_path, home) as server:
        assert python3_spec(server)["metadata"]["kernel_provisioner"]["provisioner_name"] == (
            "project-kernels"
        )
        assert kernel_prefix(server, "analysis/2024/report.ipynb") == str(
            project / "analysis" / ".venv"
        )

    disabled = project_kernels(prefix, "disable", env=home)
    assert disabled.returncode == 0, disabled
    assert not drop_in.exists()
    assert not kernel_json.parent.exists(), "the python3 kernelspec enable made is removed"
    assert "project_kernels" not in extension_list(prefix, home)
    status = project_kernels(prefix, "status", env=home)
    assert status.returncode == 1
    assert "NOT project-aware" in status.stdout

    with server_from(prefix, project, tmp_path, home) as server:
        assert "kernel_provisioner" not in python3_spec(server)["metadata"]
        assert kernel_prefix(server, "analysis/2024/report.ipynb") == str(prefix)


def test_enable_and_disable_never_rewrite_what_the_admin_wrote(
    clean_prefix: Path, home: dict[str, str]
) -> None:
    prefix = clean_prefix
    etc = prefix / "etc" / "jupyter"
    # Present already when the prefix's packages ship drop-ins (jupyter_server_terminals).
    (etc / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    admin_files = {
        etc / "jupyter_server_config.json": '{"ServerApp": {"jpserver_extensions": '
        '{"other_extension": true}, "root_dir": "/srv"}}\n',
        etc / "jupyter_server_config.d" / "other.json": '{"ServerApp": {"jpserver_extensions": '
        '{"other_extension": true}}}\n',
        etc / "jupyter_nbconvert_config.json": '{"NbConvertApp": {"export_format": "html"}}\n',
    }
    for path, text in admin_files.items():
        path.write_text(text)
    # The python3 kernelspec as ipykernel's wheel installs it, with an admin's extra variable.
    kernels = prefix / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    original = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "env": {"OMP_NUM_THREADS": "1"},
        "metadata": {"debugger": True},
        "kernel_protocol_version": "5.5",
    }
    (kernels / "kernel.json").write_text(json.dumps(original, indent=1))
    (kernels / "logo-64x64.png").write_bytes(b"logo")

    for _ in range(2):  # enabling twice changes nothing more
        assert project_kernels(prefix, "enable", env=home).returncode == 0
    again = project_kernels(prefix, "enable", env=home)
    assert again.stdout.count("unchanged") == 2, again.stdout
    for path, text in admin_files.items():
        assert path.read_text() == text
    enabled = json.loads((kernels / "kernel.json").read_text())
    assert enabled == {
        **original,
        "metadata": {
            "debugger": True,
            "kernel_provisioner": {"provisioner_name": "project-kernels", "config": {}},
        },
    }

    assert project_kernels(prefix, "disable", env=home).returncode == 0
    for path, text in admin_files.items():
        assert path.read_text() == text
    assert json.loads((kernels / "kernel.json").read_text()) == original
    assert (kernels / "logo-64x64.png").read_bytes() == b"logo"
    assert not (etc / "jupyter_server_config.d" / "project_kernels.json").exists()


def test_enable_leaves_a_python3_that_names_another_provisioner(
    clean_prefix: Path, home: dict[str, str]
) -> None:
    kernels = clean_prefix / "share" / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    theirs = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3",
        "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": "local-provisioner"}},
    }
    (kernels / "kernel.json").write_text(json.dumps(theirs))
    enabled = project_kernels(clean_prefix, "enable", env=home)
    assert "left alone" in enabled.stdout and "local-provisioner" in enabled.stdout, enabled.stdout
    assert json.loads((kernels / "kernel.json").read_text()) == theirs


def test_user_scope_writes_to_the_users_jupyter_directories_only(
    clean_prefix: Path, home: dict[str, str]
) -> None:
    prefix_files = files_below(clean_prefix / "etc")
    assert project_kernels(clean_prefix, "enable", "--user", env=home).returncode == 0
    config, data = Path(home["JUPYTER_CONFIG_DIR"]), Path(home["JUPYTER_DATA_DIR"])
    assert (config / "jupyter_server_config.d" / "project_kernels.json").is_file()
    spec = json.loads((data / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "project-kernels"
    assert (data / "kernels" / "python3" / "logo-64x64.png").is_file()
    assert files_below(clean_prefix / "etc") == prefix_files
    status = project_kernels(clean_prefix, "status", env=home)
    assert status.returncode == 0, status.stdout
    assert project_kernels(clean_prefix, "disable", "--user", env=home).returncode == 0
    assert not (config / "jupyter_server_config.d" / "project_kernels.json").exists()
    assert not (data / "kernels" / "python3").exists()


def test_nbconvert_and_papermill_run_a_notebook_in_its_environment_after_enable(
    clean_prefix: Path, project: Path, home: dict[str, str], tmp_path: Path
) -> None:
    python = clean_prefix / "bin" / "python"
    assert project_kernels(clean_prefix, "enable", env=home).returncode == 0
    notebook = project / "analysis" / "2024" / "report.ipynb"
    environment = str(project / "analysis" / ".venv")

    nbconvert: list[str | Path] = [python, "-m", "nbconvert", "--to", "notebook", "--execute"]
    converted = run(
        [*nbconvert, notebook, "--output-dir", tmp_path, "--output", "nbconvert.ipynb"],
        home,
    )
    assert converted.returncode == 0, converted.stderr
    assert printed(tmp_path / "nbconvert.ipynb") == environment

    # papermill from the notebook's directory, and from elsewhere with --cwd.
    here = run(
        [python, "-m", "papermill", notebook.name, tmp_path / "pm1.ipynb"], home, notebook.parent
    )
    assert here.returncode == 0, here.stderr
    assert printed(tmp_path / "pm1.ipynb") == environment
    there = run(
        [python, "-m", "papermill", notebook, tmp_path / "pm2.ipynb", "--cwd", notebook.parent],
        home,
        tmp_path,
    )
    assert there.returncode == 0, there.stderr
    assert printed(tmp_path / "pm2.ipynb") == environment

    assert project_kernels(clean_prefix, "disable", env=home).returncode == 0
    stock = run(
        [python, "-m", "papermill", notebook.name, tmp_path / "pm3.ipynb"], home, notebook.parent
    )
    assert stock.returncode == 0, stock.stderr
    assert printed(tmp_path / "pm3.ipynb") == str(clean_prefix)


def test_the_extension_leaves_a_spec_manager_the_admin_chose(
    clean_prefix: Path, project: Path, home: dict[str, str], tmp_path: Path
) -> None:
    assert project_kernels(clean_prefix, "enable", env=home).returncode == 0
    chosen = (
        'c.ServerApp.kernel_spec_manager_class = "jupyter_client.kernelspec.KernelSpecManager"\n'
    )
    with server_from(clean_prefix, project, tmp_path, home, chosen) as server:
        assert "is set to jupyter_client.kernelspec.KernelSpecManager" in server.log()
        # The python3 kernelspec enable wrote still carries the provisioner.
        assert kernel_prefix(server, "analysis/2024/report.ipynb") == str(
            project / "analysis" / ".venv"
        )
