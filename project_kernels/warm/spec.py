"""What a warm kernel must have been started with to stand in for one launch, and its assignment.

A launch is warmable when its command is ``<interpreter> [options] -m ipykernel_launcher
ARGS`` (or ``-m ipykernel``) with the connection file among ARGS, and nothing but its
variables and working directory is passed to the process. Two launches may share a warm
kernel exactly when their :class:`WarmSpec` is equal: the same environment and kernelspec,
the same command apart from the connection file, and the same variables apart from the
per-notebook ones. Whatever an interpreter reads while it starts and imports (``PYTHONPATH``,
``LD_LIBRARY_PATH``, locale, module variables, ``JPY_PARENT_PID``) is therefore the same as
in the cold start it replaces; the rest is the :class:`Assignment`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CONNECTION_FILE",
    "PER_NOTEBOOK_VARIABLES",
    "Assignment",
    "Launch",
    "WarmSpec",
    "assignment_for",
    "spec_of",
]

#: Variables that differ from one notebook to the next (jupyter_server sets it per session).
PER_NOTEBOOK_VARIABLES: tuple[str, ...] = ("JPY_SESSION_NAME",)
#: The modules a warm kernel can become.
WARMABLE_MODULES = frozenset({"ipykernel_launcher", "ipykernel"})
#: Stands for the connection file in a :class:`WarmSpec`'s arguments.
CONNECTION_FILE = "{connection_file}"
#: What jupyter_client's launch passes besides the process's variables and directory and
#: drops itself; any other option (redirected output, ...) makes the launch a cold one.
HANDLED_OPTIONS = frozenset({"env", "cwd", "kernel_id", "extra_arguments"})


@dataclass(frozen=True)
class Launch:
    """One kernel launch, as the provisioner is about to carry it out."""

    environment: Path
    kernel_name: str
    cmd: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    connection_file: str
    #: Process options other than ``env`` and ``cwd`` that were given a value.
    other_options: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        environment: Path,
        kernel_name: str,
        cmd: Sequence[str],
        options: Mapping[str, object],
        connection_file: str,
    ) -> Launch:
        """The launch of ``cmd`` with ``LocalProvisioner.launch_kernel``'s keyword arguments."""
        env = options.get("env")
        return cls(
            environment=environment,
            kernel_name=kernel_name,
            cmd=tuple(cmd),
            env=dict(env) if isinstance(env, Mapping) else dict(os.environ),
            # Absolute, as the process would have it: the launcher runs from elsewhere.
            cwd=os.path.abspath(str(options.get("cwd") or os.getcwd())),
            connection_file=connection_file,
            other_options=tuple(
                sorted(k for k, v in options.items() if k not in HANDLED_OPTIONS and v is not None)
            ),
        )


@dataclass(frozen=True)
class WarmSpec:
    """Everything a warm kernel is started with; equal specs mean interchangeable kernels."""

    environment: Path
    kernel_name: str
    #: The interpreter and its options: the command up to ``-m``.
    interpreter: tuple[str, ...]
    module: str
    #: The module's arguments, the connection file written as :data:`CONNECTION_FILE`.
    arguments: tuple[str, ...]
    #: The variables, without :data:`PER_NOTEBOOK_VARIABLES`, sorted.
    env: tuple[tuple[str, str], ...]

    def launcher_command(self, launcher: str, assign_fd: int, status_fd: int) -> list[str]:
        """The warm kernel's command: the same interpreter and options running the launcher."""
        return [*self.interpreter, launcher, str(assign_fd), str(status_fd), self.module]

    def launcher_env(self, parent_pid: int) -> dict[str, str]:
        """The variables, with ``JPY_PARENT_PID`` as jupyter_client's launch sets it."""
        return {**dict(self.env), "JPY_PARENT_PID": str(parent_pid)}


@dataclass(frozen=True)
class Assignment:
    """What turns a warm kernel into one notebook's kernel (see :mod:`.launcher`)."""

    cwd: str
    set: Mapping[str, str]
    unset: tuple[str, ...]
    argv: tuple[str, ...]
    orig_argv: tuple[str, ...]

    def encode(self) -> bytes:
        """The line the launcher reads."""
        message = {
            "cwd": self.cwd,
            "set": dict(self.set),
            "unset": list(self.unset),
            "argv": list(self.argv),
            "orig_argv": list(self.orig_argv),
        }
        return (json.dumps(message) + "\n").encode()


def spec_of(launch: Launch) -> WarmSpec | str:
    """The spec a warm kernel for ``launch`` needs, or why ``launch`` cannot use one."""
    if launch.other_options:
        return "the launch passes " + ", ".join(launch.other_options)
    cmd = [os.path.expanduser(arg) for arg in launch.cmd]  # as jupyter_client's launch does
    if "-m" not in cmd[1:-1]:
        return "the kernel command does not run a module"
    at = cmd.index("-m", 1)
    if any(not option.startswith("-") or option == "-c" for option in cmd[1:at]):
        return "the kernel command is not <interpreter> [options] -m <module>"
    module, arguments = cmd[at + 1], cmd[at + 2 :]
    if module not in WARMABLE_MODULES:
        return f"the kernel command runs {module}, not ipykernel"
    if launch.connection_file not in arguments:
        return "the kernel command does not name its connection file"
    relative = [
        p for p in launch.env.get("PYTHONPATH", "").split(os.pathsep) if p and not os.path.isabs(p)
    ]
    if relative:
        # Those are read against the directory the interpreter starts in: the notebook's.
        return "PYTHONPATH holds relative directories: " + os.pathsep.join(relative)
    return WarmSpec(
        environment=launch.environment,
        kernel_name=launch.kernel_name,
        interpreter=tuple(cmd[:at]),
        module=module,
        arguments=tuple(CONNECTION_FILE if a == launch.connection_file else a for a in arguments),
        env=tuple(sorted((k, v) for k, v in launch.env.items() if k not in PER_NOTEBOOK_VARIABLES)),
    )


def assignment_for(launch: Launch, spec: WarmSpec) -> Assignment:
    """What a warm kernel of ``spec`` needs to become the kernel of ``launch``."""
    cmd = [os.path.expanduser(arg) for arg in launch.cmd]
    return Assignment(
        cwd=launch.cwd,
        set={k: launch.env[k] for k in PER_NOTEBOOK_VARIABLES if k in launch.env},
        unset=tuple(k for k in PER_NOTEBOOK_VARIABLES if k not in launch.env),
        argv=tuple(launch.connection_file if a == CONNECTION_FILE else a for a in spec.arguments),
        orig_argv=tuple(cmd),
    )
