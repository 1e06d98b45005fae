"""The server extension that makes a Jupyter server project-aware with no other configuration.

``project-kernels enable`` turns it on in ``jupyter_server_config.d``, the only
place such a drop-in file can act: those files are read for
``jpserver_extensions`` alone, so they cannot set ``kernel_spec_manager_class``.
The link hook does it instead: ``ServerApp.initialize`` links extensions before
``init_configurables`` creates the kernel spec manager from that class.
"""

from __future__ import annotations

import os
from typing import Any

from .names import EXTENSION_MODULE, LABEXTENSION_NAME
from .validation import check_server_configuration

# jupyter_server finds the extension's hooks by their (underscored) names.
__all__: list[str] = []


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION_MODULE}]


def _link_jupyter_server_extension(serverapp: Any) -> None:
    """Select :class:`ProjectKernelSpecManager` unless the configuration chose another one.

    The settings of project-kernels are checked here, before anything reads them:
    a wrong one is logged and left at its default, and the server starts.
    """
    from jupyter_server.gateway.gateway_client import GatewayClient

    from .kernelspec import ProjectKernelSpecManager

    if not serverapp.trait_has_value("kernel_spec_manager_class"):
        # Reading the trait would compute its default, which needs the gateway's settings.
        if GatewayClient.instance(parent=serverapp).gateway_enabled:
            serverapp.log.info("project-kernels: kernels run on a gateway; nothing to do here")
            return
        serverapp.kernel_spec_manager_class = ProjectKernelSpecManager
        check_server_configuration(serverapp, spec_manager=ProjectKernelSpecManager)
        return
    chosen = serverapp.kernel_spec_manager_class
    check_server_configuration(serverapp, spec_manager=chosen if isinstance(chosen, type) else None)
    if not (isinstance(chosen, type) and issubclass(chosen, ProjectKernelSpecManager)):
        serverapp.log.warning(
            "project-kernels: ServerApp.kernel_spec_manager_class is set to %s by your "
            "configuration, so python3 is not project-aware. To combine both, subclass "
            "project_kernels.ProjectKernelSpecManager, or set JUPYTER_DEFAULT_PROVISIONER_NAME"
            "=project-kernels in the server's environment.",
            _class_name(chosen),
        )


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Serve the REST API the status bar reads, and say in the log what is in force."""
    from .handlers import routes
    from .kernelspec import ProjectKernelSpecManager
    from .slurm import handlers as slurm

    serverapp.web_app.add_handlers(".*$", routes(serverapp.web_app.settings["base_url"]))
    slurm.load(serverapp)
    manager = getattr(serverapp, "kernel_spec_manager", None)
    if isinstance(manager, ProjectKernelSpecManager):
        serverapp.log.info(
            "project-kernels: notebooks' python3 kernels launch from their project environments"
        )
    if not labextension_installed():
        serverapp.log.warning(
            "project-kernels: the JupyterLab extension (the environment in the status bar) is "
            "not installed: this copy was probably built without Node.js. Kernels still launch "
            "from their project environments. To get it, install Node.js 18 or newer and "
            "install project-kernels again."
        )


def labextension_installed() -> bool:
    """Whether JupyterLab finds this package's prebuilt extension."""
    from jupyter_core.paths import jupyter_path

    return any(
        os.path.isfile(os.path.join(directory, LABEXTENSION_NAME, "package.json"))
        for directory in jupyter_path("labextensions")
    )


def _class_name(cls: Any) -> str:
    if isinstance(cls, type):
        return f"{cls.__module__}.{cls.__qualname__}"
    return str(cls)
