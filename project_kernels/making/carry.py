"""Make what a plan says, then decide again, until the plan is to launch.

One decision may need several builds (a project's environment, then ipykernel in
it); each round builds what :func:`~project_kernels.decision.decide` asks for and
asks again, telling it when a build failed so that it explains instead of trying
once more. Used in the foreground by ``project-kernels fix`` and by the provisioner
outside a server (nbconvert, papermill); a server's provisioner runs the same
rounds with a detached build and a kernel that shows it (see :mod:`.launch`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..decision import LaunchMode, LaunchPlan, decide
from ..failure_memory import FailureMemory
from ..resolver import LaunchRequest
from ..settings import Settings
from .build import Outcome, Writer, build
from .recipes import Recipe

__all__ = ["MAX_ROUNDS", "after_build", "make_and_decide", "next_request"]

#: Builds one decision may ask for (a project's environment, then ipykernel in it).
MAX_ROUNDS = 3

Builder = Callable[[Recipe], Outcome]


def make_and_decide(
    request: LaunchRequest,
    settings: Settings,
    memory: FailureMemory | None = None,
    out: Writer | None = None,
    builder: Builder | None = None,
) -> tuple[LaunchPlan, list[Outcome]]:
    """The plan once everything it asked for has been made (or failed), and the builds."""
    run = builder or (lambda recipe: build(recipe, out))
    plan = decide(request, settings, memory)
    outcomes: list[Outcome] = []
    made: set[str] = set()
    while plan.mode is LaunchMode.MAKING and plan.making is not None:
        recipe = plan.making
        request = next_request(request, recipe, made, len(outcomes))
        if not request.build_failure:
            outcome = run(recipe)
            outcomes.append(outcome)
            request = after_build(request, recipe, outcome, made)
        plan = decide(request, settings, memory)
    return plan, outcomes


def next_request(
    request: LaunchRequest, recipe: Recipe, made: set[str], rounds: int
) -> LaunchRequest:
    """The request as it is, or with a failure when ``recipe`` was made already (its tools
    succeeded, yet the environment is still not there) or too many rounds ran."""
    if recipe.key in made or rounds >= MAX_ROUNDS:
        return replace(
            request,
            build_failure=(
                f"{recipe.what} is still missing after its tools succeeded: run "
                f"`{recipe.commands()}` by hand to see why"
            ),
        )
    return request


def after_build(
    request: LaunchRequest, recipe: Recipe, outcome: Outcome, made: set[str]
) -> LaunchRequest:
    """The request to decide again with after a build: with its failure, if it failed."""
    if outcome.ok:
        made.add(recipe.key)
        return request
    return replace(request, build_failure=outcome.explanation())
