"""conda environments: inside the project (``conda create -p ./.conda``), and the named
environment a project's ``environment.yml`` asks for, found where conda would look.

Nothing runs conda: the environments directories come from ``CONDA_ENVS_PATH``,
the ``envs_dirs`` of the ``.condarc`` files, the usual installation places and
``~/.conda/environments.txt`` (where conda records every environment it makes).

Activation is what ``conda activate`` does on a first activation: ``CONDA_PREFIX``,
``CONDA_DEFAULT_ENV`` (the name for an environment in an ``envs`` directory, else
its path), ``CONDA_SHLVL=1``, ``CONDA_PROMPT_MODIFIER``, the environment's ``bin``
first on ``PATH``; then the variables of ``etc/conda/env_vars.d/*.json`` and of
``conda env config vars set`` (``conda-meta/state``); then the
``etc/conda/activate.d/*.sh`` scripts that only set variables (see :mod:`.shell`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ..declarations import Declaration
from ..discovery import Candidate
from ..environments import Environment, Kind, NotAnEnvironment
from .base import Context, Level, declared, yaml_value
from .prefix import inspect_prefix
from .shell import Export, read_script

#: conda's value meaning "unset this variable" in ``conda env config vars``.
UNSET = "***unset***"
ENVIRONMENT_FILES = ("environment.yml", "environment.yaml")
#: Where conda is usually installed, when no variable says (their ``envs`` hold named envs).
USUAL_ROOTS = (
    "~/miniforge3",
    "~/mambaforge",
    "~/miniconda3",
    "~/anaconda3",
    "~/micromamba",
    "/opt/conda",
    "/opt/miniforge3",
    "/opt/miniconda3",
    "/opt/anaconda3",
)


def is_conda_prefix(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a conda environment (it has ``conda-meta/``): one ``stat``."""
    return os.path.isdir(os.path.join(path, "conda-meta"))


def locate_in_project(level: Level, context: Context) -> Iterator[Candidate]:
    """conda environments in the project's own directories (``.conda``, ``env``)."""
    for name in context.options.conda_directories:
        if is_conda_prefix(os.path.join(level.path, name)):
            root = level.directory / name
            yield conda_candidate(
                root, f"conda environment in the directory {name!r} nearest the notebook"
            )


def locate_named(level: Level, context: Context) -> Iterator[Candidate]:
    """The named environment of the project's ``environment.yml``, where conda keeps it."""
    for file_name in ENVIRONMENT_FILES:
        if level.has_file(file_name):
            yield from _named_from(level.directory / file_name, context)
            return


def _named_from(spec: Path, context: Context) -> Iterator[Candidate]:
    try:
        text = spec.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    name = yaml_value(text, "name")
    prefix = yaml_value(text, "prefix")
    if not isinstance(name, str) or not name or "/" in name:
        return
    searched = envs_dirs(context)
    for directory in searched:
        root = directory / name
        if is_conda_prefix(root):
            yield conda_candidate(
                root,
                f"conda environment {name!r} named in {spec} (found in {directory})",
            )
            return
    for root in _recorded_environments(context, name, prefix):
        yield conda_candidate(
            root,
            f"conda environment {name!r} named in {spec} (recorded in ~/.conda/environments.txt)",
        )
        return
    root = searched[0] / name if searched else spec.parent / name
    yield declared(
        root,
        Declaration(
            kind=Kind.CONDA,
            project=spec.parent,
            declared_by=f"{spec.name} naming the environment {name!r}",
            command=("conda", "env", "create", "-f", spec.name),
            environment=root,
            creates=tuple(str(d / name) for d in searched),
            files=(spec,),
        ),
    )


def _recorded_environments(context: Context, name: str, prefix: object) -> Iterator[Path]:
    recorded: list[str] = []
    with contextlib.suppress(OSError, UnicodeDecodeError):
        recorded = (context.home / ".conda" / "environments.txt").read_text().splitlines()
    if isinstance(prefix, str) and prefix:
        recorded.append(prefix)
    for line in recorded:
        root = context.expand(line.strip())
        if line.strip() and root.name == name and is_conda_prefix(root):
            yield root


def envs_dirs(context: Context) -> list[Path]:
    """The directories holding named environments, in the order they are searched."""
    dirs: list[Path] = list(context.options.conda_envs_dirs)
    for variable in ("CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"):
        dirs += [context.expand(p) for p in context.environ.get(variable, "").split(":") if p]
    for condarc in condarc_files(context):
        dirs += [context.expand(p) for p in _condarc_envs_dirs(condarc)]
    for root in root_prefixes(context):
        dirs.append(root / "envs")
    dirs.append(context.home / ".conda" / "envs")
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique


def condarc_files(context: Context) -> list[Path]:
    """conda's configuration files, user's first (their ``envs_dirs`` come first)."""
    files: list[Path] = []
    condarc = context.path_variable("CONDARC")
    if condarc is not None:
        files.append(condarc)
    files += [
        context.home / ".condarc",
        context.home / ".conda" / ".condarc",
        context.home / ".conda" / "condarc",
        context.user_config_dir / "conda" / ".condarc",
        context.user_config_dir / "conda" / "condarc",
    ]
    conda_root = context.path_variable("CONDA_ROOT")
    if conda_root is not None:
        files += [conda_root / ".condarc", conda_root / "condarc"]
    files += [Path("/etc/conda/.condarc"), Path("/etc/conda/condarc")]
    files += [Path("/var/lib/conda/.condarc"), Path("/var/lib/conda/condarc")]
    return files


def _condarc_envs_dirs(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    for key in ("envs_dirs", "envs_path"):
        value = yaml_value(text, key)
        if isinstance(value, list):
            return value
        if isinstance(value, str) and value:
            return [value]
    return []


def root_prefixes(context: Context) -> list[Path]:
    """conda (or mamba) installations, from the variables their shell hooks set, else the
    usual places (only those that exist)."""
    roots: list[Path] = []
    for variable in ("CONDA_ROOT", "MAMBA_ROOT_PREFIX"):
        root = context.path_variable(variable)
        if root is not None:
            roots.append(root)
    conda_exe = context.path_variable("CONDA_EXE")
    if conda_exe is not None:
        roots.append(conda_exe.parent.parent)
    roots += [r for r in (context.expand(u) for u in USUAL_ROOTS) if is_conda_prefix(r)]
    return roots


def default_env_name(root: Path) -> str:
    """``CONDA_DEFAULT_ENV`` as conda sets it: the name of an environment in an ``envs``
    directory, else its path."""
    return root.name if root.parent.name == "envs" else str(root)


@dataclass(frozen=True)
class Activation:
    """What activating a conda-style environment adds, beyond ``PATH`` and ``CONDA_PREFIX``."""

    exports: tuple[Export, ...] = ()
    notes: tuple[str, ...] = ()


def conda_activation(root: Path) -> Activation:
    """The variables of ``env_vars.d``/``conda-meta/state``, then of the ``activate.d`` scripts."""
    exports: list[Export] = []
    for name, value in environment_variables(root).items():
        exports.append((name, None if value == UNSET else value.replace("$", "$$")))
    scripts = activate_scripts(root)
    script_exports, notes = scripts_exports(scripts)
    return Activation(tuple(exports + script_exports), tuple(notes))


def scripts_exports(scripts: list[Path]) -> tuple[list[Export], list[str]]:
    """The assignments of the scripts that only assign, and a note for each other one."""
    exports: list[Export] = []
    notes: list[str] = []
    for path in scripts:
        script = read_script(path)
        if script.refused is None:
            exports += script.exports
        else:
            notes.append(
                f"The activation script {path} was not applied: {script.refused}. "
                "Only scripts that just set variables are applied without a shell."
            )
    return exports, notes


def environment_variables(root: Path) -> dict[str, str]:
    """Variables packages declare (``etc/conda/env_vars.d``) overridden by the environment's
    own (``conda env config vars set``, kept in ``conda-meta/state``), in conda's order."""
    variables: dict[str, str] = {}
    package_dir = root / "etc" / "conda" / "env_vars.d"
    try:
        package_files = sorted(package_dir.iterdir())
    except OSError:
        package_files = []
    for path in package_files:
        variables.update(_json_strings(path))
    variables.update(_json_strings(root / "conda-meta" / "state", "env_vars"))
    return variables


def _json_strings(path: Path, key: str | None = None) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    if key is not None:
        data = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


def activate_scripts(root: Path) -> list[Path]:
    """``etc/conda/activate.d/*.sh`` in the order conda sources them (sorted by name)."""
    directory = root / "etc" / "conda" / "activate.d"
    try:
        return sorted(p for p in directory.iterdir() if p.name.endswith(".sh"))
    except OSError:
        return []


def inspect_conda(root: Path, kind: Kind = Kind.CONDA) -> Environment:
    """A conda-style environment with its activation (raises :class:`NotAnEnvironment`)."""
    environment = inspect_prefix(root, kind)
    activation = conda_activation(root)
    return replace(
        environment,
        activation_exports=activation.exports,
        notes=activation.notes,
    )


def conda_candidate(root: Path, reason: str) -> Candidate:
    """The candidate for the conda environment at ``root``, chosen for ``reason``."""
    try:
        environment = inspect_conda(root)
    except NotAnEnvironment as skipped:
        return Candidate(root, skipped=str(skipped))
    name = default_env_name(root)
    variables = {"CONDA_DEFAULT_ENV": name, "CONDA_PROMPT_MODIFIER": f"({name}) "}
    return Candidate(
        root,
        environment=replace(environment, reason=reason, extra_variables=variables),
    )
