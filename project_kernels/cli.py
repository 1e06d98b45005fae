"""``project-kernels`` (also ``jupyter project-kernels``): what launches, and why.

Reads the same traitlets configuration files as the server
(``jupyter_server_config.py``/``.json`` on the Jupyter config path) and asks the
same :func:`~.decision.decide`, so that it reports what the server would do.
Each command module registers its subcommands with a ``register(subparsers, common)``
function; none of ``which``, ``doctor`` and ``list`` imports jupyter_client.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from traitlets import HasTraits
from traitlets.config import Config

from . import __version__, cli_fix, cli_modules, enabling
from .adapter_options import ProvisionerOptions, SpecManagerOptions, section_options
from .config import ConfigFileError, ProjectKernels, load_config_files
from .decision import LaunchMode, LaunchPlan, decide
from .discovery import Candidate, Scan, Walk, is_within, normalize, scan
from .environments import Environment
from .inline import InlineScript, read_inline
from .names import IPYKERNEL_ARGV, NATIVE_KERNEL
from .picker import NAME_PREFIX, kernel_name
from .probe import probe, startup_problem
from .report import PROBLEM_LABELS, describe, sanitize, show
from .resolver import HOME_SKIPPED, LaunchRequest
from .schema import candidate_json, choice_json, environment_json, plan_json, with_schema
from .settings import OnUnusable, Settings
from .slurm.report import commands_found, missing_commands, slurm_json, slurm_lines
from .validation import SettingProblem, check_configuration

__all__ = ["build_parser", "main", "wrap_for_terminal"]


class UsageError(Exception):
    """A command line that cannot be answered; the message says why (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that says what is wrong in one line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


#: The classes whose configuration sections the command line reads and checks. The
#: spec manager's and the provisioner's settings are their own, without jupyter_client's
#: (see :mod:`.adapter_options`), so only ``ProjectKernels`` names are checked as names.
CHECKED_SECTIONS: dict[str, type[HasTraits]] = {
    "ProjectKernels": ProjectKernels,
    "ProjectKernelSpecManager": SpecManagerOptions,
    "ProjectKernelProvisioner": ProvisionerOptions,
}


def read_configuration(config_file: str | None) -> Config:
    """The server's configuration; what cannot take effect is said in one line on stderr.

    Wrong values are left out (their settings keep their defaults), as the server
    leaves them out.
    """
    log = logging.getLogger("project_kernels.cli")
    for earlier in list(log.handlers):  # main() may run more than once, with another stderr
        log.removeHandler(earlier)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("project-kernels: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.WARNING)
    try:
        config, files = load_config_files(config_file, log)
    except ConfigFileError as error:
        raise UsageError(str(error)) from error

    kept: list[SettingProblem] = []

    def report(problem: SettingProblem) -> None:
        if problem.kept:
            kept.append(problem)
        else:
            log.warning("%s", problem.message())

    check_configuration(
        config, CHECKED_SECTIONS, report, files=files, unknown_names={"ProjectKernels"}
    )
    if kept:
        # The server refuses what needs such a setting; there is nothing else to report.
        raise UsageError(kept[0].message())
    return config


def root_from(config: Config, override: str | None) -> Path | None:
    """The server root the CLI assumes: ``--root-dir``, else ``ServerApp.root_dir`` if set."""
    root = override or config.get("ServerApp", {}).get("root_dir")
    if not root:
        return None
    path = normalize(root)
    if not path.is_dir():
        where = "--root-dir" if override else "ServerApp.root_dir in the configuration"
        raise UsageError(f"the server's root {show(root)} ({where}) is not a directory")
    return path


def existing(path: str) -> Path:
    """``path``, normalised, when it exists; else a :class:`UsageError` saying why not."""
    if not path:
        raise UsageError("the path is empty: give a notebook or a directory")
    target = normalize(path)
    try:
        os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{show(path)} does not exist") from None
    except OSError as error:
        raise UsageError(f"{show(path)} cannot be looked at: {error.strerror}") from None
    return target


def start_directory(path: str) -> Path:
    """A notebook's directory, or the directory itself.

    A notebook not made yet (``new.ipynb``) is answered for where its directory exists;
    anything else must exist.
    """
    if path.endswith(".ipynb") and not os.path.lexists(normalize(path)):
        directory = normalize(path).parent
        if not directory.is_dir():
            raise UsageError(f"{show(path)} does not exist, nor does its directory")
        return directory
    target = existing(path)
    return target if target.is_dir() else target.parent


def pinned_environment(name: str, config: Config, root: Path | None) -> Path | None:
    """The environment a kernel called ``name`` is pinned to; None for a walking kernel.

    Listed kernels (``project-...``) are found as the kernel picker names them, by a
    scan of the server's root with the picker's bounds.
    """
    picker = section_options(SpecManagerOptions, config, "ProjectKernelSpecManager")
    walking = {n.lower() for n in picker.project_kernel_names}
    if name.lower() in walking:
        return None
    if not name.startswith(NAME_PREFIX):
        raise UsageError(
            f"{name!r} is not a kernel project-kernels launches (those are "
            f"{', '.join(sorted(walking))} and the picker's {NAME_PREFIX}... kernels)."
        )
    if root is None:
        raise UsageError(f"--kernel {name} needs the server's root: pass --root-dir")
    settings = ProjectKernels(config=config).settings()
    result = scan(
        root,
        settings.locators(),
        max_depth=picker.list_max_depth,
        max_directories=picker.list_max_directories,
    )
    for candidate in result.candidates:
        if candidate.environment is None or not is_within(candidate.path, root):
            continue
        if kernel_name(candidate.path.relative_to(root).as_posix()) == name:
            return candidate.path
    raise UsageError(f"No environment under {show(root)} is listed as {name!r}.")


def _decision(args: argparse.Namespace) -> tuple[LaunchPlan, Settings, Path | None]:
    """What the server would launch for ``args.path`` (and ``--kernel``), as it would decide."""
    config = read_configuration(args.config)
    settings = ProjectKernels(config=config).settings()
    start = start_directory(args.path)
    root = root_from(config, args.root_dir)
    if root is not None and not is_within(start, root):
        if args.root_dir:
            raise UsageError(
                f"{show(args.path)} is outside the server's root {show(root)}: a server with "
                "that root never walks from there. Give a path inside it, or another --root-dir."
            )
        print(
            f"project-kernels: {show(args.path)} is outside the server's root {show(root)} "
            "(ServerApp.root_dir): answering as for nbconvert and papermill, which have no root.",
            file=sys.stderr,
        )
        root = None
    target = normalize(args.path)
    request = LaunchRequest(
        cwd=str(start),
        # As the server says which notebook it is: its inline script metadata counts.
        session_name=str(target) if target.suffix == ".ipynb" and target.is_file() else None,
        root_dir=root,
        environment=pinned_environment(args.kernel, config, root),
        env=dict(os.environ),
    )
    return decide(request, settings), settings, root


def cmd_which(args: argparse.Namespace) -> int:
    """Print what would launch for a notebook or directory."""
    plan, _, root = _decision(args)
    environment = plan.environment
    walk = plan.walk
    argv = plan.command([sys.executable, *IPYKERNEL_ARGV[1:]])
    if args.json:
        _print_json(
            {
                "path": str(normalize(args.path)),
                "start": str(walk.start) if walk else None,
                "boundary": str(walk.boundary) if walk else None,
                "mode": plan.mode.value,
                "argv": [] if plan.mode is LaunchMode.ERROR else argv,
                "environment": environment_json(environment),
                "message": plan.message,
                "launch": plan_json(plan, root),
                "slurm": slurm_json(plan.slurm, commands_found()),
                "inline": _inline_json(plan, args.path),
                "chosen_by": choice_json(walk.chosen_by if walk else None, root),
            }
        )
    elif plan.mode is LaunchMode.MAKING:
        assert plan.making is not None
        print(f"Makes first: {sanitize(plan.making.what)}")
        for step in plan.making.steps:
            print(f"  {sanitize(step.shown)}")
        print("then launches the kernel there (the notebook shows the tools' output).")
    elif plan.declared is not None:
        print(plan.message)
        print(f"\nLaunches: {MODE_TEXT[plan.mode]}")
    elif environment is None:
        print(
            f"No project environment between {show(walk.start if walk else args.path)} and "
            f"{show(walk.boundary if walk else '/')}."
        )
        print(f"Launches the stock kernel: {show(sys.executable)}")
        _print_home_skipped(walk)
    elif plan.mode is LaunchMode.ENVIRONMENT:
        print(f"Launches: {show(environment.interpreter)}")
        print(f"Environment: {describe(environment)}")
        print(f"Kind: {environment.kind.value}")
        print(f"Chosen as the {sanitize(environment.reason)}.")
        _print_home_environment(walk)
        _print_notes(environment)
        _print_modules(environment)
        _print_slurm(plan)
    else:
        print(plan.message)
        print(f"\nKind: {environment.kind.value}, chosen as the {sanitize(environment.reason)}.")
        _print_home_environment(walk)
        print(f"Launches: {MODE_TEXT[plan.mode]}")
    _print_inline(plan, args.path)
    return _status(plan, environment)


def _status(plan: LaunchPlan, environment: Environment | None) -> int:
    """0 when the notebook gets (or is making) a working kernel of its project."""
    if plan.mode is LaunchMode.MAKING:
        return 0
    if plan.declared is not None:
        return 1
    return 0 if environment is None or environment.usable else 1


def _inline_json(plan: LaunchPlan, path: str) -> dict[str, Any] | None:
    script = plan.inline or _inline_of(path)
    if script is None:
        return None
    return {
        "dependencies": list(script.dependencies),
        "requires_python": script.requires_python,
        "error": script.error or None,
        "used": plan.inline is not None,
    }


def _inline_of(path: str) -> InlineScript | None:
    target = normalize(path)
    return read_inline(target) if target.is_file() else None


def _print_inline(plan: LaunchPlan, path: str) -> None:
    """Mention a notebook's own package declaration that is not used (making is off)."""
    if plan.inline is not None:
        return
    script = _inline_of(path)
    if script is not None:
        print(
            "Note: this notebook declares its own packages (a PEP 723 script block in its "
            "first code cell); they are not used: with c.ProjectKernels.create_environments "
            "= True it runs in an environment made from them."
        )


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print every directory the walk visited and every candidate's verdict."""
    plan, settings, root = _decision(args)
    walk = plan.walk
    environment = plan.environment
    if args.run and environment is not None and environment.usable:
        result = probe(environment, plan.env)
        if not result.ok:
            environment = environment.with_problems(startup_problem(environment, result))
    found = commands_found()
    slurm_ok = plan.slurm is None or not missing_commands(found)
    ok = _status(plan, environment) == 0 and slurm_ok
    if args.json:
        _print_json(
            {
                "path": str(normalize(args.path)),
                "start": str(walk.start) if walk else None,
                "boundary": str(walk.boundary) if walk else None,
                "visited": [str(p) for p in walk.visited] if walk else [],
                "candidates": [candidate_json(c) for c in walk.candidates] if walk else [],
                "chosen_by": choice_json(walk.chosen_by if walk else None, root),
                "environment": environment_json(environment),
                "slurm": slurm_json(plan.slurm, found),
                "ok": ok,
            }
        )
        return 0 if ok else 1
    if walk is None:
        print("Nothing to walk.")
        return 0
    print(f"Walked from {show(walk.start)} up to {show(walk.boundary)}:")
    by_dir: dict[Path, list[Candidate]] = {}
    for candidate in walk.candidates:
        by_dir.setdefault(candidate.level or candidate.path.parent, []).append(candidate)
    for directory in walk.visited:
        print(f"  {show(directory)}")
        for candidate in by_dir.get(directory, []):
            _print_candidate(candidate, directory)
    print()
    if environment is not None:
        _print_modules(environment)
        _print_slurm(plan)
    if plan.mode is LaunchMode.MAKING and plan.making is not None:
        print(f"Makes first: {sanitize(plan.making.what)}")
        for step in plan.making.steps:
            print(f"  {sanitize(step.shown)}")
    elif plan.declared is not None:
        print(f"Problem: {plan.declared.summary()}")
        print(f"Fix: {plan.declared.fix()}")
        print(
            f"\nWith on_missing={settings.on_missing.value!r} the notebook gets: "
            f"{MODE_TEXT[plan.mode]}"
        )
    elif environment is None:
        print(f"No environment found: the stock kernel ({show(sys.executable)}) launches.")
    elif environment.usable and not slurm_ok:
        print("NOT OK: the kernel cannot be submitted as a Slurm job from here (see above).")
    elif environment.usable:
        print(f"OK: the kernel launches from {show(environment.interpreter)}.")
        if not args.run:
            print("(Add --run to also start the interpreter and check that ipykernel imports.)")
    else:
        for problem in environment.problems:
            print(f"Problem: {sanitize(problem.summary)}")
            print(f"Fix: {sanitize(problem.fix)}")
        print(
            f"\nWith on_unusable={settings.on_unusable.value!r} the notebook gets: "
            f"{UNUSABLE_TEXT[settings.on_unusable]}"
        )
    return 0 if ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    """List the environments below a root."""
    config = read_configuration(args.config)
    settings = ProjectKernels(config=config).settings()
    picker = section_options(SpecManagerOptions, config, "ProjectKernelSpecManager")
    max_depth = picker.list_max_depth if args.max_depth is None else args.max_depth
    limit = picker.list_max_directories if args.max_directories is None else args.max_directories
    given = args.root or str(root_from(config, None) or os.getcwd())
    root = existing(given)
    if not root.is_dir():
        raise UsageError(
            f"{show(given)} is not a directory: list takes a directory to look below "
            "(which and doctor take a notebook)"
        )
    result = scan(root, settings.locators(), max_depth=max_depth, max_directories=limit)
    environments = [c for c in result.candidates if c.environment is not None]
    if args.json:
        _print_json(
            {
                "root": str(root),
                "truncated": result.truncated,
                "max_depth": max_depth,
                "max_directories": limit,
                "directories_seen": result.directories_seen,
                "depth_limited": [str(p) for p in result.depth_limited],
                "not_visited": result.not_visited,
                "environments": [candidate_json(c) for c in environments],
            }
        )
        return 0
    if not environments:
        print(f"No environments under {show(root)}.")
    for candidate in environments:
        assert candidate.environment is not None
        problems = candidate.environment.problems
        labels = (PROBLEM_LABELS.get(p.code, p.code.value) for p in problems)
        status = "unusable: " + ", ".join(labels)
        print(f"{describe(candidate.environment)}  [{status if problems else 'ok'}]")
    print()
    for line in scan_summary(result, limit):
        print(line)
    return 0


#: How many directories below the depth limit a summary names.
_EXAMPLES = 3


def scan_summary(result: Scan, max_directories: int) -> list[str]:
    """How deep a listing looked, and what it did not look at."""
    lines = [
        f"Looked at {counted(result.directories_seen, 'directory', 'directories')}, down to "
        f"{counted(result.max_depth, 'level', 'levels')} below {show(result.root)}; hidden "
        "directories, .git, node_modules, site-packages and the like are not entered."
    ]
    if result.depth_limited:
        shown = [show(p.relative_to(result.root)) for p in result.depth_limited[:_EXAMPLES]]
        more = ", ..." if len(result.depth_limited) > _EXAMPLES else ""
        below = counted(len(result.depth_limited), "directory", "directories")
        lines.append(
            f"Not looked at: what is below {below} at depth {result.max_depth} "
            f"({', '.join(shown)}{more}); raise --max-depth to look deeper."
        )
    if result.not_visited:
        lines.append(
            f"Not looked at: {result.not_visited} or more directories after the first "
            f"{max_directories}; narrow ROOT or raise --max-directories."
        )
    return lines


def counted(number: int, one: str, many: str) -> str:
    """``1 directory``, ``3 directories``."""
    return f"{number} {one if number == 1 else many}"


def _print_candidate(candidate: Candidate, level: Path) -> None:
    """One candidate of a level: its name when it sits there, else its whole path."""
    here = candidate.path.parent == level
    name = candidate.path.name if here else show(candidate.path)
    if candidate.skipped is not None:
        print(f"    skipped {name}: {sanitize(candidate.skipped)}")
    elif candidate.declared is not None:
        declared = candidate.declared
        print(
            f"    declared {name} ({declared.kind.value}, {sanitize(declared.declared_by)}): "
            f"not made; `{sanitize(declared.shown_command())}` makes it"
        )
    elif candidate.environment is not None:
        verdict = "usable" if candidate.environment.usable else "UNUSABLE"
        print(f"    found {describe(candidate.environment)}: {verdict}")
    if candidate.chosen_by is not None:
        chosen_by = candidate.chosen_by
        print(f"      named by {chosen_by.where()} ({chosen_by.setting()})")


#: What the notebook gets, said for a person, for each way of launching without the environment.
MODE_TEXT: dict[LaunchMode, str] = {
    LaunchMode.FALLBACK: (
        "a fallback kernel that shows this explanation and runs '!' shell commands"
    ),
    LaunchMode.ERROR: "an error when the kernel starts, with this explanation",
    LaunchMode.WARNED: "the server's own Python (a warning is logged)",
    LaunchMode.NOTICE: (
        "the server's own Python, with this explanation shown at the first execution"
    ),
    LaunchMode.MAKING: "a kernel that makes the environment first, then runs there",
}
UNUSABLE_TEXT: dict[OnUnusable, str] = {
    OnUnusable.FALLBACK: MODE_TEXT[LaunchMode.FALLBACK],
    OnUnusable.ERROR: MODE_TEXT[LaunchMode.ERROR],
    OnUnusable.WARN: MODE_TEXT[LaunchMode.WARNED],
}


def _print_home_environment(walk: Walk | None) -> None:
    """Say so when the environment found is the home directory's own."""
    chosen = next((c for c in walk.candidates if c.environment is not None), None) if walk else None
    home = Path.home()
    if chosen is not None and chosen.level in (home, normalize(home)):
        print(
            f"Note: this is the home directory's own environment: it serves every notebook "
            f"under {show(home)} that has no environment nearer to it "
            "(c.ProjectKernels.home_environment is on)."
        )


def _print_home_skipped(walk: Walk | None) -> None:
    """Say so when the home directory's own environment was passed over."""
    for candidate in walk.candidates if walk else ():
        if candidate.skipped == HOME_SKIPPED:
            print(
                f"Not used: {show(candidate.path)}, the home directory's own environment "
                "(c.ProjectKernels.home_environment = True would use it for every notebook "
                "under home with no nearer environment)."
            )


def _print_notes(environment: Environment) -> None:
    for note in environment.notes:
        print(f"Note: {sanitize(note)}")


def _print_modules(environment: Environment) -> None:
    if environment.modules:
        listed = sanitize(" ".join(environment.modules))
        print(f"Modules: {listed} (loaded before the environment is activated)")


def _print_slurm(plan: LaunchPlan) -> None:
    for line in slurm_lines(plan.slurm, commands_found()):
        print(line)


def _print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(with_schema(payload), indent=2))


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``which``, ``doctor`` and ``list``."""
    where = _Parser(add_help=False)
    where.add_argument("path", help="a notebook or a directory")
    where.add_argument("--root-dir", help="the server's root (default: ServerApp.root_dir)")
    where.add_argument(
        "--kernel",
        default=NATIVE_KERNEL,
        help="the notebook's kernel name, for a kernel chosen in the picker (default: python3)",
    )

    which = sub.add_parser("which", parents=[common, where], help="what launches for a notebook")
    which.set_defaults(func=cmd_which)

    doctor = sub.add_parser("doctor", parents=[common, where], help="every step of the walk")
    doctor.add_argument("--run", action="store_true", help="also start the interpreter")
    doctor.set_defaults(func=cmd_doctor)

    listing = sub.add_parser("list", parents=[common], help="environments below a root")
    listing.add_argument("root", nargs="?", help="default: ServerApp.root_dir or here")
    listing.add_argument(
        "--max-depth",
        type=_at_least(0),
        help="directory levels below ROOT looked at (default: "
        "ProjectKernelSpecManager.list_max_depth, 4)",
    )
    listing.add_argument(
        "--max-directories",
        type=_at_least(1),
        help="directories looked at, at most (default: "
        "ProjectKernelSpecManager.list_max_directories, 10000)",
    )
    listing.set_defaults(func=cmd_list)


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argument type: a whole number, ``minimum`` or more."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
        return value

    return number


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help``)."""
    parser = _Parser(
        prog="project-kernels",
        description="Show which project environment a notebook's kernel launches from.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--config", help="an extra jupyter_server_config.py/.json to read")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (sys.modules[__name__], cli_modules, cli_fix, enabling):
        module.register(sub, common)
    return parser


#: Human output fits an 80-column terminal; commands to copy are never split.
WIDTH = 79
_UNWRAPPED = ("Fix:", "Launches:", "{", "}", "  ")


def wrap_for_terminal(text: str, width: int = WIDTH) -> str:
    """``text`` with long prose lines folded, keeping paths and ``Fix:`` commands whole."""
    lines: list[str] = []
    for line in text.splitlines():
        if len(line) <= width or line.startswith(_UNWRAPPED):
            lines.append(line)
            continue
        lines += textwrap.wrap(
            line, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
        )
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            status = args.func(args)
    except UsageError as error:
        sys.stdout.write(buffer.getvalue())
        parser.exit(2, f"project-kernels {args.command}: {error}\n")
    except OSError as error:  # the file system refused something on the way
        sys.stdout.write(buffer.getvalue())
        parser.exit(1, f"project-kernels {args.command}: {error}\n")
    output = buffer.getvalue()
    try:
        sys.stdout.write(output if getattr(args, "json", False) else wrap_for_terminal(output))
        sys.stdout.flush()
    except BrokenPipeError:  # `project-kernels list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)
