"""The resolver: the one answer to "what launches for this directory, and how?"."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from envfactory import make_env

from project_kernels.resolver import (
    DIAGNOSIS_VARIABLE,
    EnvironmentUnusable,
    LaunchMode,
    LaunchRequest,
    OnUnusable,
    Settings,
    fallback_argv,
    is_ipykernel_command,
    plan_launch,
    resolve,
)

ARGV = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "/run/kernel-1.json"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good/.venv (usable), bad/.venv (no ipykernel), plain/ (nothing)."""
    root = tmp_path_factory.mktemp("root")
    make_env(root / "good" / ".venv", "uv")
    make_env(root / "bad" / ".venv", "uv", ipykernel=False)
    (root / "plain" / "deeper").mkdir(parents=True)
    return root


def plan(root: Path, cwd: str | None, mode: OnUnusable = OnUnusable.FALLBACK, **request: object):  # type: ignore[no-untyped-def]
    settings = Settings(on_unusable=mode)
    walk = resolve(LaunchRequest(cwd=cwd, root_dir=root, **request), settings)  # type: ignore[arg-type]
    return plan_launch(walk, {"PATH": "/usr/bin"}, settings)


def test_a_usable_environment_replaces_only_the_interpreter(root: Path) -> None:
    launch = plan(root, str(root / "good" / "sub"))
    assert launch.mode is LaunchMode.ENVIRONMENT
    assert launch.command(ARGV) == [str(root / "good" / ".venv" / "bin" / "python"), *ARGV[1:]]
    assert launch.env["VIRTUAL_ENV"] == str(root / "good" / ".venv")


def test_no_environment_is_exactly_stock(root: Path) -> None:
    launch = plan(root, str(root / "plain" / "deeper"))
    assert launch.mode is LaunchMode.STOCK
    assert launch.command(ARGV) == ARGV
    assert launch.env == {"PATH": "/usr/bin"}


def test_an_unusable_environment_gets_the_fallback_with_the_diagnosis(root: Path) -> None:
    launch = plan(root, str(root / "bad"))
    assert launch.mode is LaunchMode.FALLBACK
    command = launch.command(ARGV)
    assert command[0] == sys.executable and command[-2:] == ["-f", "/run/kernel-1.json"]
    diagnosis = json.loads(launch.env[DIAGNOSIS_VARIABLE])
    assert "ipykernel is not installed" in diagnosis["message"]
    assert launch.env["VIRTUAL_ENV"] == str(root / "bad" / ".venv")  # so '!pip' repairs it


def test_error_mode_raises_the_same_text(root: Path) -> None:
    with pytest.raises(EnvironmentUnusable, match="ipykernel is not installed"):
        plan(root, str(root / "bad"), OnUnusable.ERROR)


def test_warn_mode_launches_stock_and_keeps_the_message(root: Path) -> None:
    launch = plan(root, str(root / "bad"), OnUnusable.WARN)
    assert launch.mode is LaunchMode.WARNED
    assert launch.command(ARGV) == ARGV
    assert "ipykernel is not installed" in launch.message


def test_a_start_outside_the_root_walks_from_the_root(root: Path) -> None:
    walk = resolve(LaunchRequest(cwd="/", root_dir=root / "good"), Settings())
    assert walk is not None and walk.start == root / "good"
    assert walk.environment is not None and walk.environment.root == root / "good" / ".venv"


def test_without_cwd_the_notebook_path_is_used(root: Path) -> None:
    walk = resolve(
        LaunchRequest(session_name=str(root / "good" / "nb.ipynb"), root_dir=root), Settings()
    )
    assert walk is not None and walk.start == root / "good"


def test_fallback_command_keeps_the_module_arguments() -> None:
    command = fallback_argv(ARGV)
    assert command[:2] == [sys.executable, "-c"]
    assert "project_kernels.fallback" in command[2]
    assert command[3:] == ["-f", "/run/kernel-1.json"]


@pytest.mark.parametrize(
    ("argv", "language", "expected"),
    [
        (ARGV, "python", True),
        (["python", "-m", "ipykernel", "-f", "x"], "Python", True),
        (["R", "--slave", "-e", "IRkernel::main()", "--args", "x"], "R", False),
        (ARGV, "r", False),
        (["python", "-m", "xeus_python", "-f", "x"], "python", False),
    ],
)
def test_only_ipykernel_commands_are_retargeted(
    argv: list[str], language: str, expected: bool
) -> None:
    assert is_ipykernel_command(argv, language) is expected


def test_the_fallback_does_not_import_from_the_environments_pythonpath(root: Path) -> None:
    settings = Settings()
    walk = resolve(LaunchRequest(cwd=str(root / "bad"), root_dir=root), settings)
    launch = plan_launch(walk, {"PATH": "/usr/bin", "PYTHONPATH": "/modules/py39"}, settings)
    assert "PYTHONPATH" not in launch.env
    assert launch.env["PROJECT_KERNELS_SHELL_PYTHONPATH"] == "/modules/py39"
