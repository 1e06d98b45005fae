"""The settings of the spec manager and the provisioner, declared apart from those classes.

``ProjectKernelSpecManager`` and ``ProjectKernelProvisioner`` subclass
jupyter_client's classes, which the command line does not import (that would
double its start-up time). Their own settings are declared here, in plain
configurables they inherit from, so that the command line can read and check
``c.ProjectKernelSpecManager.*`` and ``c.ProjectKernelProvisioner.*`` as the
server does (see :mod:`.validation`).
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import Config, Configurable, LoggingConfigurable

__all__ = ["ProvisionerOptions", "SpecManagerOptions", "section_options"]


class SpecManagerOptions(LoggingConfigurable):
    """The settings of :class:`~.kernelspec.ProjectKernelSpecManager`."""

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

    list_environments = Bool(
        False,
        help="""Also list the environments found under the server's root in the kernel
        picker, as "analysis/.venv · Python 3.12", each launching exactly that environment.
        Found by a bounded scan in the background, never while a request waits.""",
    ).tag(config=True)

    list_max_depth = Int(
        4, min=0, help="""How many directory levels below the root the listing scans."""
    ).tag(config=True)

    list_max_directories = Int(
        10_000, min=1, help="""How many directories one scan for the listing visits at most."""
    ).tag(config=True)

    list_refresh_interval = Float(
        60.0,
        min=0.0,
        help="""Seconds after which the listing is scanned again (in the background; requests
        meanwhile get the previous listing).""",
    ).tag(config=True)


class ProvisionerOptions(LoggingConfigurable):
    """The settings of :class:`~.provisioner.ProjectKernelProvisioner`."""

    startup_grace = Float(
        10.0,
        min=0.0,
        help="""A kernel from an environment that exits within this many seconds of starting
        is examined before the restart: if its interpreter cannot import ipykernel, the
        restart brings up the explaining fallback kernel instead of looping.""",
    ).tag(config=True)

    notebook_path = Unicode(
        "",
        help="""The notebook being run, where the launch itself does not say (papermill passes
        no working directory): the walk starts at its directory. Set by project-kernels'
        papermill engine for each run; not a setting for configuration files.""",
    ).tag(config=True)


def section_options(cls: type[Configurable], config: Config, section: str) -> Any:
    """An instance of ``cls`` configured by ``config``'s ``section`` (named after another class).

    How the command line reads ``c.ProjectKernelSpecManager.*`` without that class.
    """
    own = Config()
    if section in config:
        own[cls.__name__] = config[section]
    return cls(config=own)
