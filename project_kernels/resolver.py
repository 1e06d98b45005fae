"""Which environment a launch is for: the walk up from the notebook, or a pinned environment.

:func:`resolve` answers from files alone; :func:`~.decision.decide` builds the
launch on top of it, for the provisioner, the command line and every other adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .discovery import Candidate, Walk, choose_boundary, choose_start, is_within, walk_up
from .environments import Environment, Kind, NotAnEnvironment, Problem, ProblemCode, inspect_venv
from .report import sanitize
from .settings import Settings
from .trust import judge

__all__ = ["PICKER_REASON", "LaunchRequest", "pinned", "resolve"]

#: Why a pinned environment was chosen.
PICKER_REASON = "chosen in the kernel picker"


@dataclass(frozen=True)
class LaunchRequest:
    """What a launch knows: where the notebook is, and what the kernel starts with."""

    #: The kernel's working directory (jupyter_server, nbconvert and papermill pass it).
    cwd: str | None = None
    #: The notebook's absolute path (``JPY_SESSION_NAME``; jupyter_server sets it).
    session_name: str | None = None
    #: The server's root directory; the walk never leaves it.
    root_dir: Path | None = None
    home: Path | None = field(default_factory=Path.home)
    #: An environment the kernelspec is pinned to (the picker's); None: walk.
    environment: Path | None = None
    #: The variables the kernel would start with before activation.
    env: Mapping[str, str] = field(default_factory=dict)
    #: This start is the restarter's, after the kernel died without being asked to.
    after_unexpected_exit: bool = False
    #: Why that kernel ended, when whoever carried it out knows (its Slurm job was cancelled).
    exit_explanation: str = ""
    #: Why making the environment failed in this very start (the tool's last lines and
    #: the command to run by hand): the plan explains it instead of making it again.
    build_failure: str = ""


def resolve(request: LaunchRequest, settings: Settings) -> Walk | None:
    """The walk for ``request``: its pinned environment, else up from the notebook.

    None when nothing says where the notebook is.
    """
    if request.environment is not None:
        return pinned(request.environment, settings)
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
    it, so it launches exactly as listed; a venv under another name is inspected as
    one, and judged by the same trust policy. One that is gone or no longer an
    environment comes back with a problem, and so reaches the fallback.
    """
    directory = environment.parent
    found = _located(environment, settings)
    if isinstance(found, Environment):
        chosen = replace(found, reason=PICKER_REASON)
        return Walk(directory, directory, (directory,), (Candidate(environment, chosen),))
    gone = Environment(
        root=environment,
        kind=Kind.VENV,
        interpreter=environment / "bin" / "python",
        problems=(
            Problem(
                ProblemCode.BAD_CONFIG,
                f"The environment {sanitize(str(environment))} chosen for this notebook {found}.",
                "Choose another kernel (Kernel > Change Kernel...), or recreate it, for "
                f"example `python -m venv {sanitize(str(environment))}`.",
            ),
        ),
        reason=PICKER_REASON,
    )
    return Walk(directory, directory, (directory,), (Candidate(environment, gone),))


def _located(environment: Path, settings: Settings) -> Environment | str:
    """``environment`` as the locators find it, else as a venv; else why it is none."""
    skipped = "does not exist"
    # The project a tool's environment belongs to may sit higher: pixi's .pixi/envs/<env>.
    for directory in list(environment.parents)[:3]:
        for locate in settings.locators():
            for candidate in locate(directory):
                if candidate.path != environment:
                    continue
                if candidate.environment is not None:
                    return candidate.environment
                skipped = candidate.skipped or skipped
    try:
        return judge(inspect_venv(environment), settings.trust)
    except NotAnEnvironment as error:
        return skipped if skipped != "does not exist" else str(error)
