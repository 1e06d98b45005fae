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
5. **Make?** With ``create_environments``: a notebook whose first code cell declares
   its packages (PEP 723) gets the environment made from them; a project that
   declares an environment its tool has not made (the walk stopped at a
   :class:`~.declarations.Declaration`) gets it made with that tool; an environment
   whose only problem is a missing ipykernel gets ipykernel. The plan says what to
   make, with which commands, under which lock (a :class:`~.making.recipes.Recipe`),
   unless the trust policy refuses the project or the tool, or the tool is nowhere:
   then, as without the setting, the notebook is told why.
6. **Plan**: a usable environment launches activated; an unusable one gets what
   ``on_unusable`` says (the fallback kernel, an error, or the server's Python with
   a warning), the fallback only where the server's Python can run it; a declared
   one not made gets what ``on_missing`` says (the server's Python with a notice in
   the notebook, the fallback, or an error). A restart after an unexpected exit
   never plans an error: the restarter would retry for ever, so it gets a process
   that exits with the explanation instead. A restart after an exit whose cause the
   carrying-out knows (``request.exit_explanation``: a Slurm job cancelled or out of
   time) gets the explaining kernel with that cause, so the person reads why, and
   their own restart starts the kernel again.
6. **Where** (:func:`~.slurm.planning.with_slurm`): a launch from a project
   environment runs as a Slurm job when the environment or the deployment asks;
   the plan carries the job's options as data, and the provisioner carries it out.

Only steps 3 and 4 may run a subprocess, and only for environments that declare
modules or died young; call :func:`decide` off the event loop. Making is the
adapters' (:mod:`.making.launch`, ``project-kernels fix``): they carry the recipe
out and ask :func:`decide` again, telling it (``build_failure``) when it failed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from .activation import activated, deactivated
from .declarations import Declaration
from .discovery import Candidate, Walk
from .environments import Environment, Kind, NotAnEnvironment, ProblemCode, inspect_venv
from .failure_memory import FailureMemory
from .inline import MARKER_NAME, InlineScript, read_inline
from .making import recipes
from .making.recipes import Recipe
from .modules import with_modules
from .names import DIAGNOSIS_VARIABLE, MAKING_VARIABLE, SHELL_PYTHONPATH_VARIABLE
from .pipless import with_server_tools
from .probe import probe, startup_problem
from .report import declared_report, unusable_report
from .resolver import LaunchRequest, resolve
from .settings import OnMissing, OnUnusable, Settings
from .slurm.options import SlurmOptions
from .slurm.planning import with_slurm
from .trust import is_untrusted, judge

__all__ = [
    "EnvironmentUnusable",
    "LaunchMode",
    "LaunchPlan",
    "decide",
    "fallback_argv",
]

FALLBACK_CODE = "import sys; del sys.path[0]; from project_kernels.fallback import main; main()"
MAKING_CODE = "import sys; del sys.path[0]; from project_kernels.making.kernel import main; main()"


class LaunchMode(str, Enum):
    """How a kernel launches. The values are part of the JSON output."""

    STOCK = "stock"  # no environment: exactly what jupyter_client does alone
    ENVIRONMENT = "environment"  # the environment's interpreter, activated
    FALLBACK = "fallback"  # the explaining kernel, from the server's Python
    WARNED = "warned"  # unusable environment ignored, server's Python, warning logged
    ERROR = "error"  # no kernel: the start fails with the explanation
    #: A declared environment not made: the server's Python runs the notebook, which is
    #: told at its first execution which environment is missing and how to make it.
    NOTICE = "notice"
    #: The environment is being made: a kernel from the server's Python shows the tool's
    #: output, then becomes the environment's kernel.
    MAKING = "making"


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
    #: The environment the project declares but nobody has made (yet).
    declared: Declaration | None = None
    #: What to make before the kernel can start there (``making`` mode).
    making: Recipe | None = None
    #: The notebook's own package declaration (PEP 723), when it has one.
    inline: InlineScript | None = None
    #: Run as a Slurm job with these options (None: where the server runs).
    slurm: SlurmOptions | None = None

    def command(self, argv: Sequence[str]) -> list[str]:
        """The launch command made from the kernelspec's formatted ``argv`` (never modified)."""
        if self.exits:
            return [sys.executable, "-c", "import sys; sys.exit(sys.argv[1])", self.message]
        if self.mode is LaunchMode.ENVIRONMENT and self.environment is not None:
            return [str(self.environment.interpreter), *argv[1:]]
        if self.mode in (LaunchMode.FALLBACK, LaunchMode.NOTICE):
            return fallback_argv(argv)
        if self.mode is LaunchMode.MAKING:
            return fallback_argv(argv, MAKING_CODE)
        return list(argv)


def decide(
    request: LaunchRequest, settings: Settings, memory: FailureMemory | None = None
) -> LaunchPlan:
    """What launches for ``request``; the steps are in this module's docstring.

    ``memory`` is the server's :class:`~.failure_memory.FailureMemory` (None: nothing died).
    """
    inline = _inline_script(request, settings)
    walk = _inline_walk(inline, request, settings) if inline else resolve(request, settings)
    walk, base = with_modules(walk, request.env, settings.modules)
    if walk is not None and memory is not None:
        walk = _examined_if_it_died(walk, base, memory)
    making = _to_make(walk, inline, base, settings, request)
    if isinstance(making, Recipe):
        return _making_plan(walk, making, base, inline)
    plan = _plan(walk, base, settings, request, making)
    if request.after_unexpected_exit and request.exit_explanation:
        plan = _explained_exit(plan, request.exit_explanation, settings)
    plan = replace(plan, inline=inline) if inline else plan
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


def _inline_script(request: LaunchRequest, settings: Settings) -> InlineScript | None:
    """The notebook's PEP 723 block, read only when it could be made and the server said
    which notebook this is (a pinned kernel keeps its environment)."""
    if not settings.making.enabled or request.environment is not None:
        return None
    name = request.session_name or ""
    if not name.endswith(".ipynb") or not os.path.isabs(name):
        return None
    return read_inline(Path(name))


def _inline_walk(inline: InlineScript, request: LaunchRequest, settings: Settings) -> Walk:
    """The inline environment as the one candidate of a walk: made, or declared."""
    start = Path(inline.notebook).parent
    root = inline.environment(settings.making.inline_dir())
    candidate: Candidate
    environment = _made_inline(root, settings)
    if environment is not None:
        candidate = Candidate(root, environment=environment, level=start)
    else:
        declaration = Declaration(
            kind=Kind.UV,
            project=start,
            declared_by=f"the script block in the first code cell of {inline.notebook.name}",
            command=("project-kernels", "fix", str(inline.notebook)),
            environment=root,
        )
        candidate = Candidate(root, declared=declaration, level=start)
    return Walk(start, start, (start,), (candidate,))


def _made_inline(root: Path, settings: Settings) -> Environment | None:
    """The inline environment at ``root`` when its build completed, judged by trust."""
    if not os.path.isfile(root / MARKER_NAME):
        return None
    try:
        environment = inspect_venv(root)
    except NotAnEnvironment:
        return None
    reason = "environment made from the notebook's inline script metadata (PEP 723)"
    return judge(replace(environment, reason=reason), settings.trust)


def _to_make(
    walk: Walk | None,
    inline: InlineScript | None,
    base: Mapping[str, str],
    settings: Settings,
    request: LaunchRequest,
) -> Recipe | str:
    """The recipe that makes what is missing, or why nothing is made ("" when there is
    nothing to make, or making is off)."""
    if not settings.making.enabled or walk is None:
        return ""
    if request.build_failure:
        return request.build_failure
    making, policy = settings.making, settings.trust
    declared = walk.declared
    if declared is not None and inline is not None:
        return recipes.for_inline(inline, making, policy, base)
    if declared is not None:
        return recipes.for_declaration(declared, making, policy, base)
    environment = walk.environment
    if environment is not None and [p.code for p in environment.problems] == [
        ProblemCode.NO_IPYKERNEL
    ]:
        return recipes.for_ipykernel(environment, making, policy, base)
    return ""


def _making_plan(
    walk: Walk | None, recipe: Recipe, base: Mapping[str, str], inline: InlineScript | None
) -> LaunchPlan:
    env = deactivated(base)
    env[MAKING_VARIABLE] = json.dumps(
        {"what": recipe.what, "commands": [s.shown for s in recipe.steps]}
    )
    return LaunchPlan(
        LaunchMode.MAKING,
        env,
        walk.environment if walk else None,
        f"Making {recipe.what}: {recipe.commands()}",
        walk=walk,
        declared=walk.declared if walk else None,
        making=recipe,
        inline=inline,
    )


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
    walk: Walk | None,
    base_env: Mapping[str, str],
    settings: Settings,
    request: LaunchRequest,
    not_made: str = "",
) -> LaunchPlan:
    """The plan without making anything; ``not_made`` says why something was not made."""
    after_exit = request.after_unexpected_exit
    declared = walk.declared if walk is not None else None
    if walk is not None and declared is not None:
        return _missing_plan(walk, declared, base_env, settings, after_exit, not_made)
    environment = walk.environment if walk is not None else None
    if environment is None:
        return LaunchPlan(LaunchMode.STOCK, dict(base_env), walk=walk)
    if environment.usable:
        env = with_server_tools(activated(environment, base_env), environment)
        return LaunchPlan(LaunchMode.ENVIRONMENT, env, environment, walk=walk)
    message = unusable_report(environment, walk.start if walk else None, not_made)
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


def _missing_plan(
    walk: Walk,
    declared: Declaration,
    base_env: Mapping[str, str],
    settings: Settings,
    after_exit: bool,
    not_made: str,
) -> LaunchPlan:
    """What runs for a declared environment that is not made: what ``on_missing`` says."""
    mode = settings.on_missing
    runs_code = mode is OnMissing.NOTICE
    message = declared_report(declared, walk.start, not_made, runs_code=runs_code)
    if not settings.fallback_available and mode is not OnMissing.ERROR:
        # Both kernels that explain run on the server's ipykernel: without it, the
        # notice is a warning in the log, the fallback an error.
        if runs_code:
            return LaunchPlan(
                LaunchMode.WARNED, dict(base_env), message=message, walk=walk, declared=declared
            )
        mode = OnMissing.ERROR
    if mode is OnMissing.ERROR:
        return LaunchPlan(
            LaunchMode.ERROR,
            dict(base_env),
            message=message,
            exits=after_exit,
            walk=walk,
            declared=declared,
        )
    # Nothing active, the server's tools reachable: the fix runs from a cell as printed.
    env = with_server_tools(deactivated(base_env), None)
    env[DIAGNOSIS_VARIABLE] = json.dumps(
        {"message": message, "environment": str(declared.where()), "runs_code": runs_code}
    )
    return LaunchPlan(
        LaunchMode.NOTICE if runs_code else LaunchMode.FALLBACK,
        env if runs_code else _with_pythonpath_kept(env),
        message=message,
        walk=walk,
        declared=declared,
    )


def fallback_env(
    environment: Environment, base_env: Mapping[str, str], message: str
) -> dict[str, str]:
    """The fallback kernel's variables: the broken environment's activation and the diagnosis."""
    # An untrusted environment's bin/ must not come first on PATH for '!' commands either.
    if is_untrusted(environment):
        env = dict(base_env)
    else:
        env = with_server_tools(activated(environment, base_env), environment)
    env[DIAGNOSIS_VARIABLE] = json.dumps({"message": message, "environment": str(environment.root)})
    return _with_pythonpath_kept(env)


def _with_pythonpath_kept(env: dict[str, str]) -> dict[str, str]:
    # The server's Python must not import the environment's (or its modules') packages;
    # the fallback kernel hands PYTHONPATH back to the '!' commands it runs.
    if "PYTHONPATH" in env:
        env[SHELL_PYTHONPATH_VARIABLE] = env.pop("PYTHONPATH")
    return env


def fallback_argv(argv: Sequence[str], code: str = FALLBACK_CODE) -> list[str]:
    """The kernel command with the server's Python running the fallback kernel (or another
    kernel of this package: ``code``) instead.

    The module's arguments (``-f {connection_file}`` ...) are kept. ``-c`` with the
    notebook's directory taken off ``sys.path`` keeps a ``project_kernels`` folder
    planted next to the notebook from standing in for this package.
    """
    rest = list(argv[1:])
    for index, arg in enumerate(rest[:-1]):
        if arg == "-m":
            rest = rest[index + 2 :]
            break
    return [sys.executable, "-c", code, *rest]
