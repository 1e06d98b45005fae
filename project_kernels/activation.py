"""The kernel's process environment, built as a shell's ``activate`` would build it.

Setting ``VIRTUAL_ENV`` and putting the environment's ``bin`` first on ``PATH``
is what makes ``!pip install x`` and ``!uv pip install x`` in a cell install
into the notebook's environment rather than the server's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .environments import Environment, Kind
from .kinds.shell import expand

__all__ = [
    "STALE_VARIABLES",
    "activated",
    "deactivated",
]

#: Variables that describe the *server's* environment and would mislead the kernel's.
STALE_VARIABLES: tuple[str, ...] = (
    "VIRTUAL_ENV",
    "VIRTUAL_ENV_PROMPT",
    "PYTHONHOME",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CONDA_PROMPT_MODIFIER",
    "CONDA_SHLVL",
    "CONDA_PYTHON_EXE",
    "PIXI_PROJECT_ROOT",
    "PIXI_PROJECT_NAME",
    "PIXI_PROJECT_MANIFEST",
    "PIXI_PROJECT_VERSION",
    "PIXI_ENVIRONMENT_NAME",
    "PIXI_ENVIRONMENT_PLATFORMS",
    "PIXI_PROMPT",
    "PIXI_IN_SHELL",
    "PIXI_EXE",
    # What `pipenv run`, `pdm run`, `hatch run`, `poetry shell` and `pyenv activate` add.
    "PIPENV_ACTIVE",
    "PIPENV_PROJECT_DIR",
    "PDM_PROJECT_ROOT",
    "PDM_RUN_CWD",
    "HATCH_ENV_ACTIVE",
    "POETRY_ACTIVE",
    "PYENV_VIRTUAL_ENV",
)


def deactivated(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any activated environment: stale variables and their ``bin`` on PATH."""
    stale_bins = {
        os.path.join(base[name], "bin")
        for name in ("VIRTUAL_ENV", "CONDA_PREFIX")
        if base.get(name)
    }
    env = {k: v for k, v in base.items() if k not in STALE_VARIABLES and not k.startswith("PIXI_")}
    if "PATH" in env and stale_bins:
        env["PATH"] = os.pathsep.join(
            entry for entry in env["PATH"].split(os.pathsep) if entry not in stale_bins
        )
    return env


def activated(environment: Environment, base: Mapping[str, str]) -> dict[str, str]:
    """The variables a kernel from ``environment`` runs with, starting from ``base``."""
    env = deactivated(base)
    bin_dir = str(environment.bin_dir)
    path = env.get("PATH", os.defpath)
    env["PATH"] = os.pathsep.join([bin_dir, *(p for p in path.split(os.pathsep) if p != bin_dir)])
    if environment.kind in (Kind.CONDA, Kind.PIXI):
        env["CONDA_PREFIX"] = str(environment.root)
        env["CONDA_DEFAULT_ENV"] = str(environment.root)
        env["CONDA_SHLVL"] = "1"
    elif environment.kind is not Kind.PYENV:
        env["VIRTUAL_ENV"] = str(environment.root)
        env["VIRTUAL_ENV_PROMPT"] = environment.root.name
    env.update(environment.extra_variables)
    for name, template in environment.activation_exports:
        if template is None:
            env.pop(name, None)
        else:
            env[name] = expand(template, env)
    return env
