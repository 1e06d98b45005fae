"""The kernel spec manager that makes the ``python3`` kernel project-aware.

Kernel specs take no path, so the spec stays path-independent: it only names
the provisioner, which decides per launch. The notebook's saved kernel name
stays ``python3``, so notebooks open unchanged where project-kernels is absent.
"""

from __future__ import annotations

from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from traitlets import List, Unicode

from .resolver import is_ipykernel_command

PROVISIONER_NAME = "project-kernels"


class ProjectKernelSpecManager(KernelSpecManager):
    """Hands out the usual kernel specs, with the Python ones launched by project-kernels.

    Enable with ``c.ServerApp.kernel_spec_manager_class =
    "project_kernels.ProjectKernelSpecManager"``.
    """

    project_kernel_names = List(
        Unicode(),
        default_value=["python3"],
        help="""Kernel spec names made project-aware. Specs that do not start ipykernel,
        or that already name a provisioner, are never changed.""",
    ).tag(config=True)

    display_name = Unicode(
        "",
        help="""Display name of the project-aware kernels in the launcher and kernel picker.
        Empty: keep each spec's own (for python3, "Python 3 (ipykernel)").""",
    ).tag(config=True)

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """The spec from the base class (a fresh object), made project-aware where it applies."""
        spec = super().get_kernel_spec(kernel_name)
        if kernel_name.lower() in {n.lower() for n in self.project_kernel_names}:
            make_project_aware(spec, self.display_name)
        return spec

    def get_all_specs(self) -> dict[str, Any]:
        """All specs, as the base class lists them, with the project-aware ones marked."""
        specs: dict[str, Any] = super().get_all_specs()
        names = {n.lower() for n in self.project_kernel_names}
        for name, entry in specs.items():
            if name.lower() in names:
                spec = KernelSpec(resource_dir=entry["resource_dir"], **entry["spec"])
                make_project_aware(spec, self.display_name)
                entry["spec"] = spec.to_dict()
        return specs


def make_project_aware(spec: KernelSpec, display_name: str = "") -> None:
    """Name project-kernels as ``spec``'s provisioner, keeping all other metadata."""
    if not is_ipykernel_command(spec.argv, spec.language or ""):
        return
    metadata = dict(spec.metadata or {})
    if "kernel_provisioner" in metadata:
        return
    metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER_NAME, "config": {}}
    spec.metadata = metadata
    if display_name:
        spec.display_name = display_name
