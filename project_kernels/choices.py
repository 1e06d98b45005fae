"""What a project or a notebook says its environment is, instead of leaving it to discovery.

A project names the environment of every notebook below its directory in one line:
``[tool.project-kernels]`` in its ``pyproject.toml`` (or the same keys in a
``.project-kernels.toml`` beside it, for projects without a ``pyproject.toml``), with
one of

- ``environment = "envs/gpu"``: a directory, relative to the file (or absolute);
- ``pixi-environment = "cuda"``: an environment of the pixi workspace in that directory;
- ``conda-environment = "shared-analysis"``: a name in conda's environments directories.

The directory holding the file is a level of the walk like any other: the nearest
level wins, and at its level the choice comes before every kind discovery looks for.
A notebook's own ``metadata["project-kernels"]["environment"]`` (relative to the
notebook) overrides its project's choice (see :func:`~.resolver.resolve`).

Why ``.project-kernels.toml`` and not ``project-kernels.toml``: that name is the
declaration *inside* an environment (``.venv/project-kernels.toml``: its modules and
``[slurm]`` table, see :mod:`.modules`). The project's file is hidden like the other
per-directory files tools keep beside a project (``.python-version``, ``.pdm-python``);
the walk looks for it by that name only, and its keys are not the declaration's (a
``modules`` or ``slurm`` key in it is explained, not ignored).

What is named is found from files like everything discovery finds, and judged by the
same trust policy: the walk's locators are wrapped in it, and nothing here reads a
trust setting, so a file in a project can choose among environments but never make one
trusted. A name that cannot be followed (nothing there, a file, an unknown conda or
pixi environment, a kind the server does not run, a key this does not know) becomes an
environment with a problem naming the file and the line; it ends the walk at its level
like any environment, so the notebook is told, never given another environment.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from .discovery import Candidate, normalize
from .environments import Environment, Kind, NotAnEnvironment, Problem, ProblemCode, inspect_venv
from .kinds import conda, pixi
from .kinds.base import Context, Level, table
from .notebook import notebook_metadata_entry
from .report import sanitize

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib

__all__ = [
    "CHOICE_PROBLEMS",
    "KEYS",
    "PROJECT_FILE",
    "TABLE",
    "Choice",
    "ChoiceLevel",
    "choice_probe",
    "chosen_candidate",
    "read_notebook_choice",
    "read_project_choice",
]

#: The project's file, for projects without a ``pyproject.toml`` (see the module's docstring).
PROJECT_FILE = ".project-kernels.toml"
PYPROJECT = "pyproject.toml"
#: ``[tool.project-kernels]``, and the notebook's ``metadata["project-kernels"]``.
TABLE = "project-kernels"
ENVIRONMENT, PIXI_ENVIRONMENT, CONDA_ENVIRONMENT = (
    "environment",
    "pixi-environment",
    "conda-environment",
)
#: The keys a project names its environment with; exactly one of them.
KEYS = (ENVIRONMENT, PIXI_ENVIRONMENT, CONDA_ENVIRONMENT)
#: Keys of the declaration inside an environment, said to belong there when met here.
_DECLARATION_KEYS = ("modules", "slurm")
#: The problems of a choice that cannot be followed: nothing named there is run or judged.
CHOICE_PROBLEMS = frozenset({ProblemCode.CHOSEN_MISSING, ProblemCode.CHOSEN_INVALID})
#: A conda or pixi environment's name: one path component.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_TOML_LINE = re.compile(r"at line (\d+)")


class ChoiceLevel(str, Enum):
    """Who named the environment. The values are part of the JSON output."""

    PROJECT = "project"
    NOTEBOOK = "notebook"


@dataclass(frozen=True)
class Choice:
    """An environment a file names, where it does, and (when it cannot be followed) why not."""

    file: Path
    #: The line naming it (1-based), when it could be found.
    line: int | None
    level: ChoiceLevel
    key: str = ""
    value: str = ""
    #: Why the file names nothing that can be followed (a key this does not know, ...).
    error: str = ""

    @property
    def directory(self) -> Path:
        """What a relative ``environment`` is relative to: the file's directory."""
        return self.file.parent

    def where(self) -> str:
        """``/p/pyproject.toml, line 5``, for a person."""
        shown = sanitize(str(self.file))
        return f"{shown}, line {self.line}" if self.line else shown

    def setting(self) -> str:
        """What names it, as it is written: ``[tool.project-kernels] environment = "envs/gpu"``
        (the table alone for a choice that names nothing that can be followed)."""
        value = sanitize(json.dumps(self.value, ensure_ascii=False))
        if self.error:
            return f'metadata "{TABLE}"' if self.level is ChoiceLevel.NOTEBOOK else self._table()
        if self.level is ChoiceLevel.NOTEBOOK:
            return f'metadata "{TABLE}": {{"{self.key}": {value}}}'
        table_name = f"{self._table()} " if self.file.name == PYPROJECT else ""
        return f"{table_name}{self.key} = {value}"

    def _table(self) -> str:
        return f"[tool.{TABLE}]" if self.file.name == PYPROJECT else PROJECT_FILE

    def reason(self) -> str:
        """Why its environment was chosen, continuing "Chosen as the ..."."""
        if self.level is ChoiceLevel.NOTEBOOK:
            return (
                f"environment this notebook names in its metadata ({self.where()}: "
                f"{self.setting()})"
            )
        return f"environment the project names in {self.where()} ({self.setting()})"

    def change(self) -> str:
        """How a person changes what is named, for a ``Fix:`` line (no colon in it: a fix's
        text after a colon is taken for its command)."""
        if self.level is ChoiceLevel.NOTEBOOK:
            return (
                f'change "{self.key}" in the notebook\'s metadata (in JupyterLab with the '
                f"status bar's details), or remove \"{TABLE}\" from it to use the project's "
                "environment"
            )
        return f"change {self.key or 'the setting'} in {self.where()}"


def read_project_choice(level: Level) -> Choice | None:
    """The environment the project in ``level``'s directory names; None when it names none.

    Costs one look for ``.project-kernels.toml`` beyond the ``pyproject.toml`` the
    tools' locators look at anyway (``level`` keeps what was read).
    """
    in_pyproject = _from_pyproject(level)
    in_file = _from_project_file(level)
    if in_pyproject is not None and in_file is not None:
        twice = (
            f"{sanitize(str(level.directory))} names its environment twice: in {PYPROJECT} "
            f"([tool.{TABLE}], {in_pyproject.where()}) and in {PROJECT_FILE}. Keep one of them."
        )
        return Choice(in_file.file, in_file.line, ChoiceLevel.PROJECT, error=twice)
    return in_pyproject or in_file


def read_notebook_choice(notebook: Path) -> Choice | None:
    """The environment ``notebook``'s metadata names (``metadata["project-kernels"]
    ["environment"]``); None when it names none. Reads the metadata only."""
    entry = notebook_metadata_entry(notebook, TABLE, ENVIRONMENT)
    if entry is None:
        return None
    value = entry.value
    if not isinstance(value, str) or not value.strip():
        error = (
            f"The notebook {sanitize(str(notebook))} names its environment in its metadata "
            f'("{TABLE}": {{"{ENVIRONMENT}": ...}}, line {entry.line}) with '
            f"{sanitize(json.dumps(value))}, which is not a path."
        )
        return Choice(notebook, entry.line, ChoiceLevel.NOTEBOOK, ENVIRONMENT, error=error)
    return Choice(notebook, entry.line, ChoiceLevel.NOTEBOOK, ENVIRONMENT, value)


#: What the walk asks at each level (a tool locator's shape, see :mod:`.locators`).
Probe = Callable[[Level, Context], Iterable[Candidate]]


def choice_probe(kinds: frozenset[Kind] | None = None) -> Probe:
    """The walk's first question at each level: does the project here name its environment?

    ``kinds`` are the kinds the server runs (None: all); another kind named is refused.
    """

    def locate(level: Level, context: Context) -> Iterator[Candidate]:
        choice = read_project_choice(level)
        if choice is not None:
            yield chosen_candidate(choice, context, kinds, level)

    return locate


def chosen_candidate(
    choice: Choice,
    context: Context,
    kinds: frozenset[Kind] | None = None,
    level: Level | None = None,
) -> Candidate:
    """What ``choice`` names, found as discovery finds it; always a candidate that ends the
    walk (an environment, possibly with problems, or a pixi environment not installed yet).

    Not judged by the trust policy here: the walk's locators are (see :mod:`.settings`).
    """
    if choice.error:
        fix = f"Correct the file ({choice.change()})."
        candidate = _unfollowed(choice, choice.file, ProblemCode.CHOSEN_INVALID, choice.error, fix)
    elif choice.key == ENVIRONMENT:
        candidate = _at_path(choice)
    elif choice.key == PIXI_ENVIRONMENT:
        candidate = _pixi(choice, level or Level(choice.directory), context)
    else:
        candidate = _conda(choice, context)
    return replace(_allowed(candidate, choice, kinds), chosen_by=choice)


def _at_path(choice: Choice) -> Candidate:
    path = normalize(choice.directory / choice.value)
    if conda.is_conda_prefix(path):
        found = conda.conda_candidate(path, choice.reason())
    else:
        try:
            environment = inspect_venv(path)
        except NotAnEnvironment as why:
            found = Candidate(path, skipped=str(why))
        else:
            found = Candidate(path, environment=replace(environment, reason=choice.reason()))
    if found.skipped is None:
        return found
    summary = f"{sanitize(str(path))}, which {choice.where()} names, {found.skipped}."
    fix = (
        f"Make it there (for example `python3 -m venv {sanitize(str(path))}`, then install "
        f"ipykernel in it), or {choice.change()} to an environment that exists."
    )
    return _unfollowed(choice, path, ProblemCode.CHOSEN_MISSING, summary, fix)


def _pixi(choice: Choice, level: Level, context: Context) -> Candidate:
    name = choice.value
    root = level.directory / ".pixi" / "envs" / name
    if not _NAME.fullmatch(name):
        summary = (
            f"{choice.where()} names the pixi environment {sanitize(repr(name))}, which is "
            "not an environment's name."
        )
        fix = f"Correct the name ({choice.change()})."
        return _unfollowed(choice, root, ProblemCode.CHOSEN_INVALID, summary, fix, Kind.PIXI)
    manifest = pixi.read_manifest(level)
    if manifest is None:
        summary = (
            f"{choice.where()} names the pixi environment {name!r}, but "
            f"{sanitize(str(level.directory))} is no pixi workspace (no pixi.toml, no "
            "[tool.pixi] in pyproject.toml)."
        )
        fix = (
            f'Name the environment by its directory instead (environment = "path"), or '
            f"{choice.change()}."
        )
        return _unfollowed(choice, root, ProblemCode.CHOSEN_MISSING, summary, fix, Kind.PIXI)
    defined = ["default", *(k for k in table(manifest.pixi, "environments") if k != "default")]
    if name not in defined:
        summary = (
            f"{choice.where()} names the pixi environment {name!r}, which "
            f"{sanitize(str(manifest.path))} does not define (it defines: {', '.join(defined)})."
        )
        fix = f"Add it to [environments] in {manifest.path.name}, or {choice.change()}."
        return _unfollowed(choice, root, ProblemCode.CHOSEN_MISSING, summary, fix, Kind.PIXI)
    options = replace(context.options, pixi_environment=name)
    for found in pixi.locate(level, replace(context, options=options)):
        if found.environment is not None:
            reason = choice.reason()
            return replace(found, environment=replace(found.environment, reason=reason))
        if found.declared is not None:
            declared_by = f"{found.declared.declared_by}, named in {choice.where()}"
            return replace(found, declared=replace(found.declared, declared_by=declared_by))
        summary = (
            f"The pixi environment {name!r} ({sanitize(str(root))}), which {choice.where()} "
            f"names, {found.skipped}."
        )
        fix = f"Install it again: cd {sanitize(str(level.directory))}; pixi install -e {name}"
        return _unfollowed(choice, root, ProblemCode.CHOSEN_MISSING, summary, fix, Kind.PIXI)
    raise AssertionError("pixi finds a workspace's environment, made or not")  # pragma: no cover


def _conda(choice: Choice, context: Context) -> Candidate:
    name = choice.value
    searched = conda.envs_dirs(context)
    root = (searched[0] if searched else choice.directory) / name
    if not _NAME.fullmatch(name):
        summary = (
            f"{choice.where()} names the conda environment {sanitize(repr(name))}, which is "
            "not an environment's name (a path goes in environment = ...)."
        )
        fix = f"Correct the name ({choice.change()})."
        return _unfollowed(choice, root, ProblemCode.CHOSEN_INVALID, summary, fix, Kind.CONDA)
    found = conda.find_named(name, context, searched=searched)
    if found is None:
        shown = ", ".join(sanitize(str(d)) for d in searched[:4])
        more = f" and {len(searched) - 4} more" if len(searched) > 4 else ""
        summary = (
            f"{choice.where()} names the conda environment {name!r}, but there is none by that "
            f"name in conda's environments directories ({shown}{more}) or in "
            "~/.conda/environments.txt."
        )
        fix = (
            f"Create it (`conda create -n {name} python ipykernel`), or {choice.change()}; "
            f'one kept elsewhere is named by its directory: environment = "/path/to/{name}".'
        )
        return _unfollowed(choice, root, ProblemCode.CHOSEN_MISSING, summary, fix, Kind.CONDA)
    path, where = found
    candidate = conda.conda_candidate(path, f"{choice.reason()}, {where}")
    if candidate.skipped is None:
        return candidate
    summary = (
        f"The conda environment {name!r} ({sanitize(str(path))}), which {choice.where()} "
        f"names, {candidate.skipped}."
    )
    fix = (
        f"Install Python and ipykernel in it (`conda install -n {name} python ipykernel`), "
        f"or {choice.change()}."
    )
    return _unfollowed(choice, path, ProblemCode.CHOSEN_MISSING, summary, fix, Kind.CONDA)


def _allowed(candidate: Candidate, choice: Choice, kinds: frozenset[Kind] | None) -> Candidate:
    """``candidate``, refused when it is of a kind the server does not run."""
    environment = candidate.environment
    kind = environment.kind if environment is not None else None
    if candidate.declared is not None:
        kind = candidate.declared.kind
    if kinds is None or kind is None or kind in kinds:
        return candidate
    if environment is not None and any(p.code in CHOICE_PROBLEMS for p in environment.problems):
        return candidate
    shown = ", ".join(sorted(k.value for k in kinds))
    summary = (
        f"{choice.where()} names {sanitize(str(candidate.path))}, a {kind.value} environment, "
        f"but this server runs only {shown} environments (c.ProjectKernels.environment_kinds)."
    )
    fix = (
        f"Name an environment of one of those kinds ({choice.change()}), or an administrator "
        f"adds {kind.value!r} to c.ProjectKernels.environment_kinds."
    )
    return _unfollowed(choice, candidate.path, ProblemCode.CHOSEN_INVALID, summary, fix, kind)


def _unfollowed(
    choice: Choice,
    path: Path,
    code: ProblemCode,
    summary: str,
    fix: str,
    kind: Kind = Kind.VENV,
) -> Candidate:
    """A candidate for a choice that cannot be followed: an environment at ``path`` whose
    only problem says why, so that the walk ends here and the notebook is told."""
    environment = Environment(
        root=path,
        kind=kind,
        interpreter=path / "bin" / "python",
        problems=(Problem(code, summary, fix),),
        reason=choice.reason(),
    )
    return Candidate(path, environment=environment, chosen_by=choice)


# -- reading the project's files ------------------------------------------------------------


def _from_pyproject(level: Level) -> Choice | None:
    if not level.has_file(PYPROJECT):
        return None
    path = level.directory / PYPROJECT
    data = level.pyproject()
    if data is None:
        return _unreadable(path, required=False)
    tool = data.get("tool")
    chosen = tool.get(TABLE) if isinstance(tool, Mapping) else None
    if chosen is None:
        return None
    return _validated(chosen, path, f"[tool.{TABLE}] in {sanitize(str(path))}")


def _from_project_file(level: Level) -> Choice | None:
    if not level.has_file(PROJECT_FILE):
        return None
    path = level.directory / PROJECT_FILE
    data = level.toml(PROJECT_FILE)
    if data is None:
        return _unreadable(path, required=True)
    return _validated(data, path, sanitize(str(path)))


def _unreadable(path: Path, *, required: bool) -> Choice | None:
    """Why ``path`` could not be read as TOML; for a ``pyproject.toml`` (not ``required``)
    only when it mentions project-kernels: other tools' files are not this one's business."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as unread:
        if not required:
            return None
        why = f"{sanitize(str(path))} cannot be read ({sanitize(str(unread))})"
        return Choice(path, None, ChoiceLevel.PROJECT, error=f"{why}, so it names nothing.")
    if not required and TABLE not in text:
        return None
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = _TOML_LINE.search(str(error))
        why = f"{sanitize(str(path))} is not valid TOML ({sanitize(str(error))})"
        return Choice(
            path,
            int(line.group(1)) if line else None,
            ChoiceLevel.PROJECT,
            error=f"{why}, so the environment it names cannot be read.",
        )
    return None  # pragma: no cover - read between two changes of the file


def _validated(chosen: Any, path: Path, shown: str) -> Choice:
    """The one environment ``chosen`` (the table) names, or why it names none."""
    in_pyproject = path.name == PYPROJECT
    text = _text(path)

    def invalid(error: str, key: str = "") -> Choice:
        line = _line_of(text, key, in_pyproject=in_pyproject)
        return Choice(path, line, ChoiceLevel.PROJECT, key, error=error)

    if not isinstance(chosen, Mapping):
        return invalid(f'{shown}: {TABLE} must be a table of keys (environment = "...").')
    unknown = [k for k in chosen if k not in KEYS]
    if unknown:
        key = str(unknown[0])
        where = (
            f" ({key} belongs in the environment's own project-kernels.toml, for example "
            ".venv/project-kernels.toml)"
            if key in _DECLARATION_KEYS
            else ""
        )
        return invalid(
            f"{shown} has a key project-kernels does not know, {sanitize(repr(key))}{where}; "
            f"it takes one of {', '.join(KEYS)}.",
            key,
        )
    named = [k for k in KEYS if k in chosen]
    if not named:
        return invalid(f"{shown} names no environment: set one of {', '.join(KEYS)}.")
    if len(named) > 1:
        return invalid(
            f"{shown} names more than one environment ({', '.join(named)}): keep one.", named[1]
        )
    key = named[0]
    value = chosen[key]
    if not isinstance(value, str) or not value.strip():
        return invalid(f"{shown}: {key} must be a non-empty string (a quoted name or path).", key)
    line = _line_of(text, key, in_pyproject=in_pyproject)
    return Choice(path, line, ChoiceLevel.PROJECT, key, value)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


_PROJECT_HEADER = re.compile(rf'^\s*\[\s*tool\s*\.\s*"?{TABLE}"?\s*\]')


def _line_of(text: str, key: str, *, in_pyproject: bool) -> int | None:
    """The line of ``key`` in the project's table (else the table's header's).

    TOML parsers keep no positions; this reads the text as a person writes it:
    ``[tool.project-kernels]`` then ``key = ...``, or a dotted
    ``tool.project-kernels.key = ...``; in ``.project-kernels.toml``, a top-level
    ``key = ...`` or ``[key]`` table.
    """
    lines = text.splitlines()
    name = rf'"?{re.escape(key)}"?'
    assignment = re.compile(rf"^\s*{name}\s*[=.]")
    dotted = re.compile(rf'^\s*tool\s*\.\s*"?{TABLE}"?\s*\.\s*{name}\s*=')
    own_table = re.compile(rf"^\s*\[\s*{name}\s*[\].]")

    def names_key(line: str, is_header: bool, inside: bool) -> bool:
        if in_pyproject and dotted.match(line):
            return True
        if is_header:
            return not in_pyproject and bool(own_table.match(line))
        return inside and bool(assignment.match(line))

    inside = not in_pyproject
    header: int | None = None
    for number, line in enumerate(lines, 1):
        is_header = line.lstrip().startswith("[")
        if key and names_key(line, is_header, inside):
            return number
        if is_header:
            inside = in_pyproject and bool(_PROJECT_HEADER.match(line))
            header = number if inside and header is None else header
    if header is not None or not in_pyproject:
        return header
    return next((n for n, line in enumerate(lines, 1) if TABLE in line), None)
