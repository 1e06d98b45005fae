"""The launch decision: what starts for a request, step by step (see project_kernels.decision)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from planted import plant_venv

from project_kernels.decision import LaunchMode, LaunchPlan, decide, fallback_argv
from project_kernels.environments import ProblemCode
from project_kernels.failure_memory import FailureMemory
from project_kernels.modules import DECLARATION_NAME
from project_kernels.names import DIAGNOSIS_VARIABLE, SHELL_PYTHONPATH_VARIABLE
from project_kernels.resolver import LaunchRequest
from project_kernels.settings import OnUnusable, Settings

ARGV = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "/run/kernel-1.json"]
BASE = {"PATH": "/usr/bin"}
#: A bin/python that starts and dies, as one with a damaged ipykernel does.
DYING = "#!/bin/sh\necho 'ImportError: cannot import name kernelapp' >&2\nexit 1\n"
#: A bin/python that answers the examination as one with a working ipykernel does.
HEALTHY = "#!/bin/sh\nexit 0\n"


def decision(
    root: Path,
    where: str = "",
    *,
    on_unusable: OnUnusable = OnUnusable.FALLBACK,
    memory: FailureMemory | None = None,
    env: dict[str, str] | None = None,
    **request: object,
) -> LaunchPlan:
    settings = Settings(on_unusable=on_unusable, **request.pop("settings", {}))  # type: ignore[arg-type]
    launch = LaunchRequest(cwd=str(root / where), root_dir=root, env=env or BASE, **request)  # type: ignore[arg-type]
    return decide(launch, settings, memory)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_usable_environment_replaces_only_the_interpreter(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    plan = decision(tmp_path)
    assert plan.mode is LaunchMode.ENVIRONMENT
    assert plan.command(ARGV) == [str(tmp_path / ".venv" / "bin" / "python"), *ARGV[1:]]
    assert plan.env["VIRTUAL_ENV"] == str(tmp_path / ".venv")
    # The server's own tools stay reachable right after the environment's (see pipless).
    server_bin = str(Path(sys.executable).parent)
    assert plan.env["PATH"] == f"{tmp_path / '.venv' / 'bin'}:{server_bin}:/usr/bin"


def test_no_environment_is_exactly_stock(tmp_path: Path) -> None:
    plan = decision(tmp_path)
    assert plan.mode is LaunchMode.STOCK
    assert plan.command(ARGV) == ARGV
    assert plan.env == BASE
    assert plan.walk is not None and plan.walk.visited == (tmp_path,)


def test_an_unusable_environment_gets_the_fallback_with_the_diagnosis(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path)
    assert plan.mode is LaunchMode.FALLBACK
    command = plan.command(ARGV)
    assert command[0] == sys.executable and command[-2:] == ["-f", "/run/kernel-1.json"]
    diagnosis = json.loads(plan.env[DIAGNOSIS_VARIABLE])
    assert "ipykernel is not installed" in diagnosis["message"]
    assert plan.env["VIRTUAL_ENV"] == str(tmp_path / ".venv")  # so '!pip' repairs it


def test_error_mode_plans_an_error_with_the_same_text(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, on_unusable=OnUnusable.ERROR)
    assert plan.mode is LaunchMode.ERROR and not plan.exits
    assert "ipykernel is not installed" in plan.message


def test_without_ipykernel_in_the_server_the_fallback_becomes_an_error(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, settings={"fallback_available": False})
    assert plan.mode is LaunchMode.ERROR


def test_an_error_after_an_unexpected_exit_is_a_process_that_exits(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, on_unusable=OnUnusable.ERROR, after_unexpected_exit=True)
    assert plan.mode is LaunchMode.ERROR and plan.exits
    assert plan.command(ARGV)[:2] == [sys.executable, "-c"]
    assert plan.command(ARGV)[-1] == plan.message


def test_warn_mode_launches_stock_and_keeps_the_message(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, on_unusable=OnUnusable.WARN)
    assert plan.mode is LaunchMode.WARNED
    assert plan.command(ARGV) == ARGV
    assert "ipykernel is not installed" in plan.message


def test_the_fallback_does_not_import_from_the_environments_pythonpath(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, env={"PATH": "/usr/bin", "PYTHONPATH": "/modules/py39"})
    assert "PYTHONPATH" not in plan.env
    assert plan.env[SHELL_PYTHONPATH_VARIABLE] == "/modules/py39"


def test_a_pinned_environment_is_decided_like_a_walked_one(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    plant_venv(tmp_path / "envs" / "gpu", ipykernel=None)
    plan = decision(tmp_path, environment=tmp_path / "envs" / "gpu")
    assert plan.mode is LaunchMode.FALLBACK
    assert plan.environment is not None and plan.environment.root == tmp_path / "envs" / "gpu"


# -- failure memory ------------------------------------------------------------------------


def test_an_environment_that_died_young_is_examined_and_explained(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", interpreter=DYING)
    memory = FailureMemory(clock=Clock())
    assert decision(tmp_path, memory=memory).mode is LaunchMode.ENVIRONMENT
    memory.record(tmp_path / ".venv")
    plan = decision(tmp_path, memory=memory)
    assert plan.mode is LaunchMode.FALLBACK
    assert plan.environment is not None
    assert [p.code for p in plan.environment.problems] == [ProblemCode.STARTUP_FAILED]
    assert "cannot import name kernelapp" in plan.message


def test_an_environment_repaired_since_it_died_is_forgotten(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", interpreter=HEALTHY)
    memory = FailureMemory(clock=Clock())
    memory.record(tmp_path / ".venv")
    assert decision(tmp_path, memory=memory).mode is LaunchMode.ENVIRONMENT
    assert not memory.failed_recently(tmp_path / ".venv")


def test_a_death_long_ago_is_not_examined(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", interpreter=DYING)
    clock = Clock()
    memory = FailureMemory(ttl=600, clock=clock)
    memory.record(tmp_path / ".venv")
    clock.now += 600
    assert decision(tmp_path, memory=memory).mode is LaunchMode.ENVIRONMENT


# -- the order in which problems are attached ----------------------------------------------


def test_trust_replaces_what_inspection_found(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    (tmp_path / ".venv").chmod(0o777)
    plan = decision(tmp_path)
    assert plan.environment is not None
    assert {p.code for p in plan.environment.problems} == {ProblemCode.UNTRUSTED}
    assert "VIRTUAL_ENV" not in plan.env  # its bin/ is not put first on PATH either


def test_an_untrusted_environments_modules_are_not_even_read(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / ".venv" / DECLARATION_NAME).write_text("modules = ['../../etc/evil']\n")
    (tmp_path / ".venv").chmod(0o777)
    plan = decision(tmp_path)
    assert plan.environment is not None
    assert {p.code for p in plan.environment.problems} == {ProblemCode.UNTRUSTED}


def test_a_modules_problem_follows_the_inspections(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    (tmp_path / ".venv" / DECLARATION_NAME).write_text("modules = 'GCC'\n")
    plan = decision(tmp_path)
    assert plan.environment is not None
    codes = [p.code for p in plan.environment.problems]
    assert codes == [ProblemCode.NO_IPYKERNEL, ProblemCode.MODULES]


def test_an_unusable_environment_is_never_started_to_examine_it(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None, interpreter=DYING)
    memory = FailureMemory(clock=Clock())
    memory.record(tmp_path / ".venv")
    plan = decision(tmp_path, memory=memory)
    assert plan.environment is not None
    assert [p.code for p in plan.environment.problems] == [ProblemCode.NO_IPYKERNEL]


def test_fallback_command_keeps_the_module_arguments() -> None:
    command = fallback_argv(ARGV)
    assert command[:2] == [sys.executable, "-c"]
    assert "project_kernels.fallback" in command[2]
    assert command[3:] == ["-f", "/run/kernel-1.json"]


@pytest.mark.parametrize("mode", list(OnUnusable))
def test_every_mode_keeps_the_environment_it_refused(tmp_path: Path, mode: OnUnusable) -> None:
    plant_venv(tmp_path / ".venv", ipykernel=None)
    plan = decision(tmp_path, on_unusable=mode)
    assert plan.environment is not None and plan.environment.root == tmp_path / ".venv"
