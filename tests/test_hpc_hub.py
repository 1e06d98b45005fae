"""The HPC example, run: JupyterHub with batchspawner's SlurmSpawner on a real Slurm.

A single-node cluster (``tests/slurm.py``), the site's shared Jupyter installation (a
Python prefix with jupyterhub, batchspawner, ipykernel and project-kernels, configured
by ``examples/hpc/jupyter_server_config.py`` in its ``etc/jupyter``), a module tree with
the example's ``jupyter/project-kernels`` module and two toolchain modules, and two real
users whose project environments pin different modules. The hub runs
``examples/hpc/jupyterhub_config.py`` as it is (with the site's two paths, /opt/jupyter
and /opt/modulefiles, replaced by this test's); each user's server runs as a Slurm job,
and each notebook's kernel in that user's environment with its modules loaded there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupyterhub
import pytest
import slurm
import sysdeps
from envfactory import run, uv
from jupyter import free_port
from sysdeps import configurable_http_proxy, system_python
from test_jupyterhub import (
    TOKEN,
    Hub,
    HubUser,
    _create_user,
    _delete_user,
    _open_notebook,
    _shared_directory,
    _start_hub,
    _start_server,
    _stop_hub,
    _uv_env,
)

from project_kernels.modules import write_declaration

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates system users: needs root"),
]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "hpc"
#: The site's paths in the example, and what stands for them here.
SITE_PREFIX, SITE_MODULES = "/opt/jupyter", "/opt/modulefiles"
TOOLCHAINS = {"ada": "HPCPy/2.1", "grace": "HPCLib/1.0"}
WHERE = (
    "import json, os, socket, sys, getpass\n"
    "try:\n"
    "    import hpcpkg; pkg = hpcpkg.FROM_MODULE\n"
    "except ImportError:\n"
    "    pkg = None\n"
    "print(json.dumps({'prefix': sys.prefix, 'user': getpass.getuser(),"
    " 'job': os.environ.get('SLURM_JOB_ID'), 'host': socket.gethostname(), 'pkg': pkg,"
    " 'lib_var': os.environ.get('HPC_SITE_VAR'), 'loaded': os.environ.get('LOADEDMODULES'),"
    " 'modulepath': os.environ.get('MODULEPATH', '')}))\n"
)


def site_text(path: Path, prefix: Path, modulefiles: Path) -> str:
    """An example file with the site's paths replaced by this test's (and it must name them)."""
    text = path.read_text()
    assert SITE_PREFIX in text or SITE_MODULES in text, f"{path} names no site path"
    return text.replace(SITE_PREFIX, str(prefix)).replace(SITE_MODULES, str(modulefiles))


def _site_installation(shared: Path) -> Path:
    """/opt/jupyter: jupyterhub-singleuser, batchspawner, project-kernels (the example's config)."""
    prefix = shared / "jupyter"
    run(uv(), "venv", "--quiet", "--python", system_python(), prefix, env=_uv_env())
    run(
        uv(), "pip", "install", "--quiet", "--refresh-package", "project-kernels",
        "--python", prefix / "bin" / "python",
        f"jupyterhub=={jupyterhub.__version__}", "batchspawner", "ipykernel", REPO,
        env=_uv_env(),
    )  # fmt: skip
    etc = prefix / "etc" / "jupyter"
    etc.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "jupyter_server_config.py", etc / "jupyter_server_config.py")
    return prefix


def _module_tree(shared: Path, prefix: Path) -> Path:
    """/opt/modulefiles: the example's jupyter module and two toolchains of the site."""
    tree = shared / "modulefiles"
    example = EXAMPLE / "modulefiles" / "jupyter" / "project-kernels.lua"
    (tree / "jupyter").mkdir(parents=True)
    (tree / "jupyter" / "project-kernels.lua").write_text(site_text(example, prefix, tree))
    packages = shared / "site-python"
    (packages / "hpcpkg").mkdir(parents=True)
    (packages / "hpcpkg" / "__init__.py").write_text("FROM_MODULE = 'HPCPy/2.1'\n")
    (tree / "HPCPy").mkdir()
    (tree / "HPCPy" / "2.1.lua").write_text(f'prepend_path("PYTHONPATH", "{packages}")\n')
    (tree / "HPCLib").mkdir()
    (tree / "HPCLib" / "1.0.lua").write_text('setenv("HPC_SITE_VAR", "from-HPCLib")\n')
    run("chmod", "-R", "a+rX", shared)
    return tree


def _give_project(user: HubUser, module: str) -> None:
    """The seed's workflow, done for the user: a venv on the site's Python, its module pinned."""
    environment = user.environment()
    run(uv(), "venv", "--quiet", "--system-site-packages", "--python", system_python(),
        environment, env=_uv_env())  # fmt: skip
    python = environment / "bin" / "python"
    run(uv(), "pip", "install", "--quiet", "--python", python, "ipykernel", env=_uv_env())
    write_declaration(environment, [module])
    (user.home / "analysis" / "2024").mkdir()
    run("chown", "-R", f"{user.name}:{user.name}", user.home / "analysis")


def _hub_config(
    work: Path, prefix: Path, modulefiles: Path, conf: Path, users: list[HubUser]
) -> tuple[Path, int]:
    """The example as it is, then what only this test decides: ports, database, users, a token."""
    port, api_port = free_port(), free_port()
    example = site_text(EXAMPLE / "jupyterhub_config.py", prefix, modulefiles)
    local = f"""
# -- this test's hub, around the example --
# This cluster's slurm.conf is not in /etc/slurm: sbatch (run with the spawner's variables)
# and the jobs must be told.
c.Spawner.environment["SLURM_CONF"] = "{conf}"
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_port = {free_port()}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{configurable_http_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{work / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{work / "cookie_secret"}"
c.JupyterHub.pid_file = "{work / "hub.pid"}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {sorted(u.name for u in users)!r}
c.JupyterHub.services = [{{"name": "tester", "api_token": "{TOKEN}"}}]
c.JupyterHub.load_roles = [{{
    "name": "tester",
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
    "services": ["tester"],
}}]
"""
    path = work / "jupyterhub_config.py"
    path.write_text(example + local)
    return path, port


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Setup:
    hub: Hub
    cluster: slurm.Cluster
    users: dict[str, HubUser]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    sysdeps.lmod()
    sysdeps.ensure_package("sudo", "sudo", ("/usr/bin/sudo",))  # batchspawner's exec_prefix
    work = tmp_path_factory.mktemp("hpc-hub")
    shared = _shared_directory()
    suffix = f"{os.getpid() % 100000}"
    users: dict[str, HubUser] = {}
    hub: Hub | None = None
    try:
        with slurm.running_cluster() as cluster:
            try:
                prefix = _site_installation(shared)
                modulefiles = _module_tree(shared, prefix)
                for name, module in TOOLCHAINS.items():
                    users[name] = _create_user(f"pk{suffix}{name}")
                    _give_project(users[name], module)
                config, port = _hub_config(
                    work, prefix, modulefiles, cluster.conf, list(users.values())
                )
                with _environ(SLURM_CONF=str(cluster.conf)):
                    hub = _start_hub(work, config, port)
                for user in users.values():
                    _start_server(hub, user.name)
                yield Setup(hub, cluster, users)
            finally:
                if hub is not None:
                    _stop_hub(hub)
                    cluster.wait_empty(60)
    finally:
        for user in users.values():
            _delete_user(user.name)
        shutil.rmtree(shared, ignore_errors=True)


def _where(setup: Setup, user: HubUser) -> dict[str, Any]:
    kernel = _open_notebook(setup.hub, user.name, "analysis/2024/report.ipynb")
    result = setup.hub.execute(user.name, kernel, WHERE)
    assert result.status == "ok", (result, setup.hub.log())
    return dict(json.loads(result.stdout))


def test_each_users_server_runs_as_a_slurm_job(setup: Setup) -> None:
    jobs = setup.cluster.jobs("RUNNING")
    owners = {job["user"] for job in jobs if job["name"] == "spawner-jupyterhub"}
    assert owners == {user.name for user in setup.users.values()}, jobs
    for user in setup.users.values():
        specs = setup.hub.user_api(user.name, "GET", "/kernelspecs").json()
        provisioner = specs["kernelspecs"]["python3"]["spec"]["metadata"]["kernel_provisioner"]
        assert provisioner["provisioner_name"] == "project-kernels"


def test_each_kernel_runs_in_its_users_environment_with_its_pinned_modules(setup: Setup) -> None:
    ada, grace = setup.users["ada"], setup.users["grace"]
    seen = {name: _where(setup, user) for name, user in setup.users.items()}
    for name, user in setup.users.items():
        assert seen[name]["prefix"] == str(user.environment())
        assert seen[name]["user"] == user.name
        assert seen[name]["host"] == setup.cluster.hostname
        job = setup.cluster.job(seen[name]["job"])
        assert job is not None and job["state"] == "RUNNING"
        assert seen[name]["loaded"] == TOOLCHAINS[name]
    assert (seen["ada"]["pkg"], seen["ada"]["lib_var"]) == ("HPCPy/2.1", None)
    assert (seen["grace"]["pkg"], seen["grace"]["lib_var"]) == (None, "from-HPCLib")
    assert ada.name != grace.name


def test_the_server_gets_the_module_tree_through_spawner_environment(setup: Setup) -> None:
    """The trap: c.Spawner.environment's MODULEPATH crossed srun, the prologue's modules did not."""
    seen = _where(setup, setup.users["ada"])
    modulepath = seen["modulepath"].split(":")
    assert modulepath[0].endswith("/modulefiles"), modulepath
    # jupyter/project-kernels, loaded by the prologue, is not among the kernel's modules:
    # LOADEDMODULES did not reach the server.
    assert "jupyter/project-kernels" not in (seen["loaded"] or "")


def test_a_job_scripts_own_exports_stop_at_srun_unless_named(setup: Setup, tmp_path: Path) -> None:
    """What SlurmSpawner's script does, reduced: --export=<names>, a prologue, srun."""
    script = tmp_path / "trap.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH --export=PATH,HOME,LISTED\n"
        "export MODULEPATH=/from/prologue LISTED=from-prologue\n"
        "srun bash -c 'echo \"${MODULEPATH:-unset} ${LISTED:-unset}\"'\n"
    )
    output = tmp_path / "trap.out"
    env = {**setup.cluster.env, "LISTED": "from-submitter"}
    done = run("sbatch", "--parsable", "--wait", f"--output={output}", script, env=env)
    assert done.strip()
    assert output.read_text().split() == ["unset", "from-prologue"]
