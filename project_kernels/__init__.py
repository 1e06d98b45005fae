"""Run every notebook's kernel in the project environment next to it.

The public names: :class:`ProjectKernelProvisioner` (entry point ``project-kernels``
in ``jupyter_client.kernel_provisioners``) and :class:`ProjectKernelSpecManager`.
Both are imported lazily so that the pure layers stay importable without Jupyter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ProjectKernelProvisioner", "ProjectKernelSpecManager", "__version__"]

if TYPE_CHECKING:
    from .kernelspec import ProjectKernelSpecManager
    from .provisioner import ProjectKernelProvisioner


def __getattr__(name: str) -> Any:
    if name == "ProjectKernelProvisioner":
        from .provisioner import ProjectKernelProvisioner

        return ProjectKernelProvisioner
    if name == "ProjectKernelSpecManager":
        from .kernelspec import ProjectKernelSpecManager

        return ProjectKernelSpecManager
    raise AttributeError(name)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where ``jupyter labextension develop`` finds the built JupyterLab extension."""
    return [{"src": "labextension", "dest": "project-kernels"}]
