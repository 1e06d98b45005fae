"""The one question: for this notebook's directory, what launches, and how?

Both the provisioner and the command line call :func:`resolve` and
:func:`plan_launch`, so what ``project-kernels which`` reports is what launches.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

from .activation import activated
from .discovery import (
    DEFAULT_NAMES,
    Candidate,
    Locator,
    Walk,
    choose_boundary,
    choose_start,
    is_within,
    walk_up,
)
from .environments import Environment, Kind, Problem, ProblemCode
from .locators import ToolOptions, project_locators
from .report import sanitize, unusable_report
from .trust import TrustPolicy, is_untrusted, trusted_only

#: The environment variable that carries the diagnosis to the fallback kernel.
DIAGNOSIS_VARIABLE = "PROJECT_KERNELS_DIAGNOSIS"
#: Where the fallback kernel finds the PYTHONPATH meant for its shell commands.
SHELL_PYTHONPATH_VARIABLE = "PROJECT_KERNELS_SHELL_PYTHONPATH"
FALLBACK_CODE = "import sys; del sys.path[0]; from project_kernels.fallback import main; main()"


class OnUnusable(str, Enum):
    """What happens when the nearest environment cannot run a kernel."""

    FALLBACK = "fallback"  # an explaining kernel from the server's Python
    ERROR = "error"  # the session start fails with the explanation
    WARN = "warn"  # the server's Python, with a warning in the log


@dataclass(frozen=True)
class Settings:
    """The configuration the resolver needs, free of traitlets (see :mod:`.config`)."""

    environment_names: tuple[str, ...] = DEFAULT_NAMES
    stop_directory: Path | None = None
    on_unusable: OnUnusable = OnUnusable.FALLBACK
    extra_locators: tuple[Locator, ...] = field(default=())
    trust: TrustPolicy = field(default_factory=TrustPolicy.for_current_user)
    #: The kinds of environment looked for (None: every kind; see :mod:`.locators`).
    environment_kinds: frozenset[Kind] | None = None
    #: Where the tool locators look besides the tools' own files.
    tools: ToolOptions = field(default_factory=ToolOptions)

    def locators(self) -> list[Locator]:
        """The locators consulted at each level, in order of precedence.

        Each is wrapped in the trust policy, so that every environment found (walked,
        pinned or listed) carries an ``untrusted`` problem when it may not run.
        """
        found = [
            *project_locators(self.environment_names, self.environment_kinds, self.tools),
            *self.extra_locators,
        ]
        return [trusted_only(locate, self.trust) for locate in found]


@dataclass(frozen=True)
class LaunchRequest:
    """What a launch knows about where the notebook is."""

    cwd: str | None = None
    session_name: str | None = None
    root_dir: Path | None = None
    home: Path | None = field(default_factory=Path.home)


class EnvironmentUnusable(RuntimeError):
    """Raised in ``error`` mode; ``str()`` is the text the person reads."""


def resolve(request: LaunchRequest, settings: Settings) -> Walk | None:
    """Walk up from the notebook; None when nothing says where the notebook is."""
    root = request.root_dir
    start = choose_start(request.cwd, request.session_name, root)
    if start is None:
        return None
    if root is not None and not is_within(start, root):
        # A cwd or session path outside the server's root is never trusted as a start.
        start = root
    boundary = choose_boundary(start, root, settings.stop_directory, request.home)
    if not is_within(start, boundary):
        # Outside the configured limit only the notebook's own directory is looked at.
        boundary = start
    return walk_up(start, boundary, settings.locators())


def pinned(environment: Path, settings: Settings) -> Walk:
    """The walk for a kernel pinned to ``environment`` (one chosen in the kernel picker).

    Nothing is walked: the environment is inspected by the same locators that found
    it, so it launches exactly as listed. One that is gone or no longer an
    environment comes back with a problem, and so reaches the fallback.
    """
    directory = environment.parent
    skipped = "does not exist"
    # The project a tool's environment belongs to may sit higher: pixi's .pixi/envs/<env>.
    for directory in list(environment.parents)[:3]:
        for locate in settings.locators():
            for candidate in locate(directory):
                if candidate.path != environment:
                    continue
                if candidate.environment is not None:
                    chosen = replace(candidate.environment, reason="chosen in the kernel picker")
                    found = (Candidate(environment, chosen),)
                    return Walk(directory, directory, (directory,), found)
                skipped = candidate.skipped or skipped
    directory = environment.parent
    gone = Environment(
        root=environment,
        kind=Kind.VENV,
        interpreter=environment / "bin" / "python",
        problems=(
            Problem(
                ProblemCode.BAD_CONFIG,
                f"The environment {sanitize(str(environment))} chosen for this notebook {skipped}.",
                "Choose another kernel (Kernel > Change Kernel...), or recreate it, for "
                f"example `python -m venv {sanitize(str(environment))}`.",
            ),
        ),
        reason="chosen in the kernel picker",
    )
    return Walk(directory, directory, (directory,), (Candidate(environment, gone),))


class LaunchMode(str, Enum):
    """How a kernel launches."""

    STOCK = "stock"  # no environment: exactly what jupyter_client does alone
    ENVIRONMENT = "environment"  # the environment's interpreter, activated
    FALLBACK = "fallback"  # the explaining kernel, from the server's Python
    WARNED = "warned"  # unusable environment ignored, server's Python, warning logged


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

    def command(self, argv: Sequence[str]) -> list[str]:
        """The launch command made from the kernelspec's formatted ``argv`` (never modified)."""
        if self.exits:
            return [sys.executable, "-c", "import sys; sys.exit(sys.argv[1])", self.message]
        if self.mode is LaunchMode.ENVIRONMENT and self.environment is not None:
            return [str(self.environment.interpreter), *argv[1:]]
        if self.mode is LaunchMode.FALLBACK:
            return fallback_argv(argv)
        return list(argv)


def plan_launch(walk: Walk | None, base_env: Mapping[str, str], settings: Settings) -> LaunchPlan:
    """Turn a walk into a launch: the environment's interpreter, a fallback, or stock.

    Raises :class:`EnvironmentUnusable` in ``error`` mode when the environment cannot run.
    """
    environment = walk.environment if walk is not None else None
    if environment is None:
        return LaunchPlan(LaunchMode.STOCK, dict(base_env))
    if environment.usable:
        return LaunchPlan(LaunchMode.ENVIRONMENT, activated(environment, base_env), environment)
    message = unusable_report(environment, walk.start if walk else None)
    if settings.on_unusable is OnUnusable.ERROR:
        raise EnvironmentUnusable(message)
    if settings.on_unusable is OnUnusable.WARN:
        return LaunchPlan(LaunchMode.WARNED, dict(base_env), environment, message)
    # An untrusted environment's bin/ must not come first on PATH for '!' commands either.
    env = dict(base_env) if is_untrusted(environment) else activated(environment, base_env)
    env[DIAGNOSIS_VARIABLE] = json.dumps({"message": message, "environment": str(environment.root)})
    # The server's Python must not import the environment's (or its modules') packages;
    # the fallback kernel hands PYTHONPATH back to the '!' commands it runs.
    if "PYTHONPATH" in env:
        env[SHELL_PYTHONPATH_VARIABLE] = env.pop("PYTHONPATH")
    return LaunchPlan(LaunchMode.FALLBACK, env, environment, message)


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


def is_ipykernel_command(argv: Sequence[str], language: str) -> bool:
    """Whether a kernelspec launches ipykernel, the only kind this package re-targets."""
    if not language.lower().startswith("python") or not argv:
        return False
    modules = {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-m"}
    return bool(modules & {"ipykernel_launcher", "ipykernel"})
