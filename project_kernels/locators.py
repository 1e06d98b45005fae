"""Every kind of environment looked for at one level of the walk, in a documented order.

At each directory, from the notebook's up, the first of these that is there wins:

1. ``.venv``, ``venv`` (``environment_names``): venvs made by venv, virtualenv, uv,
   and the in-project environments of poetry, pipenv, pdm and hatch;
2. uv: a project's environment where ``UV_PROJECT_ENVIRONMENT`` puts it, or the
   declaration of one (``uv.lock``, ``[tool.uv]``) that ``uv sync`` has not made;
3. pixi: ``.pixi/envs/<pixi_environment>`` next to ``pixi.toml`` (or a
   ``pyproject.toml`` with ``[tool.pixi]``);
4. conda, inside the project: ``.conda``, ``env`` (``conda_directories``);
5. pdm: the environment of the interpreter ``.pdm-python`` names, else pdm's
   central environment for the project;
6. poetry: its central environment for the project (``pyproject.toml``);
7. pipenv: its environment for the ``Pipfile``;
8. hatch: the project's ``default`` environment (``pyproject.toml``);
9. conda, by name: the environment ``environment.yml``'s ``name:`` names, in
   conda's environments directories;
10. pyenv: the version (or pyenv-virtualenv environment) ``.python-version`` names.

Why this order: what sits inside the project directory comes first, then what a
project file names explicitly (``.pdm-python``), then the environments tools
keep elsewhere under names derived from the project, then a shared conda
environment chosen by name, and last a bare interpreter: ``.python-version``
names only a Python, and uv and pdm write one beside the environment they make.

A project that declares an environment its tool has not made (a ``uv.lock`` with no
``.venv``, a ``Pipfile`` before ``pipenv install``) stops the walk as an environment
would: see :mod:`project_kernels.declarations`.

Each tool's rules live in :mod:`project_kernels.kinds`. When nothing is there a
level costs one ``stat`` per marker file (``uv.lock``, ``pixi.toml``, ``pyproject.toml``,
``.pdm-python``, ``Pipfile``, ``environment.yml``, ``environment.yaml``,
``.python-version``) and one per conda directory name, each looked at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from .discovery import Candidate, Locator, named_directories
from .environments import Kind
from .kinds import conda, hatch, pdm, pipenv, pixi, poetry, pyenv, uv
from .kinds.base import Context, Level, ToolOptions

__all__ = ["PRECEDENCE", "VENV_KINDS", "Context", "ToolOptions", "project_locators"]

#: The kinds the named directories (``.venv``, ``venv``) hold.
VENV_KINDS = frozenset({Kind.VENV, Kind.VIRTUALENV, Kind.UV})

Probe = Callable[[Level, Context], Iterable[Candidate]]

#: The tool locators, in order of precedence at one level (after the named directories).
PRECEDENCE: tuple[tuple[Kind, Probe], ...] = (
    (Kind.UV, uv.locate),
    (Kind.PIXI, pixi.locate),
    (Kind.CONDA, conda.locate_in_project),
    (Kind.PDM, pdm.locate),
    (Kind.POETRY, poetry.locate),
    (Kind.PIPENV, pipenv.locate),
    (Kind.HATCH, hatch.locate),
    (Kind.CONDA, conda.locate_named),
    (Kind.PYENV, pyenv.locate),
)


def project_locators(
    names: Sequence[str],
    kinds: frozenset[Kind] | None = None,
    options: ToolOptions | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[Locator]:
    """The locators for every allowed kind, in order of precedence.

    ``kinds`` None allows every kind. Tool configuration is read from
    ``environ`` (the server's variables by default) and ``home``.
    """
    allowed = frozenset(Kind) if kinds is None else kinds
    locators: list[Locator] = []
    venv_kinds = allowed & VENV_KINDS
    if names and venv_kinds:
        located = named_directories(tuple(names))
        locators.append(located if venv_kinds == VENV_KINDS else only(located, venv_kinds, allowed))
    probes = [probe for kind, probe in PRECEDENCE if kind in allowed]
    if probes:
        context = Context(
            environ=dict(os.environ if environ is None else environ),
            home=home if home is not None else Path(os.path.expanduser("~")),
            options=options or ToolOptions(),
        )
        locators.append(tool_locator(probes, context))
    return locators


def tool_locator(probes: Sequence[Probe], context: Context) -> Locator:
    """One locator asking each tool's probe in turn, sharing one look at each marker file."""

    def locate(directory: Path) -> Iterator[Candidate]:
        level = Level(directory)
        for probe in probes:
            yield from probe(level, context)

    return locate


def only(
    locate: Locator, kinds: frozenset[Kind], allowed: frozenset[Kind] | None = None
) -> Locator:
    """``locate`` with environments of other kinds turned into skipped candidates
    (whose reason names ``allowed``, by default ``kinds``)."""
    shown = ", ".join(sorted(k.value for k in (allowed or kinds)))

    def restricted(directory: Path) -> Iterator[Candidate]:
        for candidate in locate(directory):
            environment = candidate.environment
            if environment is None or environment.kind in kinds:
                yield candidate
            else:
                yield replace(
                    candidate,
                    environment=None,
                    skipped=(
                        f"is a {environment.kind.value} environment, and environment_kinds "
                        f"allows only {shown}"
                    ),
                )

    return restricted
