"""The job script and the ``sbatch`` command line of a kernel's job (pure: text and lists).

The job starts the kernel with ``srun`` on its node. Its variables travel with the
submission (``sbatch`` exports the environment it is run with): the environment
activated, its modules loaded, exactly as a local kernel from it would have them.
The connection file is made on the node from a template the server wrote, with the
node's address as Slurm knows it (``NodeAddr``), so the kernel listens where the
server can reach it; the kernel picks its own free ports and writes them back.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .options import SlurmOptions

__all__ = ["ADDRESS_PLACEHOLDER", "JobFiles", "job_environment", "render_script", "sbatch_argv"]

#: Replaced by the node's address in the connection file template, on the node.
ADDRESS_PLACEHOLDER = "@PROJECT_KERNELS_NODE_ADDRESS@"
#: The job name shown by ``squeue``.
JOB_NAME = "project-kernels"
#: Variables of the server's own job (a server started by batchspawner runs in one) and
#: Slurm's input variables: a kernel's job must not inherit them.
_SLURM_PREFIXES = ("SLURM_", "SLURMD_", "SBATCH_", "SRUN_", "SALLOC_")


@dataclass(frozen=True)
class JobFiles:
    """Where one kernel's job keeps its files (a directory shared with the compute nodes)."""

    directory: Path

    @property
    def script(self) -> Path:
        return self.directory / "job.sh"

    @property
    def template(self) -> Path:
        return self.directory / "connection.template.json"

    @property
    def connection(self) -> Path:
        return self.directory / "connection.json"

    @property
    def output(self) -> Path:
        return self.directory / "job.log"


def job_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The kernel's variables as the job gets them: without any Slurm job's own.

    ``SLURM_CONF`` stays: it names the site's configuration, which ``sbatch`` needs.
    """
    return {k: v for k, v in env.items() if k == "SLURM_CONF" or not k.startswith(_SLURM_PREFIXES)}


def render_script(
    kernel_argv: Sequence[str], options: SlurmOptions, files: JobFiles, described: str
) -> str:
    """The job script: make the connection file with the node's address, then ``srun`` the kernel.

    ``described`` names the environment (and its modules) in a comment for the person
    who finds the script.
    """
    srun = ["srun", "--ntasks=1", "--export=ALL"]
    if options.cpus:
        # Since Slurm 22.05 a step does not inherit the job's --cpus-per-task.
        srun.append(f"--cpus-per-task={options.cpus}")
    srun += list(options.srun_args)
    template, connection = shlex.quote(str(files.template)), shlex.quote(str(files.connection))
    lines = [
        "#!/bin/bash",
        "# A Jupyter kernel started by project-kernels, as a Slurm job.",
        f"# Environment: {' '.join(described.split())}",
        "# Its variables (the environment activated, its modules loaded) come with sbatch.",
        "umask 077",
        'address=$(scontrol show node "$SLURMD_NODENAME" 2>/dev/null'
        " | sed -n 's/.*NodeAddr=\\([^ ]*\\).*/\\1/p')",
        "if [ -z \"$address\" ]; then address=$(hostname -I | awk '{print $1}'); fi",
        f'sed "s/{ADDRESS_PLACEHOLDER}/$address/" {template} > {connection}',
        f"exec {shlex.join(srun)} {shlex.join(kernel_argv)}",
    ]
    return "\n".join(lines) + "\n"


def sbatch_argv(sbatch: str, options: SlurmOptions, files: JobFiles, cwd: str) -> list[str]:
    """The submission: the job's name, output and directory, the options, then the script."""
    return [
        sbatch,
        "--parsable",
        f"--job-name={JOB_NAME}",
        f"--output={files.output}",
        f"--chdir={cwd}",
        *options.sbatch_options(),
        str(files.script),
    ]
