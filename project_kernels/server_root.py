"""The directory a server's kernels walk within: its root, unless it was started on one notebook.

The walk never leaves the root a server serves. But a server started on one
notebook (``voila nb/report.ipynb``, ``jupyter lab nb/report.ipynb``) takes that
notebook's own directory as its root, chosen by the tool rather than by anyone:
bounded there, the walk would never reach the project's environment one level up,
which ``project-kernels which`` names. Such a server's kernels walk as outside a
server: up to ``stop_directory``, else the home directory, else ``/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .discovery import normalize

__all__ = ["started_on", "walk_root"]

#: The attributes that name the one file an application was started on: Voila's
#: ``notebook_path``, jupyter_server's ``file_to_run``.
_STARTED_ON = ("notebook_path", "file_to_run")


def walk_root(kernel_manager: Any) -> Path | None:
    """The root the walk stays within for kernels of ``kernel_manager`` (a server's).

    None outside a server, and for a server started on one notebook whose root is
    that notebook's directory.
    """
    root = getattr(kernel_manager, "root_dir", None)
    if not root:
        return None
    root_path = normalize(root)
    notebook = started_on(getattr(kernel_manager, "parent", None))
    if notebook is not None and notebook.parent == root_path:
        return None
    return root_path


def started_on(app: Any) -> Path | None:
    """The notebook ``app`` (a server application) was started on, if any."""
    for attribute in _STARTED_ON:
        value = getattr(app, attribute, None)
        if isinstance(value, str) and value and os.path.isfile(value):
            return normalize(value)
    return None
