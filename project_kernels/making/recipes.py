"""What makes an environment: the commands, where they run, under which lock.

A :class:`Recipe` is the plan's answer to "make it first": pure data, worked out
from files (the declaration, the environment, the notebook's inline block) and
from where the tools are. :mod:`.build` carries it out. Nothing here runs.

Before a recipe is given, the trust policy judges what the build would run as the
person: the project's directory and the files the tool reads (``pyproject.toml``,
``uv.lock``, ...: building runs what they say, their build backends included) and
the tool itself. A project or tool someone else could have written is explained,
never built.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..activation import deactivated
from ..declarations import Declaration
from ..environments import Environment, Kind
from ..inline import MARKER_NAME, InlineScript
from ..report import sanitize
from ..trust import TrustPolicy, finding_text, judge_paths
from .settings import MakingSettings
from .tools import find_tool

__all__ = [
    "Recipe",
    "Step",
    "for_declaration",
    "for_inline",
    "for_ipykernel",
    "recipe_from_json",
    "recipe_json",
]

#: Compiles an environment's site-packages to bytecode (run by its own interpreter),
#: so that its first kernel starts as fast as its thousandth.
COMPILE_CODE = (
    "import compileall, site, sys; "
    "sys.exit(0 if all([compileall.compile_dir(d, quiet=1, workers=0) "
    "for d in site.getsitepackages()]) else 1)"
)
#: Variables each tool runs with: compiled bytecode, and no questions asked.
TOOL_VARIABLES: dict[str, dict[str, str]] = {
    "uv": {"UV_COMPILE_BYTECODE": "1"},
    "pipenv": {"PIPENV_YES": "1", "PIPENV_NOSPIN": "1"},
}
#: Tools whose ``run`` reaches the environment they made, to compile its bytecode.
RUNNERS: dict[Kind, tuple[str, ...]] = {
    Kind.POETRY: ("run",),
    Kind.PDM: ("run",),
    Kind.PIPENV: ("run",),
    Kind.HATCH: ("run",),
}


@dataclass(frozen=True)
class Step:
    """One command of a build."""

    argv: tuple[str, ...]
    #: The command as a person would type it (what the notebook and ``fix`` print).
    shown: str
    cwd: Path
    #: A failure of this step does not fail the build (compiling bytecode).
    optional: bool = False


@dataclass(frozen=True)
class Recipe:
    """How to make one environment, and what a failed attempt leaves behind."""

    #: What is made, for a person: "the uv environment of /p (uv.lock)".
    what: str
    #: Identifies the build: its lock, log and result files are named after it.
    key: str
    steps: tuple[Step, ...]
    #: The variables every step runs with (the server's, with no environment active).
    environ: Mapping[str, str]
    #: Where the environment will be, when known before it is made.
    target: Path | None = None
    #: Glob patterns of what the build may create: removed again when it fails.
    creates: tuple[str, ...] = ()
    #: Paths removed before building (a leftover inline environment; never a project's).
    fresh: tuple[str, ...] = ()
    #: A file written (with ``marker_text``) once the build succeeded.
    marker: Path | None = None
    marker_text: str = ""
    timeout: float = 900.0
    #: The directory of build locks, logs and results.
    state_dir: Path = field(default_factory=lambda: Path("."))
    #: The inline cache to trim after this build, and how many environments it keeps.
    trim: Path | None = None
    keep: int = 0

    @property
    def lock(self) -> Path:
        """The file lock held while building (one build per environment at a time)."""
        return self.state_dir / f"{self.key}.lock"

    @property
    def log(self) -> Path:
        """What the tools printed during the last build."""
        return self.state_dir / f"{self.key}.log"

    @property
    def result(self) -> Path:
        """The last build's outcome (JSON)."""
        return self.state_dir / f"{self.key}.json"

    def commands(self) -> str:
        """The commands to run by hand, as the notebook shows them."""
        return "; ".join(step.shown for step in self.steps if not step.optional)


def build_key(*parts: str) -> str:
    """A file-name-safe key for what is built."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def for_declaration(
    declaration: Declaration,
    settings: MakingSettings,
    policy: TrustPolicy,
    base_env: Mapping[str, str],
) -> Recipe | str:
    """The recipe that makes a declared environment, or why it is not made."""
    tool = find_tool(declaration.tool, settings.tool_paths, base_env)
    if tool is None:
        return _no_tool(declaration.tool)
    refused = refusal(
        [("the project directory", declaration.project)]
        + [("the project file", f) for f in declaration.files]
        + [(f"the {declaration.tool} program", tool)],
        policy,
    )
    if refused:
        return refused
    steps = [
        Step(
            (str(tool), *declaration.command[1:]),
            declaration.shown_command(),
            declaration.project,
        )
    ]
    runner = RUNNERS.get(declaration.kind)
    if runner is not None:
        steps.append(
            Step(
                (str(tool), *runner, "python", "-c", COMPILE_CODE),
                f"{declaration.tool} run python -m compileall (bytecode)",
                declaration.project,
                optional=True,
            )
        )
    return Recipe(
        what=(
            f"the {declaration.kind.value} environment of {declaration.project} "
            f"({declaration.declared_by})"
        ),
        key=build_key("declared", declaration.kind.value, str(declaration.project)),
        steps=tuple(steps),
        environ=tool_environ(base_env, declaration.tool),
        target=declaration.environment,
        creates=declaration.creates,
        timeout=settings.timeout,
        state_dir=settings.states(),
    )


def for_ipykernel(
    environment: Environment,
    settings: MakingSettings,
    policy: TrustPolicy,
    base_env: Mapping[str, str],
) -> Recipe | str:
    """The recipe that installs ipykernel into an environment that lacks it, or why not.

    With uv (found where the server runs) for every kind of environment, else with the
    environment's own pip. The environment itself was judged by the trust policy already.
    """
    python = str(environment.interpreter)
    uv = find_tool("uv", settings.tool_paths, base_env)
    if uv is not None:
        refused = refusal([("the uv program", uv)], policy)
        if refused:
            return refused
        argv: tuple[str, ...] = (str(uv), "pip", "install", "--python", python, "ipykernel")
        shown = f"uv pip install --python {shlex.quote(python)} ipykernel"
        environ = tool_environ(base_env, "uv")
    elif os.path.exists(environment.bin_dir / "pip"):
        argv = (python, "-m", "pip", "install", "ipykernel")
        shown = f"{shlex.quote(python)} -m pip install ipykernel"
        environ = tool_environ(base_env, "pip")
    else:
        return _no_tool("uv")
    return Recipe(
        what=f"ipykernel in {environment.root}",
        key=build_key("ipykernel", str(environment.root)),
        steps=(Step(argv, shown, environment.root.parent),),
        environ=environ,
        target=environment.root,
        timeout=settings.timeout,
        state_dir=settings.states(),
    )


def for_inline(
    script: InlineScript,
    settings: MakingSettings,
    policy: TrustPolicy,
    base_env: Mapping[str, str],
) -> Recipe | str:
    """The recipe that makes a notebook's inline (PEP 723) environment with uv, or why not."""
    if script.error:
        shown = sanitize(str(script.notebook))
        return f"The notebook {shown} declares its packages, but {script.error}."
    uv = find_tool("uv", settings.tool_paths, base_env)
    if uv is None:
        return _no_tool("uv")
    refused = refusal([("the notebook", script.notebook), ("the uv program", uv)], policy)
    if refused:
        return refused
    cache = settings.inline_dir()
    root = script.environment(cache)
    python = (
        sys.executable
        if server_python_satisfies(script.requires_python)
        else str(script.requires_python)
    )
    interpreter = str(root / "bin" / "python")
    wanted = (*script.dependencies, "ipykernel")
    here = script.notebook.parent
    steps = (
        Step(
            (str(uv), "venv", "--python", python, str(root)),
            f"uv venv --python {shlex.quote(python)} {shlex.quote(str(root))}",
            here,
        ),
        Step(
            (str(uv), "pip", "install", "--python", interpreter, *wanted),
            f"uv pip install --python {shlex.quote(interpreter)} {shlex.join(wanted)}",
            here,
        ),
    )
    marker = json.dumps({"notebook": str(script.notebook), "block": script.content}, indent=1)
    return Recipe(
        what=f"the environment the script block of {script.notebook.name} declares",
        key=build_key("inline", script.digest),
        steps=steps,
        environ=tool_environ(base_env, "uv"),
        target=root,
        creates=(str(root),),
        fresh=(str(root),),
        marker=root / MARKER_NAME,
        marker_text=marker,
        timeout=settings.timeout,
        state_dir=settings.states(),
        trim=cache,
        keep=settings.inline_cache_max,
    )


def tool_environ(base_env: Mapping[str, str], tool: str) -> dict[str, str]:
    """The variables a tool runs with: the server's, no environment active, no questions."""
    env = deactivated(base_env)
    env.update(TOOL_VARIABLES.get(tool, {}))
    env["PIP_NO_INPUT"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def refusal(paths: Iterable[tuple[str, Path]], policy: TrustPolicy) -> str:
    """Why the trust policy refuses to build from ``paths`` ("" when it does not)."""
    findings = judge_paths(paths, policy)
    if not findings:
        return ""
    first = findings[0]
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    return (
        f"{sanitize(finding_text(first))}{more}: someone else could have written what "
        "the build would run as you, so it is not made automatically. Check the project, "
        "make it yours (chown/chmod), or an administrator trusts its owner "
        "(c.ProjectKernels.trusted_owners) or its path (c.ProjectKernels.trusted_paths)."
    )


def _no_tool(tool: str) -> str:
    hint = "install project-kernels[uv] where the server runs, or " if tool == "uv" else ""
    return (
        f"{tool} is not installed where the Jupyter server runs, so it cannot be made "
        f"automatically: {hint}put {tool} on the server's PATH, or set "
        f"c.ProjectKernels.tool_paths = {{{tool!r}: '/path/to/{tool}'}}."
    )


def recipe_json(recipe: Recipe) -> dict[str, Any]:
    """The recipe as JSON, for the build process."""
    return {
        "what": recipe.what,
        "key": recipe.key,
        "steps": [
            {
                "argv": list(s.argv),
                "shown": s.shown,
                "cwd": str(s.cwd),
                "optional": s.optional,
            }
            for s in recipe.steps
        ],
        "environ": dict(recipe.environ),
        "target": str(recipe.target) if recipe.target else None,
        "creates": list(recipe.creates),
        "fresh": list(recipe.fresh),
        "marker": str(recipe.marker) if recipe.marker else None,
        "marker_text": recipe.marker_text,
        "timeout": recipe.timeout,
        "state_dir": str(recipe.state_dir),
        "trim": str(recipe.trim) if recipe.trim else None,
        "keep": recipe.keep,
    }


def recipe_from_json(data: Mapping[str, Any]) -> Recipe:
    """The recipe :func:`recipe_json` wrote."""
    return Recipe(
        what=str(data["what"]),
        key=str(data["key"]),
        steps=tuple(
            Step(tuple(s["argv"]), str(s["shown"]), Path(s["cwd"]), bool(s["optional"]))
            for s in data["steps"]
        ),
        environ={str(k): str(v) for k, v in data["environ"].items()},
        target=Path(data["target"]) if data.get("target") else None,
        creates=tuple(data.get("creates", ())),
        fresh=tuple(data.get("fresh", ())),
        marker=Path(data["marker"]) if data.get("marker") else None,
        marker_text=str(data.get("marker_text", "")),
        timeout=float(data["timeout"]),
        state_dir=Path(data["state_dir"]),
        trim=Path(data["trim"]) if data.get("trim") else None,
        keep=int(data.get("keep", 0)),
    )


def server_python_satisfies(specifier: str | None) -> bool:
    """Whether the server's own Python meets a ``requires-python`` specifier."""
    if not specifier:
        return True
    try:
        return SpecifierSet(specifier).contains(
            ".".join(str(n) for n in sys.version_info[:3]), prereleases=True
        )
    except InvalidSpecifier:
        return False
