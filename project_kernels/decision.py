"""The launch decision: for one request, what starts, from where, with which variables, and why.

Every adapter asks :func:`decide`: the provisioner before each start and restart,
``project-kernels which`` and ``doctor``, the server's ``which`` endpoint. So what
the command line reports is what launches.

The decision, step by step, and the order in which an environment's problems
are attached (each step sees what the earlier ones found):

1. **Find** (:func:`~.resolver.resolve`): the pinned environment, else the walk up
   from the notebook. Inspection reads the environment's files and attaches what
   stops it from running (no ipykernel, base Python gone, ...).
2. **Trust** (inside the walk, :func:`~.trust.trusted_only`): an environment someone
   else could have written gets ``untrusted`` problems *instead of* the others,
   whose fixes would have the person run it.
3. **Modules** (:func:`~.modules.with_modules`): the environment modules it declares
   are loaded (a subprocess, cached); never for an untrusted environment. A load that
   fails adds a ``modules`` problem.
4. **Failure memory**: a usable environment whose kernel died right after starting,
   lately in this server, is examined by starting its interpreter
   (:func:`~.probe.probe`); one that still cannot import ipykernel gets a
   ``startup-failed`` problem.
5. **Plan**: a usable environment launches activated; an unusable one gets what
   ``on_unusable`` says (the fallback kernel, an error, or the server's Python with
   a warning), the fallback only where the server's Python can run it. A restart
   after an unexpected exit never plans an error: the restarter would retry for
   ever, so it gets a process that exits with the explanation instead. A restart
   after an exit whose cause the carrying-out knows (``request.exit_explanation``:
   a Slurm job cancelled or out of time) gets the explaining kernel with that cause,
   so the person reads why, and their own restart starts the kernel again.
6. **Where** (:func:`~.slurm.planning.with_slurm`): a launch from a project
   environment runs as a Slurm job when the environment or the deployment asks;
   the plan carries the job's options as data, and the provisioner carries it out.

Only steps 3 and 4 may run a subprocess, and only for environments that declare
modules or died young; call :func:`decide` off the event loop.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from .activation import activated
from .discovery import Walk
from .environments import Environment
from .failure_memory import FailureMemory
from .modules import with_modules
from .names import DIAGNOSIS_VARIABLE, SHELL_PYTHONPATH_VARIABLE
from .probe import probe, startup_problem
from .report import unusable_report
from .resolver import LaunchRequest, resolve
from .settings import OnUnusable, Settings
from .slurm.options import SlurmOptions
from .slurm.planning import with_slurm
from .trust import is_untrusted

__all__ = [
    "EnvironmentUnusable",
    "LaunchMode",
    "LaunchPlan",
    "decide",
    "fallback_argv",
]

FALLBACK_CODE = "import sys; del sys.path[0]; from project_kernels.fallback import main; main()"


class LaunchMode(str, Enum):
    """How a kernel launches. The values are part of the JSON output."""

    STOCK = "stock"  # no environment: exactly what jupyter_client does alone
    ENVIRONMENT = "environment"  # the environment's interpreter, activated
    FALLBACK = "fallback"  # the explaining kernel, from the server's Python
    WARNED = "warned"  # unusable environment ignored, server's Python, warning logged
    ERROR = "error"  # no kernel: the start fails with the explanation


class EnvironmentUnusable(RuntimeError):
    """Raised by adapters for an ``error`` plan; ``str()`` is the text the person reads."""


@dataclass(frozen=True)
class LaunchPlan:
    """The variables a kernel launches with, how its command is rewritten, and why."""

    mode: LaunchMode
    env: dict[str, str]
    environment: Environment | None = None
    #: What the person (or the log) should be told; empty when all is well.
    message: str = ""
    #: Launch a process that only prints ``message`` and exits (ends a restart loop).
    exits: bool = False
    #: What was looked at to decide (None when nothing said where the notebook is).
    walk: Walk | None = field(default=None, compare=False)
    #: Run as a Slurm job with these options (None: where the server runs).
    slurm: SlurmOptions | None = None

    def command(self, argv: Sequence[str]) -> list[str]:
        """The launch command made from the kernelspec's formatted ``argv`` (never modified)."""
        if self.exits:
            return [sys.executable, "-c", "import sys; sys.exit(sys.argv[1])", self.message]
        if self.mode is LaunchMode.ENVIRONMENT and self.environment is not None:
            return [str(self.environment.interpreter), *argv[1:]]
        if self.mode is LaunchMode.FALLBACK:
            return fallback_argv(argv)
        return list(argv)


def decide(
    request: LaunchRequest, settings: Settings, memory: FailureMemory | None = None
) -> LaunchPlan:
    """What launches for ``request``; the steps are in this module's docstring.

    ``memory`` is the server's :class:`~.failure_memory.FailureMemory` (None: nothing died).
    """
    walk = resolve(request, settings)
    walk, base = with_modules(walk, request.env, settings.modules)
    if walk is not None and memory is not None:
        walk = _examined_if_it_died(walk, base, memory)
    plan = _plan(walk, base, settings, request.after_unexpected_exit)
    if request.after_unexpected_exit and request.exit_explanation:
        plan = _explained_exit(plan, request.exit_explanation, settings)
    return with_slurm(plan, settings.slurm)


def _explained_exit(plan: LaunchPlan, explanation: str, settings: Settings) -> LaunchPlan:
    """The explaining kernel (or, without one, an exiting process) saying why the last one ended."""
    environment = plan.environment
    if plan.mode is not LaunchMode.ENVIRONMENT or environment is None:
        return plan
    if not settings.fallback_available:
        return replace(plan, mode=LaunchMode.ERROR, message=explanation, exits=True)
    env = fallback_env(environment, plan.env, explanation)
    return replace(plan, mode=LaunchMode.FALLBACK, env=env, message=explanation)


def _examined_if_it_died(walk: Walk, base: Mapping[str, str], memory: FailureMemory) -> Walk:
    environment = walk.environment
    if environment is None or not environment.usable:
        return walk
    if not memory.failed_recently(environment.root):
        return walk
    result = probe(environment, base)
    if result.ok:
        memory.forget(environment.root)
        return walk
    return walk.with_environment(environment.with_problems(startup_problem(environment, result)))


def _plan(
    walk: Walk | None, base_env: Mapping[str, str], settings: Settings, after_exit: bool
) -> LaunchPlan:
    environment = walk.environment if walk is not None else None
    if environment is None:
        return LaunchPlan(LaunchMode.STOCK, dict(base_env), walk=walk)
    if environment.usable:
        env = activated(environment, base_env)
        return LaunchPlan(LaunchMode.ENVIRONMENT, env, environment, walk=walk)
    message = unusable_report(environment, walk.start if walk else None)
    mode = settings.on_unusable
    if mode is OnUnusable.FALLBACK and not settings.fallback_available:
        mode = OnUnusable.ERROR
    if mode is OnUnusable.ERROR:
        # The restarter retries a start that raises for ever; an exiting process ends it.
        return LaunchPlan(
            LaunchMode.ERROR, dict(base_env), environment, message, exits=after_exit, walk=walk
        )
    if mode is OnUnusable.WARN:
        return LaunchPlan(LaunchMode.WARNED, dict(base_env), environment, message, walk=walk)
    return LaunchPlan(
        LaunchMode.FALLBACK,
        fallback_env(environment, base_env, message),
        environment,
        message,
        walk=walk,
    )


def fallback_env(
    environment: Environment, base_env: Mapping[str, str], message: str
) -> dict[str, str]:
    """The fallback kernel's variables: the broken environment's activation and the diagnosis."""
    # An untrusted environment's bin/ must not come first on PATH for '!' commands either.
    env = dict(base_env) if is_untrusted(environment) else activated(environment, base_env)
    env[DIAGNOSIS_VARIABLE] = json.dumps({"message": message, "environment": str(environment.root)})
    # The server's Python must not import the environment's (or its modules') packages;
    # the fallback kernel hands PYTHONPATH back to the '!' commands it runs.
    if "PYTHONPATH" in env:
        env[SHELL_PYTHONPATH_VARIABLE] = env.pop("PYTHONPATH")
    return env


def fallback_argv(argv: Sequence[str]) -> list[str]:
    """The kernel command with the server's Python running the fallback kernel instead.

    The module's arguments (``-f {connection_file}`` ...) are kept. ``-c`` with the
    notebook's directory taken off ``sys.path`` keeps a ``project_kernels`` folder
    planted next to the notebook from standing in for this package.
    """
    rest = list(argv[1:])
    for index, arg in enumerate(rest[:-1]):
        if arg == "-m":
            rest = rest[index + 2 :]
            break
    return [sys.executable, "-c", FALLBACK_CODE, *rest]
