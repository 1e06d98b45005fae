"""Where the tools that make environments are, as the server would run them.

A tool is looked for, in order: at the path ``c.ProjectKernels.tool_paths`` gives
it; for conda, at ``CONDA_EXE``; on the server's ``PATH``; next to the server's
Python; and for uv, in the ``uv`` package from PyPI (``project-kernels[uv]``), so
that a hub image needs nothing else. Only the file system is consulted.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["find_tool", "uv_from_package"]


def find_tool(name: str, tool_paths: Mapping[str, str], environ: Mapping[str, str]) -> Path | None:
    """The program ``name`` as the server would run it; None when it is nowhere."""
    configured = tool_paths.get(name, "")
    if configured:
        path = Path(os.path.expanduser(configured))
        return path if _runnable(path) else None
    if name == "conda" and environ.get("CONDA_EXE"):
        path = Path(environ["CONDA_EXE"])
        if _runnable(path):
            return path
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    if found is not None:
        return Path(found)
    beside = Path(sys.executable).parent / name
    if _runnable(beside):
        return beside
    return uv_from_package() if name == "uv" else None


def uv_from_package() -> Path | None:
    """uv's program from the ``uv`` distribution on PyPI, when it is installed here."""
    try:
        from uv import find_uv_bin
    except ImportError:
        return None
    try:
        return Path(find_uv_bin())
    except (FileNotFoundError, OSError):
        return None


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
