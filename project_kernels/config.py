"""The traitlets configuration shared by the provisioner, the spec manager and the CLI.

Set in ``jupyter_server_config.py`` as ``c.ProjectKernels.<trait> = ...``; the
command line reads the same files, so it reports what the server would do.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, TraitError, Unicode, validate
from traitlets.config import Config, LoggingConfigurable

from .discovery import DEFAULT_NAMES
from .environments import Kind
from .locators import ToolOptions
from .making.settings import DEFAULT_TIMEOUT, MakingSettings
from .modules import DEFAULT_INIT_FILES, ModuleSettings
from .settings import OnMissing, OnUnusable, Settings
from .slurm.options import SlurmOptions, SlurmOptionsError, parse_options
from .trust import TrustPolicy
from .warm.settings import WarmSettings

__all__ = ["ConfigFileError", "ProjectKernels", "load_config", "load_config_files", "settings_for"]


class ProjectKernels(LoggingConfigurable):
    """Where project-kernels looks for environments and what it does when one cannot run."""

    environment_names = List(
        Unicode(),
        default_value=list(DEFAULT_NAMES),
        help="""Directory names that hold a project's environment, looked for in the
        notebook's directory and each directory above it; earlier names win at one level.""",
    ).tag(config=True)

    stop_directory = Unicode(
        "",
        help="""The highest directory the walk visits when not running inside a Jupyter
        server (whose root directory is always the limit). Empty: the user's home for
        notebooks inside it, else the file system's root.""",
    ).tag(config=True)

    home_environment = Bool(
        False,
        help="""Whether an environment in the home directory itself (~/.venv, or a tool's
        environment for a pyproject.toml, Pipfile or .python-version there) serves the
        notebooks under home that have no environment nearer to them. Off: it would capture
        every such notebook, and one made by accident (a `uv venv` run in ~) would take
        them all over; project directories' environments are always used.""",
    ).tag(config=True)

    on_unusable = Enum(
        [mode.value for mode in OnUnusable],
        default_value=OnUnusable.FALLBACK.value,
        help="""When the nearest environment cannot run a kernel: 'fallback' starts a kernel
        from the server's Python that explains the problem in the notebook and still runs
        '!' shell commands; 'error' fails the start with the same explanation; 'warn' runs
        the server's Python with a warning in the log.""",
    ).tag(config=True)

    environment_kinds = List(
        Enum([kind.value for kind in Kind]),
        default_value=[kind.value for kind in Kind],
        help="""The kinds of environment looked for: venv, virtualenv, uv (the directories
        of environment_names), conda, pixi, poetry, pipenv, pdm, hatch, pyenv. At one level
        they are tried in the order the README's "Environments it finds" gives.""",
    ).tag(config=True)

    conda_directories = List(
        Unicode(),
        default_value=list(ToolOptions().conda_directories),
        help="""Directory names, inside a project, that hold a conda environment made with
        `conda create -p` (found when they contain conda-meta/).""",
    ).tag(config=True)

    conda_envs_dirs = List(
        Unicode(),
        default_value=[],
        help="""Directories holding named conda environments, searched before conda's own
        (CONDA_ENVS_PATH, envs_dirs of .condarc, <conda>/envs, ~/.conda/envs) for the name an
        environment.yml gives.""",
    ).tag(config=True)

    pixi_environment = Unicode(
        ToolOptions().pixi_environment,
        help="""The pixi environment notebooks run in: .pixi/envs/<name> of the workspace.""",
    ).tag(config=True)

    def tool_options(self) -> ToolOptions:
        """Where the tool locators look besides the tools' own files."""
        return ToolOptions(
            conda_directories=tuple(self.conda_directories),
            conda_envs_dirs=tuple(Path(p).expanduser() for p in self.conda_envs_dirs),
            pixi_environment=self.pixi_environment,
        )

    def kinds(self) -> frozenset[Kind] | None:
        """The kinds looked for; None when every kind is."""
        kinds = frozenset(Kind(value) for value in self.environment_kinds)
        return None if kinds == frozenset(Kind) else kinds

    module_command = Unicode(
        "",
        help="""The module system's command (`lmod` or `modulecmd`) used to load the environment
        modules an environment declares. Empty: found as a login shell finds it, from LMOD_CMD,
        MODULES_CMD or MODULESHOME, else by sourcing the first of module_init_files.""",
    ).tag(config=True)

    module_init_files = List(
        Unicode(),
        default_value=list(DEFAULT_INIT_FILES),
        help="""Shell files that set up the module system at login, sourced in this order when
        the server's environment has no LMOD_CMD, MODULES_CMD or MODULESHOME.""",
    ).tag(config=True)

    module_cache_dir = Unicode(
        "",
        help="""Where computed module environments are cached (per user). Empty:
        $XDG_CACHE_HOME/project-kernels/modules, else ~/.cache/project-kernels/modules.""",
    ).tag(config=True)

    module_timeout = Float(
        60.0,
        help="""Seconds a module load may take before the kernel start gives up on it.""",
    ).tag(config=True)

    def module_settings(self) -> ModuleSettings:
        """How environment modules are loaded (see :mod:`.modules`)."""
        return ModuleSettings(
            command=os.path.expanduser(self.module_command) if self.module_command else "",
            init_files=tuple(self.module_init_files),
            cache_dir=Path(self.module_cache_dir).expanduser() if self.module_cache_dir else None,
            timeout=self.module_timeout,
        )

    trusted_owners = List(
        Unicode(),
        default_value=[],
        help="""Users (names or uids) whose environments may run, besides the server's user
        and root. Trusting a user lets them run code as everyone who opens a notebook below
        their environment.""",
    ).tag(config=True)

    trusted_groups = List(
        Unicode(),
        default_value=[],
        help="""Groups (names or gids) whose members' environments may run, and which may
        have write access to them: for environments shared by a project group. The user's
        own private group (same name, no other members) is always trusted.""",
    ).tag(config=True)

    trusted_paths = List(
        Unicode(),
        default_value=[],
        help="""Directories below which environments are not checked for ownership or
        permissions (for example a centrally managed /opt/envs). ['/'] turns the checks off.""",
    ).tag(config=True)

    on_missing = Enum(
        [mode.value for mode in OnMissing],
        default_value=OnMissing.NOTICE.value,
        help="""When the nearest project declares an environment that has not been made (a
        uv.lock with no .venv, a Pipfile before `pipenv install`, ...) and it is not made
        automatically: 'notice' runs the notebook in the server's Python, as stock Jupyter
        would, and tells the notebook at its first execution which environment is missing and
        the command that makes it; 'fallback' starts the explaining kernel, which runs only '!'
        shell commands; 'error' fails the start with the explanation.""",
    ).tag(config=True)

    create_environments = Bool(
        False,
        help="""Make a project's declared environment with the project's own tool (`uv sync`,
        `pixi install`, `poetry install`, `pdm install`, `pipenv install`, `hatch env create`,
        `conda env create`) when one of its notebooks opens, add ipykernel to environments
        that lack it, and make the environment a notebook's inline script metadata (PEP 723)
        declares. The notebook shows the tool's output while it happens. Never for a project
        or tool that the trust settings refuse.""",
    ).tag(config=True)

    create_timeout = Float(
        DEFAULT_TIMEOUT,
        help="""Seconds one build of an environment may take before it is stopped.""",
    ).tag(config=True)

    inline_cache_dir = Unicode(
        "",
        help="""Where the environments of notebooks' inline script metadata are kept (per
        user). Empty: $XDG_CACHE_HOME/project-kernels/inline, else
        ~/.cache/project-kernels/inline.""",
    ).tag(config=True)

    inline_cache_max = Int(
        10,
        help="""How many inline environments are kept; the least recently used beyond are
        removed.""",
    ).tag(config=True)

    tool_paths = Dict(
        value_trait=Unicode(),
        default_value={},
        help="""Programs that make environments, by name, where they are not on the server's
        PATH: for example {"pixi": "/opt/pixi/bin/pixi", "conda": "/opt/conda/bin/conda"}.
        uv is also found in the uv package (pip install 'project-kernels[uv]').""",
    ).tag(config=True)

    def making_settings(self) -> MakingSettings:
        """Whether and how declared environments are made (see :mod:`.making`)."""
        return MakingSettings(
            enabled=self.create_environments,
            timeout=self.create_timeout,
            inline_cache_dir=(
                Path(self.inline_cache_dir).expanduser() if self.inline_cache_dir else None
            ),
            inline_cache_max=self.inline_cache_max,
            tool_paths=dict(self.tool_paths),
        )

    def trust_policy(self) -> TrustPolicy:
        """The trust policy, warning about configured names that match no user or group."""
        policy = TrustPolicy.for_current_user(
            self.trusted_owners, self.trusted_groups, self.trusted_paths
        )
        for name in policy.unresolved:
            self.log.warning("project-kernels: no user or group named %r (ignored)", name)
        return policy

    warm_kernels = Int(
        0,
        min=0,
        help="""Warm kernels per environment: once a kernel from a project environment has
        started, keep this many more of it started in the background (ipykernel and IPython
        imported, at the lowest CPU priority), so that the next notebook there gets its
        kernel at once. Each holds the memory of an idle kernel (about 70 MB). 0: off.""",
    ).tag(config=True)

    warm_kernels_max = Int(
        4,
        min=0,
        help="""The most warm kernels one server keeps, over all environments; the
        least recently used environment gives up its warm kernels first.""",
    ).tag(config=True)

    warm_idle_timeout = Float(
        600.0,
        min=0.0,
        help="""Seconds after which a warm kernel that no notebook took is stopped.""",
    ).tag(config=True)

    def warm_settings(self) -> WarmSettings:
        """The warm kernels a server keeps (see :mod:`.warm`)."""
        return WarmSettings(self.warm_kernels, self.warm_kernels_max, self.warm_idle_timeout)

    slurm = Dict(
        default_value={},
        help="""Kernels as Slurm jobs (see the README's "Kernels as Slurm jobs"). With
        "enabled": True every project environment's kernel runs as a job; otherwise these
        are the defaults for environments whose project-kernels.toml has a [slurm] table.
        Keys: enabled, partition, time, account, cpus, memory, sbatch_args, srun_args,
        queue_timeout, command_timeout, poll_interval, job_directory.""",
        # A mistyped Slurm setting must not run kernels where the jobs would have run them.
    ).tag(config=True, keep_when_invalid=True)

    @validate("slurm")
    def _valid_slurm(self, proposal: Any) -> dict[str, Any]:
        try:
            parse_options(proposal["value"], "c.ProjectKernels.slurm", deployment=True)
        except SlurmOptionsError as error:
            raise TraitError(str(error)) from error
        return dict(proposal["value"])

    def slurm_options(self) -> SlurmOptions:
        """The deployment's Slurm options (checked when the setting was read)."""
        return parse_options(self.slurm, "c.ProjectKernels.slurm", deployment=True)

    def settings(self) -> Settings:
        """The resolver's view of this configuration."""
        return Settings(
            trust=self.trust_policy(),
            environment_names=tuple(self.environment_names),
            stop_directory=Path(self.stop_directory).expanduser() if self.stop_directory else None,
            on_unusable=OnUnusable(self.on_unusable),
            environment_kinds=self.kinds(),
            tools=self.tool_options(),
            modules=self.module_settings(),
            fallback_available=importlib.util.find_spec("ipykernel") is not None,
            home_environment=self.home_environment,
            slurm=self.slurm_options(),
            on_missing=OnMissing(self.on_missing),
            making=self.making_settings(),
        )


def settings_for(parent: Any) -> Settings:
    """The settings seen from a configurable ``parent`` (a provisioner, an application)."""
    return ProjectKernels(parent=parent).settings()


def load_config(config_file: str | None = None) -> Config:
    """The configuration a Jupyter server would load here (plus ``config_file`` if given).

    Read by the command line, so that it reports what the server would do.
    """
    return load_config_files(config_file)[0]


class ConfigFileError(Exception):
    """A configuration file named on the command line that cannot be read."""


def load_config_files(
    config_file: str | None = None, log: logging.Logger | None = None
) -> tuple[Config, list[str]]:
    """:func:`load_config`, and the files it read, in the order read.

    A file on the Jupyter path that cannot be read is left out, as the server
    leaves it out, with one line on ``log``; ``config_file`` must be readable
    (:class:`ConfigFileError` says why not).
    """
    from jupyter_core.paths import jupyter_config_dir, jupyter_config_path
    from traitlets.config.application import Application
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    # What jupyter_core's JupyterApp.load_config_file reads, in its order (the user's
    # directory first), without importing jupyter_core.application: it brings asyncio,
    # a fifth of a `which`.
    paths = jupyter_config_path()
    if jupyter_config_dir() not in paths:
        paths.insert(0, jupyter_config_dir())
    one_line = _OneLineLog(log or logging.getLogger(__name__))
    config = Config()
    files: list[str] = []
    for base in ("jupyter_config", "jupyter_server_config"):
        for loaded, name in Application._load_config_files(base, path=paths, log=one_line):
            config.merge(loaded)
            if name not in files:
                files.append(name)
    if config_file:
        path = os.path.abspath(config_file)
        cls = JSONFileConfigLoader if path.endswith(".json") else PyFileConfigLoader
        if not os.path.isfile(path):
            raise ConfigFileError(f"the configuration file {config_file} does not exist")
        try:
            config.merge(cls(os.path.basename(path), os.path.dirname(path)).load_config())
        except Exception as error:
            raise ConfigFileError(
                f"the configuration file {config_file} cannot be read: {_exception_line(error)}"
            ) from error
        files.append(path)
    return config, files


class _OneLineLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A log that says a configuration file's error in one line, without its traceback."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        info = kwargs.pop("exc_info", None)
        if info and level >= logging.ERROR:
            error = sys.exc_info()[1] if info is True else info
            msg = f"{msg} (left out, as the server leaves it out): %s"
            args = (*args, _exception_line(error))
        super().log(level, msg, *args, **kwargs)


def _exception_line(error: object) -> str:
    """``SyntaxError: invalid syntax (line 3)``: the error, in one line."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
