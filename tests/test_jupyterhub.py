"""A real JupyterHub: every user's notebooks run in that user's own project environment.

One hub for the module, on 127.0.0.1, with configurable-http-proxy from npm and the
local process spawner, serves two real system users made here (the tests run as root).
The single-user servers run from a Python all users may run, configured only by
``examples/jupyterhub/jupyter_server_config.py`` installed into that Python's
``etc/jupyter`` as an image would. Sessions are started through the hub's REST API
and the proxy, as JupyterLab does; the kernels are asked where and as whom they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupyterhub
import pytest
import requests
import websocket
from envfactory import run, uv
from jupyter import execute_over, free_port
from sysdeps import configurable_http_proxy, system_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates system users: needs root"),
]

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = REPO / "examples" / "jupyterhub" / "jupyter_server_config.py"
TOKEN = "project-kernels-hub-test-token"
NOTEBOOK = "2024/report.ipynb"
FALLBACK_FIRST_LINE = "The project environment for this notebook cannot run a kernel."
WHERE = (
    "import getpass, json, os, sys; print(json.dumps({'prefix': sys.prefix, "
    "'user': getpass.getuser(), 'uid': os.getuid(), 'cwd': os.getcwd(), "
    "'venv': os.environ.get('VIRTUAL_ENV')}))"
)


@dataclass
class HubUser:
    """A system user with a home directory, one project and its environment."""

    name: str
    home: Path

    def environment(self, project: str = "analysis") -> Path:
        return self.home / project / ".venv"


@dataclass
class Hub:
    """A running hub; ``url`` is the proxy's public address."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    session: requests.Session

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.url}/hub/api{path}", timeout=60, **kwargs)

    def user_api(self, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request to the user's single-user server, through the proxy."""
        url = f"{self.url}/user/{user}/api{path}"
        return self.session.request(method, url, timeout=120, **kwargs)

    def execute(self, user: str, kernel_id: str, code: str) -> Any:
        ws_url = self.url.replace("http", "ws") + f"/user/{user}/api/kernels/{kernel_id}/channels"
        ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {TOKEN}"], timeout=90
        )
        try:
            return execute_over(ws, code, 90)
        finally:
            ws.close()


def _shared_directory() -> Path:
    """A directory every user may read (pytest's own temporary directories are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="project-kernels-hub-"))
    path.chmod(0o755)
    return path


def _uv_env() -> dict[str, str]:
    # Copies, not hard links into root's uv cache: the files are handed to other users.
    return {**os.environ, "UV_LINK_MODE": "copy"}


def _singleuser_python(shared: Path) -> Path:
    """The single-user servers' Python: jupyterhub-singleuser with project-kernels enabled."""
    prefix = shared / "singleuser"
    run(uv(), "venv", "--quiet", "--python", system_python(), prefix, env=_uv_env())
    run(
        uv(),
        "pip",
        "install",
        "--quiet",
        # uv would reuse a wheel built from an older working tree (it keys on pyproject.toml).
        "--refresh-package",
        "project-kernels",
        "--python",
        prefix / "bin" / "python",
        f"jupyterhub=={jupyterhub.__version__}",
        "ipykernel",
        REPO,
        env=_uv_env(),
    )
    etc = prefix / "etc" / "jupyter"
    etc.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_CONFIG, etc / "jupyter_server_config.py")
    return prefix


def _create_user(name: str) -> HubUser:
    if _user_exists(name):
        _delete_user(name)
    run("useradd", "--create-home", "--shell", "/bin/bash", name)
    return HubUser(name, Path(pwd.getpwnam(name).pw_dir))


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _delete_user(name: str) -> None:
    """Remove the user, its home and any process it still runs (by process id)."""
    for pid in _processes_of(pwd.getpwnam(name).pw_uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    run("userdel", "--remove", name)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                pids.append(int(entry.name))
    return pids


def _give_project(user: HubUser, project: str, *, ipykernel: bool) -> None:
    """A project with a venv in the user's home, owned by the user (as if they had made it)."""
    environment = user.environment(project)
    run(uv(), "venv", "--quiet", "--python", system_python(), environment, env=_uv_env())
    if ipykernel:
        python = environment / "bin" / "python"
        run(uv(), "pip", "install", "--quiet", "--python", python, "ipykernel", env=_uv_env())
    (user.home / project / "2024").mkdir()
    run("chown", "-R", f"{user.name}:{user.name}", user.home / project)


def _hub_config(work: Path, singleuser: Path, users: list[HubUser]) -> tuple[Path, int]:
    port, hub_port, api_port = free_port(), free_port(), free_port()
    config = f"""
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{configurable_http_proxy()!r}]
c.JupyterHub.db_url = "sqlite:///{work / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{work / "cookie_secret"}"
c.JupyterHub.pid_file = "{work / "hub.pid"}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {sorted(u.name for u in users)!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = ["{singleuser / "bin" / "jupyterhub-singleuser"}"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": "tester", "api_token": "{TOKEN}"}}]
c.JupyterHub.load_roles = [{{
    "name": "tester",
    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"],
    "services": ["tester"],
}}]
"""
    path = work / "jupyterhub_config.py"
    path.write_text(config)
    return path, port


def _start_hub(work: Path, config: Path, port: int) -> Hub:
    log_path = work / "hub.log"
    log = open(log_path, "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
        env=env,
        start_new_session=True,
    )
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    hub = Hub(f"http://127.0.0.1:{port}", process, log_path, session)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited:\n{hub.log()}")
        try:
            if hub.api("GET", "/").ok:
                return hub
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"jupyterhub did not start:\n{hub.log()}")


def _stop_hub(hub: Hub) -> None:
    if hub.process.poll() is None:
        hub.process.send_signal(signal.SIGTERM)
        try:
            hub.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.process.pid, signal.SIGKILL)
            hub.process.wait()


@dataclass
class Setup:
    hub: Hub
    ada: HubUser
    grace: HubUser


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The hub; ada has a working project, grace a venv without ipykernel and a working one."""
    work = tmp_path_factory.mktemp("hub")
    shared = _shared_directory()
    suffix = f"{os.getpid() % 100000}"
    users: list[HubUser] = []
    hub: Hub | None = None
    try:
        singleuser = _singleuser_python(shared)
        users = [_create_user(f"pk{suffix}ada"), _create_user(f"pk{suffix}grace")]
        ada, grace = users
        _give_project(ada, "analysis", ipykernel=True)
        _give_project(grace, "analysis", ipykernel=False)
        _give_project(grace, "thesis", ipykernel=True)
        config, port = _hub_config(work, singleuser, users)
        hub = _start_hub(work, config, port)
        for user in users:
            _start_server(hub, user.name)
        yield Setup(hub, ada, grace)
    finally:
        if hub is not None:
            _stop_hub(hub)
        for user in users:
            _delete_user(user.name)
        shutil.rmtree(shared, ignore_errors=True)


def _start_server(hub: Hub, name: str) -> None:
    """``POST /hub/api/users/NAME/server``, then wait until the hub says it is ready."""
    response = hub.api("POST", f"/users/{name}/server")
    assert response.status_code in (201, 202), (response.status_code, response.text, hub.log())
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        model = hub.api("GET", f"/users/{name}").json()
        server = model.get("servers", {}).get("")
        if server and server.get("ready"):
            return
        if not model.get("pending") and not server:
            break
        time.sleep(0.5)
    raise AssertionError(f"{name}'s server did not start:\n{hub.log()}")


def _open_notebook(hub: Hub, user: str, notebook: str) -> str:
    """What JupyterLab does on opening a notebook: ``POST /api/sessions`` for its path."""
    response = hub.user_api(
        user,
        "POST",
        "/sessions",
        json={
            "path": notebook,
            "type": "notebook",
            "name": Path(notebook).name,
            "kernel": {"name": "python3"},
        },
    )
    assert response.status_code == 201, (response.status_code, response.text, hub.log())
    return str(response.json()["kernel"]["id"])


def _where(hub: Hub, user: str, kernel_id: str) -> dict[str, Any]:
    result = hub.execute(user, kernel_id, WHERE)
    assert result.status == "ok", (result, hub.log())
    return dict(json.loads(result.stdout))


def test_each_users_server_offers_the_project_aware_python3(setup: Setup) -> None:
    for user in (setup.ada, setup.grace):
        model = setup.hub.api("GET", f"/users/{user.name}").json()
        assert model["servers"][""]["ready"], model
        status = setup.hub.user_api(user.name, "GET", "/status")
        assert status.ok, (status.status_code, status.text)
        specs = setup.hub.user_api(user.name, "GET", "/kernelspecs").json()
        provisioner = specs["kernelspecs"]["python3"]["spec"]["metadata"]["kernel_provisioner"]
        assert provisioner["provisioner_name"] == "project-kernels"


def test_a_broken_environment_explains_itself_and_leaves_the_other_user_alone(
    setup: Setup,
) -> None:
    hub, ada, grace = setup.hub, setup.ada, setup.grace
    broken = _open_notebook(hub, grace.name, f"analysis/{NOTEBOOK}")
    refused = hub.execute(grace.name, broken, "import sys")
    assert refused.status == "error", refused
    explanation = "\n".join(refused.error["traceback"])
    assert explanation.startswith(FALLBACK_FIRST_LINE), explanation
    assert str(grace.environment()) in explanation
    assert "ipykernel" in explanation
    shell = hub.execute(grace.name, broken, '!whoami; echo "$VIRTUAL_ENV"')
    assert shell.stdout.split() == [grace.name, str(grace.environment())], shell

    working = _open_notebook(hub, ada.name, f"analysis/{NOTEBOOK}")
    assert _where(hub, ada.name, working) == {
        "prefix": str(ada.environment()),
        "user": ada.name,
        "uid": pwd.getpwnam(ada.name).pw_uid,
        "cwd": str(ada.home / "analysis" / "2024"),
        "venv": str(ada.environment()),
    }


def test_each_kernel_runs_in_its_own_users_project_environment(setup: Setup) -> None:
    hub, ada, grace = setup.hub, setup.ada, setup.grace
    opened = {ada.name: ("analysis", ada), grace.name: ("thesis", grace)}
    kernels = {
        name: _open_notebook(hub, name, f"{project}/{NOTEBOOK}")
        for name, (project, _) in opened.items()
    }
    for name, (project, user) in opened.items():
        info = _where(hub, name, kernels[name])
        assert info["prefix"] == str(user.environment(project)), info
        assert info["user"] == name, info
        assert info["uid"] == pwd.getpwnam(name).pw_uid, info
        assert info["cwd"] == str(user.home / project / "2024"), info
