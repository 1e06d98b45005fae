"""Environments without pip (uv's): ``!pip`` and ``%pip`` in a cell still act on them.

A uv environment has no pip. In its kernel ``!pip install x`` would run some
other Python's pip and install there, and ``%pip install x`` (IPython runs
``sys.executable -m pip``) fails with ``No module named pip``. So every kernel
from an environment gets the server's own tools right after the environment's
``bin`` on ``PATH`` (which also lets the fix commands the fallback kernel prints,
``uv pip install ...``, run from a cell), and a kernel from an environment without
pip also gets:

- ``PIP_PYTHON`` naming the environment's interpreter: pip (22.3 or newer) reads
  every option from ``PIP_<OPTION>``, and ``--python`` makes it act on that
  interpreter's environment, so ``!pip install`` and ``!pip uninstall`` do;
- ``PYTHONSTARTUP`` naming :mod:`project_kernels.startup.pipless`, which IPython
  runs when the kernel starts: it makes ``%pip`` run the server's pip for the
  environment, then runs the ``PYTHONSTARTUP`` that was set before, if any.

Only files are looked at (one ``stat`` for ``bin/pip``); nothing runs.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

from .environments import Environment
from .making.tools import uv_from_package

__all__ = ["PIP_VARIABLE", "STARTUP_FILE", "server_tool_dirs", "with_server_tools"]

#: Run by IPython at kernel start in environments without pip.
STARTUP_FILE = Path(__file__).resolve().parent / "startup" / "pipless.py"
#: The interpreter whose pip ``%pip`` runs (the server's).
PIP_VARIABLE = "PROJECT_KERNELS_PIP"
#: The ``PYTHONSTARTUP`` that was set before ours, run after it.
CHAINED_STARTUP_VARIABLE = "PROJECT_KERNELS_PYTHONSTARTUP"


@functools.lru_cache(maxsize=1)
def server_tool_dirs() -> tuple[str, ...]:
    """The server's own program directories: its Python's ``bin`` (pip, jupyter, and uv
    when installed with ``project-kernels[uv]``) and where the uv package keeps uv.

    Looked up once per process: they do not move while the server runs.
    """
    dirs = [str(Path(sys.executable).parent)]
    uv = uv_from_package()
    if uv is not None and str(uv.parent) not in dirs:
        dirs.append(str(uv.parent))
    return tuple(dirs)


def with_server_tools(env: dict[str, str], environment: Environment | None) -> dict[str, str]:
    """``env`` (activated for ``environment``) with the server's tools reachable, and pip
    acting on the environment where it has no pip of its own. Without an environment
    (a kernel from the server's Python) the server's tools come first."""
    entries = env.get("PATH", os.defpath).split(os.pathsep)
    bin_dir = str(environment.bin_dir) if environment is not None else None
    first = entries[:1] if entries and entries[0] == bin_dir else []
    added = [d for d in server_tool_dirs() if d not in entries]
    env["PATH"] = os.pathsep.join([*first, *added, *entries[len(first) :]])
    # os.path.exists: an environment you may not read (explained elsewhere) has no pip here.
    if environment is not None and not os.path.exists(environment.bin_dir / "pip"):
        env["PIP_PYTHON"] = str(environment.interpreter)
        env[PIP_VARIABLE] = sys.executable
        previous = env.get("PYTHONSTARTUP", "")
        if previous and previous != str(STARTUP_FILE):
            env[CHAINED_STARTUP_VARIABLE] = previous
        env["PYTHONSTARTUP"] = str(STARTUP_FILE)
    return env
