"""Build the JupyterLab extension while the Python package builds, when Node.js is there.

hatch-jupyter-builder calls :func:`build` (``[tool.hatch.build.hooks.jupyter-builder]``
in ``pyproject.toml``) for every wheel, sdist and editable install. It runs the
template's ``npm_builder`` (``jlpm install`` and the build script, with the machine's
Node.js and packages from the npm registry). Without Node.js the package is built
without the extension, and says so: kernels launch exactly as with it, only
JupyterLab and Notebook 7 show no environment (the server's log says so too).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from typing import Any

from hatch_jupyter_builder import npm_builder

NO_FRONTEND = (
    "project-kernels: {missing} not found, so the JupyterLab extension (the notebook's "
    "environment in the status bar) is not built. The package works without it. To get it, "
    "install Node.js 18 or newer and install project-kernels again."
)
#: What each program is, for the warning.
PROGRAMS = {
    "node": "Node.js (node)",
    "jlpm": "jlpm (from jupyter-builder, which needs Python 3.10 or newer)",
}


def build(target_name: str, version: str, **kwargs: Any) -> None:
    """``npm_builder``, or a warning and nothing when Node.js or jlpm is missing."""
    missing = [what for name, what in PROGRAMS.items() if shutil.which(name) is None]
    if missing:
        message = NO_FRONTEND.format(missing=" and ".join(missing))
        logging.getLogger(__name__).warning(message)
        warnings.warn(message, stacklevel=2)
        return
    npm_builder(target_name, version, **kwargs)
