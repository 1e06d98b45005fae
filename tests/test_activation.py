"""Activation builds the kernel's variables as ``source bin/activate`` would."""

from __future__ import annotations

from pathlib import Path

from project_kernels.activation import activated, deactivated
from project_kernels.environments import Environment, Kind

VENV = Environment(root=Path("/p/.venv"), kind=Kind.VENV, interpreter=Path("/p/.venv/bin/python"))
SERVER = {
    "PATH": "/opt/jupyter/bin:/usr/bin:/bin",
    "VIRTUAL_ENV": "/opt/jupyter",
    "PYTHONHOME": "/opt/python",
    "CONDA_PREFIX": "/opt/conda",
    "CONDA_DEFAULT_ENV": "base",
    "PIXI_PROJECT_ROOT": "/opt/pixi-project",
    "JPY_SESSION_NAME": "/p/nb.ipynb",
    "HOME": "/home/ada",
}


def test_a_venv_is_first_on_path_and_named_in_virtual_env() -> None:
    env = activated(VENV, SERVER)
    assert env["PATH"] == "/p/.venv/bin:/usr/bin:/bin"
    assert env["VIRTUAL_ENV"] == "/p/.venv"
    assert env["VIRTUAL_ENV_PROMPT"] == ".venv"


def test_the_servers_own_environment_does_not_leak_into_the_kernel() -> None:
    env = activated(VENV, SERVER)
    for stale in ("PYTHONHOME", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PIXI_PROJECT_ROOT"):
        assert stale not in env
    assert "/opt/jupyter/bin" not in env["PATH"]


def test_everything_else_is_kept() -> None:
    env = activated(VENV, SERVER)
    assert env["JPY_SESSION_NAME"] == "/p/nb.ipynb"
    assert env["HOME"] == "/home/ada"


def test_the_base_is_never_modified() -> None:
    before = dict(SERVER)
    activated(VENV, SERVER)
    assert before == SERVER


def test_activating_twice_does_not_duplicate_the_bin_directory() -> None:
    once = activated(VENV, {"PATH": "/usr/bin"})
    assert activated(VENV, once)["PATH"] == "/p/.venv/bin:/usr/bin"


def test_deactivated_drops_only_the_stale_bins_from_path() -> None:
    assert deactivated(SERVER)["PATH"] == "/usr/bin:/bin"
