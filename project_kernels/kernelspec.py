"""The kernel spec manager that makes the ``python3`` kernel project-aware.

Kernel specs take no path, so the spec stays path-independent: it only names
the provisioner, which decides per launch. The notebook's saved kernel name
stays ``python3``, so notebooks open unchanged where project-kernels is absent.

With ``list_environments`` on, the environments under the server's root are
listed as well (see :mod:`.picker`), each pinned to its environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
from jupyter_client.provisioning.factory import KernelProvisionerFactory

from .adapter_options import SpecManagerOptions
from .discovery import normalize
from .names import (
    IPYKERNEL_ARGV,
    NATIVE_KERNEL,
    PROVISIONER_NAME,
    is_ipykernel_command,
    provisioner_stanza,
)
from .picker import NAME_PREFIX, EnvironmentListing, spec_for_name
from .validation import check_server_configuration

__all__ = ["ProjectKernelSpecManager", "make_project_aware"]


class ProjectKernelSpecManager(SpecManagerOptions, KernelSpecManager):
    """Hands out the usual kernel specs, with the Python ones launched by project-kernels.

    Enable with ``project-kernels enable`` (a server extension selects this class), or
    ``c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"``.
    Its settings are declared in :class:`~.adapter_options.SpecManagerOptions`.
    """

    _listing: EnvironmentListing | None = None
    _model_cache: tuple[object, dict[str, dict[str, Any]]] | None = None

    def __init__(self, **kwargs: Any) -> None:
        # Before the configuration is applied: a wrong value must not stop the server.
        parent = kwargs.get("parent")
        check_server_configuration(
            parent, kwargs.get("config") or getattr(parent, "config", None), spec_manager=type(self)
        )
        super().__init__(**kwargs)
        listing = self.listing()
        if listing is not None:
            listing.refresh()  # so that the first request finds it done

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        """The spec from the base class (a fresh object), made project-aware where it applies."""
        if kernel_name.startswith(NAME_PREFIX):
            listed = self._listed_spec(kernel_name)
            if listed is not None:
                return listed
        spec = super().get_kernel_spec(kernel_name)
        if kernel_name.lower() in {n.lower() for n in self.project_kernel_names}:
            make_project_aware(spec, self.display_name)
        return spec

    async def get_all_specs(self) -> dict[str, Any]:  # type: ignore[override]
        """All specs, as the base class lists them, with the project-aware ones marked.

        With ``list_environments``, the environments from the listing's cache follow;
        only the very first call waits (asynchronously, at most a second) for a scan.
        """
        specs: dict[str, Any] = super().get_all_specs()
        names = {n.lower() for n in self.project_kernel_names}
        for name, entry in specs.items():
            if name.lower() in names:
                spec = KernelSpec(resource_dir=entry["resource_dir"], **entry["spec"])
                make_project_aware(spec, self.display_name)
                entry["spec"] = spec.to_dict()
        listing = self.listing()
        if listing is not None:
            await listing.first_scan(timeout=1.0)
            entries = listing.entries()
            # Every listed spec names the same provisioner: one check, not one per environment.
            if entries and self._available(next(iter(entries.values())).spec):
                for name, model in self._models(entries, listing.resource_dir).items():
                    if name not in specs:
                        specs[name] = {**model, "spec": dict(model["spec"])}
        return specs

    def _models(self, entries: dict[str, Any], resource_dir: str) -> dict[str, dict[str, Any]]:
        """The listed specs as jupyter_server's REST models, made once per scan.

        jupyter_server sends an entry with ``name``, ``spec`` and ``resources`` as it is (as
        it does a gateway's); any other it hands to a thread of its own to look for logos,
        which for a thousand environments holds its event loop up for a tenth of a second.
        ``resource_dir`` stays, for other callers.
        """
        cached = self._model_cache
        if cached is not None and cached[0] is entries:
            return cached[1]
        base = (getattr(self.parent, "base_url", "") or "/").rstrip("/")
        try:
            files = sorted(os.listdir(resource_dir)) if resource_dir else []
        except OSError:
            files = []
        wanted = [f for f in files if f in ("kernel.js", "kernel.css") or f.startswith("logo-")]
        models = {
            name: {
                "name": name,
                "spec": listed.spec,
                "resources": {
                    f if f.startswith("kernel.") else os.path.splitext(f)[0]: (
                        f"{base}/kernelspecs/{name}/{f}"
                    )
                    for f in wanted
                },
                "resource_dir": resource_dir,
            }
            for name, listed in entries.items()
        }
        self._model_cache = (entries, models)
        return models

    def listing(self) -> EnvironmentListing | None:
        """The environment listing, when ``list_environments`` is on inside a server."""
        if not self.list_environments:
            return None
        if self._listing is None:
            root = getattr(self.parent, "root_dir", None)
            if not root:
                return None
            self._listing = EnvironmentListing(
                normalize(root),
                self._scan_options,
                self._template,
                provisioner=PROVISIONER_NAME,
                max_depth=self.list_max_depth,
                max_directories=self.list_max_directories,
                refresh_interval=self.list_refresh_interval,
                exclude=[Path(sys.prefix)],
                log=self.log,
            )
        return self._listing

    def _scan_options(self) -> dict[str, Any]:
        """The ``ProjectKernels`` settings in force here, for the scanning process."""
        from .config import ProjectKernels

        settings = ProjectKernels(parent=self)
        return {name: getattr(settings, name) for name in settings.trait_names(config=True)}

    def _listed_spec(self, kernel_name: str) -> KernelSpec | None:
        """A listed kernel's spec; None when the finished listing has no such kernel.

        Right after the server starts, a notebook may name a listed kernel before the
        first scan is done. This runs on the event loop, so it never waits: the spec
        then names the kernel, and the provisioner waits for the scan off the loop.
        """
        listing = self.listing()
        if listing is None:
            return None
        listed = listing.lookup(kernel_name)
        if listed is not None:
            spec = listed.spec
        elif not listing.ready:
            spec = spec_for_name(kernel_name, self._template()[0], PROVISIONER_NAME)
        else:
            return None
        if not self._available(spec):
            raise NoSuchKernel(kernel_name)
        return KernelSpec(resource_dir=listing.resource_dir, **spec)

    def _available(self, spec: dict[str, Any]) -> bool:
        return bool(
            KernelProvisionerFactory.instance(parent=self.parent).is_provisioner_available(
                KernelSpec(**spec)
            )
        )

    def _template(self) -> tuple[dict[str, Any], str]:
        """python3's spec (stock, no provisioner) and resource dir, the model for listed ones."""
        try:
            # The base class also knows ipykernel's built-in python3, which has no kernel.json
            # on disk: "" as resource dir would make jupyter_server glob its cwd per spec.
            native = super().get_kernel_spec(NATIVE_KERNEL)
            directory, spec = native.resource_dir, native.to_dict()
        except (KeyError, OSError, ValueError):
            directory, spec = "", {}
        metadata = dict(spec.get("metadata") or {})
        metadata.pop("kernel_provisioner", None)
        argv = spec.get("argv") or []
        if not is_ipykernel_command(argv, str(spec.get("language") or "")):
            argv = list(IPYKERNEL_ARGV)
            metadata = {"debugger": True}
        spec = {**spec, "argv": argv, "metadata": metadata, "env": spec.get("env") or {}}
        return spec, directory


def make_project_aware(spec: KernelSpec, display_name: str = "") -> None:
    """Name project-kernels as ``spec``'s provisioner, keeping all other metadata.

    A spec that already names project-kernels (written by ``project-kernels enable``)
    still takes ``display_name``; one naming another provisioner is left alone.
    """
    if not is_ipykernel_command(spec.argv, spec.language or ""):
        return
    metadata = dict(spec.metadata or {})
    current = metadata.get("kernel_provisioner")
    if current is not None and current.get("provisioner_name") != PROVISIONER_NAME:
        return
    if current is None:
        metadata["kernel_provisioner"] = provisioner_stanza()
        spec.metadata = metadata
    if display_name:
        spec.display_name = display_name
