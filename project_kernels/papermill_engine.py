"""papermill's engine that tells the provisioner where the notebook is.

papermill starts the kernel with no working directory unless ``--cwd`` is given,
so ``papermill p/nb/report.ipynb out.ipynb`` run from ``/tmp`` would walk up from
``/tmp``. Its engines are plug-ins (the ``papermill.engine`` entry point group),
and an engine is given the input path: this one is papermill's own
``NBClientEngine`` that also hands the notebook's absolute path to
:class:`~.provisioner.ProjectKernelProvisioner` (as its ``notebook_path``, in the
configuration of the kernel manager it makes), so that the walk starts at the
notebook's directory. The kernel still runs where papermill runs it.

papermill loads the plug-ins when it starts; loading this one also makes it the
default engine (``--engine`` not given), unless another plug-in already replaced
papermill's. Where project-kernels is not the kernel's provisioner, the extra
configuration is read by nothing, and the run is papermill's own.
``--engine nbclient`` gives papermill's engine unchanged.
"""

from __future__ import annotations

import copy
import os
from typing import Any

from traitlets.config import Config

__all__ = ["ProjectKernelsEngine", "notebook_path"]

try:
    from papermill.engines import NBClientEngine as _PapermillEngine
    from papermill.engines import papermill_engines as _engines
except ImportError:  # a papermill without them: the entry point still loads, and does nothing
    _PapermillEngine = object
    _engines = None


def notebook_path(input_path: Any) -> str | None:
    """The absolute path of papermill's input notebook, when it is a local file.

    A relative path is relative to where papermill was started, which papermill's
    local file handler keeps (the engine runs after ``--cwd`` changed directory).
    """
    if not isinstance(input_path, str) or not input_path or "://" in input_path:
        return None
    base = os.getcwd()
    try:
        from papermill.iorw import papermill_io

        base = getattr(papermill_io.get_handler(input_path), "_cwd", None) or base
    except Exception:  # a handler papermill does not know: the working directory
        pass
    path = os.path.abspath(os.path.join(base, os.path.expanduser(input_path)))
    return path if os.path.isfile(path) else None


class ProjectKernelsEngine(_PapermillEngine):  # type: ignore[misc]
    """papermill's ``NBClientEngine``, telling the provisioner where the notebook is."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        """Run the notebook as papermill does, with ``notebook_path`` for the provisioner."""
        notebook = notebook_path(kwargs.get("input_path"))
        if notebook is not None:
            config = Config(copy.deepcopy(kwargs.get("config") or {}))
            config.ProjectKernelProvisioner.notebook_path = notebook
            kwargs["config"] = config
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


def _become_the_default() -> None:
    """Replace papermill's default engine, unless something else replaced it already."""
    try:
        if _engines is not None and _engines.get_engine(None) is _PapermillEngine:
            _engines.register(None, ProjectKernelsEngine)
    except Exception:  # papermill must start whatever this finds
        pass


_become_the_default()
