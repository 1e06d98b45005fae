"""Environments planted as files: what discovery and inspection read, made in microseconds.

Pure tests of the walk, the resolver and the decision need an environment only as
files (``pyvenv.cfg``, ``bin/python``, an ipykernel ``dist-info``); the launch tests
build real ones with the real tools (see ``envfactory``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def plant_venv(
    path: Path,
    *,
    ipykernel: str | None = "7.1.0",
    uv: bool = False,
    interpreter: str | None = None,
) -> Path:
    """A venv as files at ``path``: its ``bin/python`` links to this interpreter.

    ``ipykernel`` None plants none; ``interpreter`` is the text of a script to use
    as ``bin/python`` instead (a Python that starts and fails, say).
    """
    site = path / "lib" / f"python{PYTHON}" / "site-packages"
    site.mkdir(parents=True)
    (path / "bin").mkdir()
    home = Path(sys.base_prefix) / "bin"
    lines = [f"home = {home}", "include-system-site-packages = false", f"version = {PYTHON}.0"]
    if uv:
        lines.append("uv = 0.5.0")
    (path / "pyvenv.cfg").write_text("\n".join(lines) + "\n")
    python = path / "bin" / "python"
    if interpreter is None:
        python.symlink_to(os.path.realpath(sys.executable))
    else:
        python.write_text(interpreter)
        python.chmod(0o755)
    if ipykernel is not None:
        (site / f"ipykernel-{ipykernel}.dist-info").mkdir()
    return python
