"""What a kernel's Slurm job asks for, read from the deployment and from the environment.

Two sources, one shape: ``c.ProjectKernels.slurm = {...}`` (the deployment's defaults,
and whether every project environment's kernels run as jobs) and the ``[slurm]`` table
of an environment's ``project-kernels.toml`` (what its own kernels ask for). Both are
checked here, with messages that name the key, the value and a valid example: they end
up as ``sbatch`` arguments, so anything unexpected is refused rather than passed on.
Pure: no subprocess, no file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = [
    "DEPLOYMENT_ONLY",
    "SlurmOptions",
    "SlurmOptionsError",
    "parse_options",
]

#: Seconds a job may wait in the queue before the start gives up (and cancels it).
DEFAULT_QUEUE_TIMEOUT = 600.0
#: Seconds one ``sbatch``/``squeue``/``scancel`` may take.
DEFAULT_COMMAND_TIMEOUT = 30.0
#: Seconds between two ``squeue`` queries about one job (the controller is shared).
DEFAULT_POLL_INTERVAL = 5.0

#: Keys only the deployment may set: they concern the server and the cluster, not a project.
DEPLOYMENT_ONLY = frozenset({"command_timeout", "poll_interval", "job_directory"})

_NAME = re.compile(r"^[A-Za-z0-9_.:+-]+(,[A-Za-z0-9_.:+-]+)*$")
#: Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_TIME = re.compile(r"^(\d+|\d+:\d{1,2}(:\d{1,2})?|\d+-\d{1,2}(:\d{1,2}(:\d{1,2})?)?)$")
_MEMORY = re.compile(r"^\d+[KMGT]?$")


class SlurmOptionsError(ValueError):
    """A Slurm setting that cannot be used; the message names the key and a valid value."""


@dataclass(frozen=True)
class SlurmOptions:
    """What a kernel's job asks for. Empty values leave the choice to Slurm's defaults."""

    #: Whether kernels run as Slurm jobs; None: not said here (see :meth:`over`).
    enabled: bool | None = None
    partition: str = ""
    time: str = ""
    account: str = ""
    cpus: int | None = None
    memory: str = ""
    #: More ``sbatch`` arguments, as separate words (``["--gres=gpu:1"]``).
    sbatch_args: tuple[str, ...] = ()
    #: More arguments of the ``srun`` that starts the kernel in the job.
    srun_args: tuple[str, ...] = ()
    queue_timeout: float | None = None
    command_timeout: float | None = None
    poll_interval: float | None = None
    #: Where each job's script, connection file and output go; must be on a file system
    #: the compute nodes share with the server. Empty: ``~/.cache/project-kernels/slurm``.
    job_directory: str = ""

    def over(self, defaults: SlurmOptions) -> SlurmOptions:
        """These options, with ``defaults`` for every key they leave unset."""
        chosen = {}
        for item in fields(self):
            mine = getattr(self, item.name)
            chosen[item.name] = mine if mine not in (None, "", ()) else getattr(defaults, item.name)
        return SlurmOptions(**chosen)

    @property
    def waits(self) -> float:
        """Seconds a job may wait in the queue."""
        return DEFAULT_QUEUE_TIMEOUT if self.queue_timeout is None else self.queue_timeout

    @property
    def command_seconds(self) -> float:
        """Seconds one Slurm command may take."""
        return DEFAULT_COMMAND_TIMEOUT if self.command_timeout is None else self.command_timeout

    @property
    def poll_seconds(self) -> float:
        """Seconds between two queries about one job."""
        return DEFAULT_POLL_INTERVAL if self.poll_interval is None else self.poll_interval

    def job_root(self, home: Path | None = None) -> Path:
        """The directory holding the jobs' files."""
        if self.job_directory:
            return Path(os.path.expanduser(self.job_directory))
        return (home or Path.home()) / ".cache" / "project-kernels" / "slurm"

    def sbatch_options(self) -> list[str]:
        """The ``sbatch`` arguments these options make (resources first, then the extra ones)."""
        argv = []
        for flag, value in (
            ("--partition", self.partition),
            ("--time", self.time),
            ("--account", self.account),
            ("--cpus-per-task", str(self.cpus) if self.cpus else ""),
            ("--mem", self.memory),
        ):
            if value:
                argv.append(f"{flag}={value}")
        return [*argv, *self.sbatch_args]

    def as_json(self) -> dict[str, Any]:
        """The options as JSON, with the defaults in force filled in."""
        return {
            "partition": self.partition or None,
            "time": self.time or None,
            "account": self.account or None,
            "cpus": self.cpus,
            "memory": self.memory or None,
            "sbatch_args": list(self.sbatch_args),
            "srun_args": list(self.srun_args),
            "queue_timeout": self.waits,
            "command_timeout": self.command_seconds,
            "poll_interval": self.poll_seconds,
            "job_directory": str(self.job_root()),
            "summary": self.summary(),
        }

    def summary(self) -> str:
        """One line for a person: ``partition batch, time 1:00:00, 2 CPUs``."""
        parts = [
            f"partition {self.partition}" if self.partition else "the default partition",
        ]
        if self.time:
            parts.append(f"time {self.time}")
        if self.account:
            parts.append(f"account {self.account}")
        if self.cpus:
            parts.append(f"{self.cpus} CPUs")
        if self.memory:
            parts.append(f"memory {self.memory}")
        if self.sbatch_args:
            parts.append("sbatch " + " ".join(self.sbatch_args))
        if self.srun_args:
            parts.append("srun " + " ".join(self.srun_args))
        return ", ".join(parts)


def parse_options(table: Mapping[str, object], where: str, *, deployment: bool) -> SlurmOptions:
    """Check ``table`` (a ``[slurm]`` table, or the deployment's dict) and make options.

    ``where`` names the source in messages (``c.ProjectKernels.slurm``, a file path).
    """
    known = {item.name for item in fields(SlurmOptions)}
    allowed = known if deployment else known - DEPLOYMENT_ONLY
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            listed = ", ".join(sorted(allowed))
            extra = " (only the deployment sets it)" if key in DEPLOYMENT_ONLY else ""
            raise SlurmOptionsError(f"{where}: unknown key {key!r}{extra}; the keys are {listed}")
        values[key] = _checked(key, value, where)
    return SlurmOptions(**values)


def _checked(key: str, value: object, where: str) -> object:
    """``value`` for ``key`` in the type the options hold, or an error naming a valid one."""
    if key == "enabled":
        if not isinstance(value, bool):
            raise SlurmOptionsError(f"{where}: 'enabled' must be true or false, not {value!r}")
        return value
    if key in ("partition", "account"):
        return _matching(key, value, _NAME, "'batch' (names separated by commas)", where)
    if key == "time":
        return _matching(key, value, _TIME, "'1:00:00', '30' (minutes) or '1-12:00:00'", where)
    if key == "memory":
        return _matching(key, value, _MEMORY, "'4G' or '4000' (megabytes)", where)
    if key == "cpus":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SlurmOptionsError(f"{where}: 'cpus' must be a whole number of CPUs, like 2")
        return value
    if key in ("sbatch_args", "srun_args"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise SlurmOptionsError(
                f'{where}: {key!r} must be a list of arguments, like ["--gres=gpu:1"]'
            )
        return tuple(value)
    if key in ("queue_timeout", "command_timeout", "poll_interval"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise SlurmOptionsError(f"{where}: {key!r} must be a number of seconds, like 600")
        return float(value)
    if key == "job_directory":
        if not isinstance(value, str):
            raise SlurmOptionsError(f"{where}: 'job_directory' must be a path")
        return value
    raise AssertionError(key)  # pragma: no cover - every field is handled above


def _matching(key: str, value: object, pattern: re.Pattern[str], example: str, where: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise SlurmOptionsError(f"{where}: {key!r} = {value!r} is not valid; for example {example}")
    return value
