"""The settings the core reads, as plain values (see :mod:`.config` for where they come from).

The core never sees traitlets: the server's and the command line's configuration
is turned into one :class:`Settings`, and everything below takes that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .choices import choice_probe
from .discovery import DEFAULT_NAMES, Locator
from .environments import Kind
from .locators import ToolOptions, project_locators
from .making.settings import MakingSettings
from .modules import ModuleSettings
from .slurm.options import SlurmOptions
from .trust import TrustPolicy, trusted_only

__all__ = ["OnMissing", "OnUnusable", "Settings"]


class OnUnusable(str, Enum):
    """What happens when the nearest environment cannot run a kernel."""

    FALLBACK = "fallback"  # an explaining kernel from the server's Python
    ERROR = "error"  # the session start fails with the explanation
    WARN = "warn"  # the server's Python, with a warning in the log


class OnMissing(str, Enum):
    """What runs when the nearest project declares an environment that is not made yet."""

    NOTICE = "notice"  # the server's Python, and the notebook told at its first execution
    FALLBACK = "fallback"  # the explaining kernel: only '!' commands run
    ERROR = "error"  # the session start fails with the explanation


@dataclass(frozen=True)
class Settings:
    """Everything the launch decision depends on besides the request itself."""

    environment_names: tuple[str, ...] = DEFAULT_NAMES
    stop_directory: Path | None = None
    on_unusable: OnUnusable = OnUnusable.FALLBACK
    extra_locators: tuple[Locator, ...] = field(default=())
    trust: TrustPolicy = field(default_factory=TrustPolicy.for_current_user)
    #: The kinds of environment looked for (None: every kind; see :mod:`.locators`).
    environment_kinds: frozenset[Kind] | None = None
    #: Where the tool locators look besides the tools' own files.
    tools: ToolOptions = field(default_factory=ToolOptions)
    #: How the environment modules an environment declares are loaded.
    modules: ModuleSettings = field(default_factory=ModuleSettings)
    #: Whether the server's Python can run the explaining fallback kernel (has ipykernel);
    #: without it, ``fallback`` acts as ``error``.
    fallback_available: bool = True
    #: Whether an environment of the home directory itself (``~/.venv``) may serve the
    #: notebooks under home that have no nearer one (see :mod:`.resolver`).
    home_environment: bool = False
    #: The deployment's Slurm options (``c.ProjectKernels.slurm``; see :mod:`.slurm`).
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    #: What runs for a project whose declared environment is not made (and not being made).
    on_missing: OnMissing = OnMissing.NOTICE
    #: Whether and how declared environments are made (``create_environments``).
    making: MakingSettings = field(default_factory=MakingSettings)

    def locators(self, *, choices: bool = False) -> list[Locator]:
        """The locators consulted at each level, in order of precedence.

        Each is wrapped in the trust policy, so that every environment found (walked,
        pinned, listed, or named by a project) carries an ``untrusted`` problem when it
        may not run. ``choices``: the walk's, where what a project names comes first
        (:mod:`.choices`); a scan lists what is there, not what projects name.
        """
        choose = choice_probe(self.environment_kinds) if choices else None
        found = [
            *project_locators(
                self.environment_names, self.environment_kinds, self.tools, choose=choose
            ),
            *self.extra_locators,
        ]
        return [trusted_only(locate, self.trust) for locate in found]
