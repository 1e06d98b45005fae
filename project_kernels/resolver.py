"""Which environment a launch is for: the walk up from the notebook, or a pinned environment.

:func:`resolve` answers from files alone; :func:`~.decision.decide` builds the
launch on top of it, for the provisioner, the command line and every other adapter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .choices import Choice, chosen_candidate, read_notebook_choice
from .discovery import (
    Candidate,
    Locator,
    Walk,
    choose_boundary,
    choose_start,
    is_within,
    normalize,
    walk_up,
)
from .environments import Environment, Kind, NotAnEnvironment, Problem, ProblemCode, inspect_venv
from .locators import tool_context
from .report import sanitize
from .settings import Settings
from .trust import judge

__all__ = ["HOME_SKIPPED", "PICKER_REASON", "LaunchRequest", "pinned", "resolve"]

#: Why a pinned environment was chosen.
PICKER_REASON = "chosen in the kernel picker"
#: Why the home directory's own environment is passed over (``home_environment`` off).
HOME_SKIPPED = (
    "is the home directory's own environment, which would serve every notebook under home "
    "that has no nearer one; it is used only with c.ProjectKernels.home_environment = True"
)


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
    """The walk for ``request``: its pinned environment, else the environment the
    notebook's metadata names, else up from the notebook (where at each level what the
    project there names comes first: :mod:`.choices`).

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
    choice = _notebook_choice(request.session_name, root)
    if choice is not None:
        return _chosen_by_notebook(choice, start, boundary, settings)
    locators = settings.locators(choices=True)
    if not settings.home_environment and request.home is not None:
        locators = [_passing_over_home(locate, request.home) for locate in locators]
    return walk_up(start, boundary, locators)


def _notebook_choice(session_name: str | None, root: Path | None) -> Choice | None:
    """What the notebook's own metadata names, read only when the server said which
    notebook this is (``JPY_SESSION_NAME``), and only for a notebook inside its root."""
    name = session_name or ""
    if not name.endswith(".ipynb") or not os.path.isabs(name):
        return None
    notebook = normalize(name)
    if root is not None and not is_within(notebook, root):
        return None
    return read_notebook_choice(notebook)


def _chosen_by_notebook(choice: Choice, start: Path, boundary: Path, settings: Settings) -> Walk:
    """The walk of a notebook that names its environment: that one candidate, judged by
    the same trust policy as everything the walk finds."""
    context = tool_context(settings.tools)
    found = chosen_candidate(choice, context, settings.environment_kinds)
    if found.environment is not None:
        found = replace(found, environment=judge(found.environment, settings.trust))
    return Walk(start, boundary, (start,), (replace(found, level=start),))


def _passing_over_home(locate: Locator, home: Path) -> Locator:
    """``locate`` with the environments found (or declared) in the home directory itself skipped.

    A ``~/.venv`` would otherwise serve every notebook under home with no nearer
    environment: on a hub, one made by accident takes all of a user's notebooks. What a
    file in home names (``~/.project-kernels.toml``) is no accident, and stays.
    """

    def located(directory: Path) -> Iterator[Candidate]:
        at_home = directory == home or (
            directory.name == home.name and os.path.realpath(directory) == os.path.realpath(home)
        )
        for candidate in locate(directory):
            if at_home and candidate.ends_walk and candidate.chosen_by is None:
                # Declared ones too: a ~/pyproject.toml must not make every notebook wait
                # for (or be told about) an environment for the whole of home.
                yield replace(candidate, environment=None, declared=None, skipped=HOME_SKIPPED)
            else:
                yield candidate

    return located


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
