"""pixi: ``.pixi/envs/<environment>`` next to ``pixi.toml``, or next to a ``pyproject.toml``
with a ``[tool.pixi]`` table.

Activation is what ``pixi run``/``pixi shell`` set: what conda's activation sets
(``CONDA_PREFIX``, ``CONDA_SHLVL``, the environment's variables and the
``activate.d`` scripts that only set variables, see :mod:`.conda`), with
``CONDA_DEFAULT_ENV`` the workspace's name (``name:environment`` for another
environment than ``default``), the ``PIXI_PROJECT_*``, ``PIXI_ENVIRONMENT_*``,
``PIXI_PROMPT`` and ``PIXI_IN_SHELL`` variables, the manifest's
``[activation.env]`` (default feature first, then the environment's features,
each with its ``[target.<unix|linux|platform>.activation]``), and its
``[activation] scripts`` that only set variables.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Kind, NotAnEnvironment
from .base import Context, Level, Table, declared, project_files, string, table
from .conda import conda_activation, is_conda_prefix, scripts_exports
from .prefix import inspect_prefix
from .shell import Export, NotStatic, double_quoted_template


def locate(level: Level, context: Context) -> Iterator[Candidate]:
    """The pixi environment of the workspace in this directory, if there is one."""
    manifest = read_manifest(level)
    if manifest is None:
        return
    path, workspace = manifest.path, manifest.pixi
    name = context.options.pixi_environment
    root = level.directory / ".pixi" / "envs" / name
    if not is_conda_prefix(root):
        yield declared(
            root,
            Declaration(
                kind=Kind.PIXI,
                project=level.directory,
                declared_by=f"the environment {name!r} of {path.name}",
                command=("pixi", "install", "-e", name),
                environment=root,
                creates=(str(root),),
                files=project_files(level, path.name, "pixi.lock"),
            ),
        )
        return
    try:
        environment = inspect_prefix(root, Kind.PIXI)
    except NotAnEnvironment as skipped:
        yield Candidate(root, skipped=str(skipped))
        return
    conda = conda_activation(root)
    variables = pixi_variables(level.directory, manifest, name)
    features = _features(workspace, name)
    manifest_exports, env_notes = _activation_env(features, path)
    scripts = [level.directory / s for s in _activation_scripts(features)]
    script_exports, script_notes = scripts_exports(scripts)
    exports: list[Export] = [*conda.exports, *manifest_exports, *script_exports]
    yield Candidate(
        root,
        environment=replace(
            environment,
            reason=f"pixi environment {name!r} of {path}",
            extra_variables=variables,
            activation_exports=tuple(exports),
            notes=conda.notes + tuple(env_notes + script_notes),
        ),
    )


@dataclass(frozen=True)
class Manifest:
    """A pixi workspace's manifest: where it is, its pixi tables, and a pyproject's metadata."""

    path: Path
    #: ``pixi.toml`` whole, or a ``pyproject.toml``'s ``[tool.pixi]``.
    pixi: Table
    #: A ``pyproject.toml``'s ``[project]`` (name and version, when pixi's tables have none).
    project: Table = field(default_factory=dict)


def read_manifest(level: Level) -> Manifest | None:
    """The workspace manifest in this directory: ``pixi.toml``, else ``[tool.pixi]``."""
    if level.has_file("pixi.toml"):
        return Manifest(level.directory / "pixi.toml", level.toml("pixi.toml") or {})
    pyproject = level.pyproject()
    pixi = table(pyproject, "tool", "pixi")
    if not pixi:
        return None
    return Manifest(level.directory / "pyproject.toml", pixi, table(pyproject, "project"))


def _workspace_table(workspace: Table) -> Table:
    return table(workspace, "workspace") or table(workspace, "project")


def pixi_variables(directory: Path, manifest: Manifest, env_name: str) -> dict[str, str]:
    """The ``PIXI_*`` and ``CONDA_DEFAULT_ENV`` variables pixi sets for ``env_name``."""
    meta = _workspace_table(manifest.pixi)
    fallback = manifest.project
    name = string(meta, "name") or string(fallback, "name") or directory.name
    version = string(meta, "version") or string(fallback, "version") or "NO_VERSION_SPECIFIED"
    platforms = meta.get("platforms")
    shown = name if env_name == "default" else f"{name}:{env_name}"
    return {
        "PIXI_PROJECT_ROOT": str(directory),
        "PIXI_PROJECT_NAME": name,
        "PIXI_PROJECT_MANIFEST": str(manifest.path),
        "PIXI_PROJECT_VERSION": version,
        "PIXI_IN_SHELL": "1",
        "PIXI_ENVIRONMENT_NAME": env_name,
        "PIXI_ENVIRONMENT_PLATFORMS": ",".join(
            p for p in (platforms if isinstance(platforms, list) else []) if isinstance(p, str)
        ),
        "PIXI_PROMPT": f"({shown}) ",
        "CONDA_DEFAULT_ENV": shown,
    }


def _features(workspace: Table, env_name: str) -> list[Table]:
    """The feature tables of ``env_name``: the default feature (unless excluded), then its own."""
    spec = table(workspace, "environments").get(env_name)
    listed: list[str] = []
    no_default = False
    if isinstance(spec, list):
        listed = [f for f in spec if isinstance(f, str)]
    elif isinstance(spec, Mapping):
        features = spec.get("features")
        listed = [f for f in features if isinstance(f, str)] if isinstance(features, list) else []
        no_default = spec.get("no-default-feature") is True
    tables = [] if no_default else [workspace]
    tables += [table(workspace, "feature", f) for f in listed]
    return tables


def _selectors() -> tuple[str, ...]:
    machine = platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        machine, machine
    )
    return ("unix", "linux", f"linux-{arch}")


def _activation_tables(feature: Table) -> list[Table]:
    tables = [table(feature, "activation")]
    tables += [table(feature, "target", s, "activation") for s in _selectors()]
    return tables


def _activation_env(features: list[Table], manifest: Path) -> tuple[list[Export], list[str]]:
    """``[activation.env]`` as assignments: pixi exports each value in a shell, so ``$NAME``
    in a value is the variable's value."""
    env: dict[str, str] = {}
    for feature in features:
        for activation in _activation_tables(feature):
            values = table(activation, "env")
            env.update({k: v for k, v in values.items() if isinstance(v, str)})
    exports: list[Export] = []
    notes: list[str] = []
    for key, value in env.items():
        try:
            exports.append((key, double_quoted_template(value)))
        except NotStatic as why:
            notes.append(f"{key} of [activation.env] in {manifest} was not set: it {why}.")
    return exports, notes


def _activation_scripts(features: list[Table]) -> list[str]:
    scripts: list[str] = []
    for feature in features:
        for activation in _activation_tables(feature):
            listed = activation.get("scripts")
            if isinstance(listed, list):
                scripts += [
                    s for s in listed if isinstance(s, str) and s.endswith((".sh", ".bash"))
                ]
    return scripts
