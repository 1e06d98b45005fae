"""The names other tools know project-kernels by, and what a Python kernelspec looks like.

Kept in one place, free of Jupyter imports, so that the spec manager, ``enable``
and the command line all write and recognise the same things.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "DIAGNOSIS_VARIABLE",
    "EXTENSION_MODULE",
    "INSTRUCTIONS_VARIABLE",
    "IPYKERNEL_ARGV",
    "LABEXTENSION_NAME",
    "MAKING_VARIABLE",
    "NATIVE_KERNEL",
    "PROVISIONER_NAME",
    "PROVISIONER_VARIABLE",
    "SHELL_PYTHONPATH_VARIABLE",
    "is_ipykernel_command",
    "names_provisioner",
    "provisioner_stanza",
]

#: The entry point in ``jupyter_client.kernel_provisioners``.
PROVISIONER_NAME = "project-kernels"
#: The kernel name notebooks are saved with; it stays the same with project-kernels.
NATIVE_KERNEL = "python3"
#: The key under ``ServerApp.jpserver_extensions`` (users' ``config.d`` files name it).
EXTENSION_MODULE = "project_kernels.extension"
#: The JupyterLab extension's directory under ``share/jupyter/labextensions``.
LABEXTENSION_NAME = "project-kernels"
#: The variable jupyter_client reads for the provisioner of kernelspecs that name none.
PROVISIONER_VARIABLE = "JUPYTER_DEFAULT_PROVISIONER_NAME"
#: The variable that carries the diagnosis to the fallback kernel.
DIAGNOSIS_VARIABLE = "PROJECT_KERNELS_DIAGNOSIS"
#: The variable that tells the kernel making an environment what it makes (JSON).
MAKING_VARIABLE = "PROJECT_KERNELS_MAKING"
#: Where that kernel reads what to show and what to become (set by the provisioner).
INSTRUCTIONS_VARIABLE = "PROJECT_KERNELS_INSTRUCTIONS"
#: Where the fallback kernel finds the PYTHONPATH meant for its shell commands.
SHELL_PYTHONPATH_VARIABLE = "PROJECT_KERNELS_SHELL_PYTHONPATH"
#: ipykernel's own ``python3`` command (``python`` is replaced by the server's interpreter).
IPYKERNEL_ARGV: tuple[str, ...] = ("python", "-m", "ipykernel_launcher", "-f", "{connection_file}")


def provisioner_stanza(environment: str = "") -> dict[str, Any]:
    """``metadata.kernel_provisioner`` of a kernelspec that launches through project-kernels.

    ``environment`` pins the kernelspec to one environment directory (the picker's).
    """
    config = {"environment": environment} if environment else {}
    return {"provisioner_name": PROVISIONER_NAME, "config": config}


def names_provisioner(metadata: Any) -> bool:
    """Whether a kernelspec's ``metadata`` names project-kernels as its provisioner."""
    stanza = (metadata or {}).get("kernel_provisioner") if isinstance(metadata, dict) else None
    return isinstance(stanza, dict) and stanza.get("provisioner_name") == PROVISIONER_NAME


def is_ipykernel_command(argv: Sequence[str], language: str) -> bool:
    """Whether a kernelspec launches ipykernel, the only kind this package re-targets."""
    if not language.lower().startswith("python") or not argv:
        return False
    modules = {argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-m"}
    return bool(modules & {"ipykernel_launcher", "ipykernel"})
