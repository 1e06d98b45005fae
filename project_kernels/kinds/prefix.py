"""Inspection of a Python installation that is not a venv: a conda or pixi environment,
a pyenv version. Like :func:`~project_kernels.environments.inspect_venv`, from files only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from packaging.version import Version

from ..environments import (
    Environment,
    Kind,
    NotAnEnvironment,
    base_site_packages,
    find_distribution_version,
    interpreter_problems,
    parse_python_version,
)

_CONDA_PYTHON_RECORD = re.compile(r"^python-(\d+\.\d+(?:\.\d+)?)-.*\.json$")


def inspect_prefix(root: Path, kind: Kind) -> Environment:
    """The environment whose interpreter is ``root/bin/python``.

    Raises :class:`NotAnEnvironment` when there is no Python there (a conda
    environment made for R, say); problems are attached as for a venv.
    """
    interpreter = root / "bin" / "python"
    if not os.path.lexists(interpreter):
        if not os.path.lexists(root / "bin" / "python3"):
            raise NotAnEnvironment("has no bin/python (an environment without Python)")
        interpreter = root / "bin" / "python3"
    version = _conda_python_version(root) or _lib_python_version(root)
    ipykernel = None
    if version is not None:
        ipykernel = find_distribution_version("ipykernel", base_site_packages(root, version))
    environment = Environment(
        root=root,
        kind=kind,
        interpreter=interpreter,
        python_version=version,
        ipykernel_version=ipykernel,
    )
    return environment.with_problems(*interpreter_problems(environment))


def _conda_python_version(root: Path) -> Version | None:
    """The version in conda's record of the installed ``python`` package."""
    try:
        names = os.listdir(root / "conda-meta")
    except OSError:
        return None
    for name in names:
        match = _CONDA_PYTHON_RECORD.match(name)
        if match:
            return parse_python_version(match.group(1))
    return None


def _lib_python_version(root: Path) -> Version | None:
    try:
        names = sorted(os.listdir(root / "lib"))
    except OSError:
        return None
    for name in names:
        if name.startswith("python") and (root / "lib" / name / "os.py").exists():
            version = parse_python_version(name.removeprefix("python"))
            if version is not None:
                return version
    return None
