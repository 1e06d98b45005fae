"""Checking project-kernels' settings where they are first read, in one line each.

A wrong value (``c.ProjectKernels.environment_names = 5``) would otherwise surface
late: as a 500 at the first notebook's start, or a traceback from the command
line. A misspelt name (``c.ProjectKernels.environment_name``) would be ignored.
So when a server starts (the extension's link hook, or the spec manager's
creation), and when the command line reads the configuration, every entry of the
``ProjectKernels``, ``ProjectKernelSpecManager`` and ``ProjectKernelProvisioner``
sections is checked against the classes' own traits: a wrong value is reported
with the setting, the value and the file it came from, and taken out of the
configuration so that the setting keeps its default and the server keeps running;
a name that is no setting is reported with the closest real name.

Nothing here names a setting: every trait of the classes is checked, so settings
added later are checked too. A setting whose default would be the wrong answer to a
mistake (``c.ProjectKernels.slurm``: kernels would run where the jobs would have run
them) is tagged ``keep_when_invalid=True``: it is reported and kept, and what reads it
refuses with the same explanation.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from traitlets import HasTraits, TraitError, TraitType
from traitlets.config import Application, Config
from traitlets.config.loader import (
    DeferredConfig,
    JSONFileConfigLoader,
    LazyConfigValue,
    PyFileConfigLoader,
)

__all__ = [
    "SECTIONS",
    "SettingProblem",
    "check_configuration",
    "check_server_configuration",
    "discard",
    "find_problems",
    "with_sources",
]

#: The configuration sections of project-kernels' own classes.
SECTIONS = ("ProjectKernels", "ProjectKernelSpecManager", "ProjectKernelProvisioner")
#: Where a setting came from when no file set it.
COMMAND_LINE = "the command line"
#: How much of a wrong value a message shows.
_SHOWN_VALUE = 60
_TRAIT_PREFIX = re.compile(r"^The (?:value of the )?'[^']*' trait of an? \w+ instance ")


@dataclass(frozen=True)
class SettingProblem:
    """One entry of a checked section that cannot take effect as written."""

    section: str
    name: str
    value: Any
    #: What is wrong with the value; empty for a name that is no setting.
    error: str = ""
    #: The setting's default, shown as in a configuration file.
    default: str = ""
    #: The closest setting's name, for a name that is no setting.
    suggestion: str = ""
    #: The file that set it (or "the command line"); empty when unknown.
    source: str = ""
    #: Kept in the configuration (the trait's ``keep_when_invalid``) rather than discarded.
    kept: bool = False

    @property
    def unknown(self) -> bool:
        """Whether the name is no setting of the section's class."""
        return not self.error

    def message(self) -> str:
        """One line for the log or the terminal."""
        where = f" in {self.source}" if self.source else ""
        setting = f"c.{self.section}.{self.name}"
        if self.unknown:
            hint = f"did you mean {self.suggestion}? " if self.suggestion else ""
            return (
                f"{setting}{where} is not a setting of {self.section}; {hint}It is ignored "
                "(the README's Configuration lists every setting)."
            )
        shown = _one_line(repr(self.value))
        if len(shown) > _SHOWN_VALUE:
            shown = shown[: _SHOWN_VALUE - 3] + "..."
        outcome = (
            "It is kept: what needs it refuses to start until it is fixed."
            if self.kept
            else f"The default, {self.default}, is used instead."
        )
        return f"{setting} = {shown}{where} is not valid: {self.error} {outcome}"


def find_problems(
    config: Config,
    classes: Mapping[str, type[HasTraits]],
    *,
    unknown_names: Collection[str] | None = None,
) -> list[SettingProblem]:
    """The entries of ``config`` that the sections' classes cannot take.

    ``classes`` maps each section to the class whose traits it sets. Names that are
    no trait are reported only for the sections in ``unknown_names`` (all by default):
    a class standing in for a larger one knows only part of its settings.
    """
    problems: list[SettingProblem] = []
    for section, cls in classes.items():
        if section not in config or not isinstance(config[section], Mapping):
            continue
        traits = cls.class_traits(config=True)
        for name, value in config[section].items():
            trait = traits.get(name)
            if trait is not None:
                error = _invalid(cls, trait, value)
                if error:
                    default = _one_line(trait.default_value_repr())
                    kept = bool(trait.metadata.get("keep_when_invalid"))
                    problems.append(SettingProblem(section, name, value, error, default, kept=kept))
            elif unknown_names is None or section in unknown_names:
                close = difflib.get_close_matches(name, list(traits), n=1)
                problems.append(SettingProblem(section, name, value, suggestion="".join(close)))
    return problems


def _invalid(cls: type[HasTraits], trait: TraitType[Any, Any], value: Any) -> str:
    """Why ``value`` cannot be ``trait``'s value; empty when it can."""
    # An instance without __init__: only the trait machinery, never the class's own work.
    instance = cls.__new__(cls)
    try:
        if isinstance(value, DeferredConfig):
            value = value.get_value(trait)
        elif isinstance(value, LazyConfigValue):
            value = value.get_value(trait.default())
        trait._validate(instance, value)
    except TraitError as error:
        text = _one_line(_TRAIT_PREFIX.sub("it ", str(error)))
        return text if text.endswith(".") else text + "."
    except Exception:
        # A class's own validator that needs a fully made instance: leave it to the class.
        return ""
    return ""


def with_sources(
    problems: Sequence[SettingProblem],
    files: Sequence[str],
    command_line: Config | None = None,
) -> list[SettingProblem]:
    """``problems`` with the file that set each one (the last one read that does).

    The files are read again, so only when there is something to report.
    """
    if not problems:
        return []
    configs = [(path, _read(path)) for path in files]
    located = []
    for problem in problems:
        source = ""
        if command_line is not None and _sets(command_line, problem):
            source = COMMAND_LINE
        else:
            for path, config in reversed(configs):
                if config is not None and _sets(config, problem):
                    source = path
                    break
        located.append(replace(problem, source=source))
    return located


def _read(path: str) -> Config | None:
    loader_class = JSONFileConfigLoader if path.endswith(".json") else PyFileConfigLoader
    try:
        loaded: Config = loader_class(os.path.basename(path), os.path.dirname(path)).load_config()
    except Exception:
        return None
    return loaded


def _sets(config: Config, problem: SettingProblem) -> bool:
    section = config.get(problem.section)
    return isinstance(section, Mapping) and problem.name in section


def discard(config: Config, problems: Sequence[SettingProblem]) -> None:
    """Take the entries of ``problems`` out of ``config``: each setting keeps its default."""
    for problem in problems:
        section = config.get(problem.section)
        if not problem.kept and isinstance(section, dict) and problem.name in section:
            del section[problem.name]


#: The configurations checked so far (by identity; gone with them).
_CHECKED: weakref.WeakValueDictionary[int, Config] = weakref.WeakValueDictionary()


def check_configuration(
    config: Config,
    classes: Mapping[str, type[HasTraits]],
    report: Callable[[SettingProblem], None],
    *,
    files: Sequence[str] = (),
    command_line: Config | None = None,
    unknown_names: Collection[str] | None = None,
) -> list[SettingProblem]:
    """Check ``config`` once, ``report`` each problem in one line, and discard them.

    A configuration object already checked is not checked again: the server's is
    shared by the extension, the spec manager and every provisioner.
    """
    if _CHECKED.get(id(config)) is config:
        return []
    _CHECKED[id(config)] = config
    problems = find_problems(config, classes, unknown_names=unknown_names)
    problems = with_sources(problems, files, command_line)
    for problem in problems:
        report(problem)
    discard(config, problems)
    return problems


def check_server_configuration(
    owner: Any, config: Config | None = None, *, spec_manager: type[HasTraits] | None = None
) -> None:
    """Check the configuration of the server (or nbconvert, papermill run) ``owner`` is part of.

    ``owner`` is the server application, or the parent of a spec manager or a
    provisioner about to be made; ``config`` what that reads (default: ``owner``'s);
    ``spec_manager`` the server's spec manager class when it is a subclass of ours.
    Wrong values are logged as errors, unknown names as warnings, on ``owner``'s log.
    """
    from .config import ProjectKernels
    from .kernelspec import ProjectKernelSpecManager
    from .provisioner import ProjectKernelProvisioner

    config = config if config is not None else getattr(owner, "config", None)
    if not isinstance(config, Config):
        return
    if spec_manager is None or not issubclass(spec_manager, ProjectKernelSpecManager):
        spec_manager = ProjectKernelSpecManager
    classes: dict[str, type[HasTraits]] = {
        "ProjectKernels": ProjectKernels,
        "ProjectKernelSpecManager": spec_manager,
        "ProjectKernelProvisioner": ProjectKernelProvisioner,
    }
    app = _application(owner)
    log = getattr(owner, "log", None) or getattr(app, "log", None) or logging.getLogger(__name__)

    def report(problem: SettingProblem) -> None:
        (log.warning if problem.unknown else log.error)("project-kernels: %s", problem.message())

    check_configuration(
        config,
        classes,
        report,
        files=list(getattr(app, "loaded_config_files", None) or []),
        command_line=getattr(app, "cli_config", None),
    )


def _application(owner: Any) -> Any:
    """The application ``owner`` belongs to: its parents', else the running one."""
    current = owner
    while current is not None:
        if isinstance(current, Application):
            return current
        current = getattr(current, "parent", None)
    return Application.instance() if Application.initialized() else None


def _one_line(text: str) -> str:
    return " ".join(text.split())
