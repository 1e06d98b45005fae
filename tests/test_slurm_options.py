"""What a kernel's Slurm job asks for: the deployment's and the environment's options, checked.

Pure tests of ``project_kernels.slurm.options``, ``.planning``, ``.script`` and the
``[slurm]`` table of ``project-kernels.toml``; the jobs themselves run on a real
cluster in ``test_slurm_kernels.py``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from planted import plant_venv
from traitlets import TraitError
from traitlets.config import Config

from project_kernels import declaration
from project_kernels.config import ProjectKernels
from project_kernels.decision import LaunchMode, LaunchPlan, decide
from project_kernels.environments import ProblemCode
from project_kernels.modules import read_declaration, write_declaration
from project_kernels.resolver import LaunchRequest
from project_kernels.settings import Settings
from project_kernels.slurm.options import SlurmOptions, SlurmOptionsError, parse_options
from project_kernels.slurm.script import (
    ADDRESS_PLACEHOLDER,
    JobFiles,
    job_environment,
    render_script,
    sbatch_argv,
)

ARGV = ["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "/run/kernel-1.json"]


def plan_for(
    root: Path, table: str = "", deployment: SlurmOptions | None = None, **request: object
) -> LaunchPlan:
    environment = root / ".venv"
    if not environment.exists():
        plant_venv(environment)
    if table:
        (environment / declaration.DECLARATION_NAME).write_text(table)
    settings = Settings(slurm=deployment or SlurmOptions())
    launch = LaunchRequest(cwd=str(root), root_dir=root, env={"PATH": "/usr/bin"}, **request)  # type: ignore[arg-type]
    return decide(launch, settings)


# -- the options ---------------------------------------------------------------------------


def test_options_become_sbatch_arguments_in_a_fixed_order() -> None:
    options = parse_options(
        {"partition": "gpu", "time": "1:30:00", "account": "proj42", "cpus": 4,
         "memory": "16G", "sbatch_args": ["--gres=gpu:1"]},
        "test", deployment=False,
    )  # fmt: skip
    assert options.sbatch_options() == [
        "--partition=gpu", "--time=1:30:00", "--account=proj42", "--cpus-per-task=4",
        "--mem=16G", "--gres=gpu:1",
    ]  # fmt: skip
    assert options.summary() == (
        "partition gpu, time 1:30:00, account proj42, 4 CPUs, memory 16G, sbatch --gres=gpu:1"
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"partition": "gpu; rm -rf ~"}, "'partition' = 'gpu; rm -rf ~' is not valid"),
        ({"time": "an hour"}, "for example '1:00:00'"),
        ({"memory": "lots"}, "for example '4G'"),
        ({"cpus": 0}, "'cpus' must be a whole number"),
        ({"cpus": True}, "'cpus' must be a whole number"),
        ({"sbatch_args": "--gres=gpu:1"}, "must be a list of arguments"),
        ({"queue_timeout": -1}, "must be a number of seconds"),
        ({"enabled": "yes"}, "'enabled' must be true or false"),
        ({"partiton": "gpu"}, "unknown key 'partiton'"),
        ({"job_directory": "/tmp"}, "unknown key 'job_directory' (only the deployment sets it)"),
    ],
)
def test_a_bad_value_is_refused_naming_the_key_and_an_example(
    table: dict[str, object], says: str
) -> None:
    with pytest.raises(SlurmOptionsError, match=None) as raised:
        parse_options(table, "[slurm] of /p/.venv/project-kernels.toml", deployment=False)
    assert says in str(raised.value)
    assert str(raised.value).startswith("[slurm] of /p/.venv/project-kernels.toml: ")


def test_the_deployment_setting_is_checked_when_the_configuration_is_read() -> None:
    config = Config()
    config.ProjectKernels.slurm = {"enabled": True, "partition": "batch", "queue_timeout": 60}
    settings = ProjectKernels(config=config).settings()
    assert settings.slurm == SlurmOptions(enabled=True, partition="batch", queue_timeout=60.0)
    config.ProjectKernels.slurm = {"partition": "a b"}
    with pytest.raises(TraitError, match=r"c.ProjectKernels.slurm: 'partition' = 'a b'"):
        ProjectKernels(config=config)


def test_the_environments_values_win_key_by_key() -> None:
    deployment = SlurmOptions(partition="batch", time="8:00:00", account="site")
    mine = SlurmOptions(partition="gpu", cpus=2)
    assert mine.over(deployment) == SlurmOptions(
        partition="gpu", time="8:00:00", account="site", cpus=2
    )


# -- the declaration: modules and [slurm] in one file ------------------------------------


def test_one_declaration_holds_the_modules_and_the_slurm_table(tmp_path: Path) -> None:
    (tmp_path / declaration.DECLARATION_NAME).write_text(
        'modules = ["GCC/12.3.0"]\n\n[slurm]\npartition = "gpu"\ncpus = 2\n'
    )
    declared = declaration.read(tmp_path)
    assert declared.modules == ("GCC/12.3.0",)
    assert declared.slurm == SlurmOptions(partition="gpu", cpus=2)


def test_pin_modules_keeps_the_slurm_table_and_clear_removes_only_the_modules(
    tmp_path: Path,
) -> None:
    path = tmp_path / declaration.DECLARATION_NAME
    path.write_text('modules = ["Old/1"]\n\n[slurm]\npartition = "gpu"  # the GPU nodes\n')
    write_declaration(tmp_path, ["GCC/12.3.0", "Python/3.11.3"])
    assert read_declaration(tmp_path) == ("GCC/12.3.0", "Python/3.11.3")
    assert 'partition = "gpu"  # the GPU nodes' in path.read_text()
    assert declaration.clear_modules(tmp_path)
    assert declaration.read(tmp_path) == declaration.Declaration((), SlurmOptions(partition="gpu"))
    path.write_text('modules = ["Old/1"]\n')
    assert declaration.clear_modules(tmp_path)
    assert not path.exists()


# -- the decision: which launches run as jobs ----------------------------------------------


def test_an_environment_with_a_slurm_table_runs_as_a_job_with_the_deployments_defaults(
    tmp_path: Path,
) -> None:
    deployment = SlurmOptions(account="site", time="1:00:00")
    plan = plan_for(tmp_path, '[slurm]\npartition = "gpu"\n', deployment)
    assert plan.mode is LaunchMode.ENVIRONMENT
    assert plan.slurm == SlurmOptions(enabled=True, partition="gpu", account="site", time="1:00:00")


def test_without_a_table_only_an_enabled_deployment_makes_jobs(tmp_path: Path) -> None:
    assert plan_for(tmp_path, "", SlurmOptions(partition="batch")).slurm is None
    enabled = plan_for(tmp_path, "", SlurmOptions(enabled=True, partition="batch"))
    assert enabled.slurm == SlurmOptions(enabled=True, partition="batch")
    opted_out = plan_for(tmp_path, "[slurm]\nenabled = false\n", SlurmOptions(enabled=True))
    assert opted_out.slurm is None


def test_the_stock_and_the_explaining_kernel_never_run_as_jobs(tmp_path: Path) -> None:
    everything = SlurmOptions(enabled=True)
    (tmp_path / "empty").mkdir()
    stock = decide(LaunchRequest(cwd=str(tmp_path / "empty"), root_dir=tmp_path / "empty"),
                   Settings(slurm=everything))  # fmt: skip
    assert stock.mode is LaunchMode.STOCK and stock.slurm is None
    plant_venv(tmp_path / "broken" / ".venv", ipykernel=None)
    broken = plan_for(tmp_path / "broken", "[slurm]\n", everything)
    assert broken.mode is LaunchMode.FALLBACK and broken.slurm is None


def test_a_bad_slurm_table_is_explained_like_any_unusable_environment(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, '[slurm]\npartition = "gpu nodes"\n')
    assert plan.mode is LaunchMode.FALLBACK
    assert plan.environment is not None
    (problem,) = plan.environment.problems
    assert problem.code is ProblemCode.SLURM
    assert "'partition' = 'gpu nodes' is not valid" in problem.summary
    assert "Correct the [slurm] table" in problem.fix


def test_a_restart_after_slurm_ended_the_job_gets_the_explaining_kernel(tmp_path: Path) -> None:
    why = "The kernel of this notebook ran as Slurm job 7, and the job ended: it was cancelled."
    plan = plan_for(tmp_path, "[slurm]\n", after_unexpected_exit=True, exit_explanation=why)
    assert plan.mode is LaunchMode.FALLBACK and plan.message == why and plan.slurm is None
    # The person's own restart (not after an unexpected exit) submits a job again.
    again = plan_for(tmp_path, "", exit_explanation=why)
    assert again.mode is LaunchMode.ENVIRONMENT and again.slurm is not None


# -- the job script --------------------------------------------------------------------------


def test_the_job_script_makes_the_connection_file_on_the_node_then_sruns_the_kernel(
    tmp_path: Path,
) -> None:
    files = JobFiles(tmp_path / "job")
    options = SlurmOptions(cpus=2, srun_args=("--gpus=1",))
    argv = ["/p/.venv/bin/python", "-m", "ipykernel_launcher", "-f", str(files.connection)]
    script = render_script(argv, options, files, "/p/.venv (uv, Python 3.12)")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "umask 077" in lines
    assert f"s/{ADDRESS_PLACEHOLDER}/$address/" in script
    last = shlex.split(lines[-1])
    assert last[:5] == ["exec", "srun", "--ntasks=1", "--export=ALL", "--cpus-per-task=2"]
    assert last[5] == "--gpus=1" and last[6:] == argv


def test_sbatch_gets_the_options_and_the_job_only_the_kernels_variables(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "job")
    argv = sbatch_argv("/usr/bin/sbatch", SlurmOptions(partition="gpu"), files, "/p/nb")
    assert argv == [
        "/usr/bin/sbatch", "--parsable", "--job-name=project-kernels",
        f"--output={files.output}", "--chdir=/p/nb", "--partition=gpu", str(files.script),
    ]  # fmt: skip
    # A server that itself runs in a job (batchspawner) must not hand its job to the kernel's.
    env = {"PATH": "/p/.venv/bin:/usr/bin", "SLURM_JOB_ID": "12", "SBATCH_EXPORT": "NONE",
           "SLURM_CONF": "/etc/slurm/slurm.conf"}  # fmt: skip
    assert job_environment(env) == {
        "PATH": "/p/.venv/bin:/usr/bin", "SLURM_CONF": "/etc/slurm/slurm.conf",
    }  # fmt: skip
