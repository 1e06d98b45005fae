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
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traitlets.config import Config

from . import __version__, cli_fix, cli_modules, enabling
from .config import ProjectKernels, load_config
from .decision import LaunchMode, LaunchPlan, decide
from .discovery import Candidate, is_within, normalize, scan
from .environments import Environment
from .inline import InlineScript, read_inline
from .names import IPYKERNEL_ARGV, NATIVE_KERNEL
from .picker import NAME_PREFIX, kernel_name
from .probe import probe, startup_problem
from .report import describe, sanitize, show
from .resolver import LaunchRequest
from .schema import candidate_json, environment_json, plan_json, with_schema
from .settings import OnUnusable, Settings
from .slurm.report import commands_found, missing_commands, slurm_json, slurm_lines

__all__ = ["build_parser", "main", "wrap_for_terminal"]


class UsageError(Exception):
    """A command line that cannot be answered; the message says why (exit code 2)."""


def root_from(config: Config, override: str | None) -> Path | None:
    """The server root the CLI assumes: ``--root-dir``, else ``ServerApp.root_dir`` if set."""
    root = override or config.get("ServerApp", {}).get("root_dir")
    return normalize(root) if root else None


def start_directory(path: str) -> Path:
    """A notebook's directory, or the directory itself."""
    target = normalize(path)
    return target if target.is_dir() else target.parent


def pinned_environment(name: str, config: Config, root: Path | None) -> Path | None:
    """The environment a kernel called ``name`` is pinned to; None for a walking kernel.

    Listed kernels (``project-...``) are found as the kernel picker names them, by a
    scan of the server's root with the picker's bounds.
    """
    picker = config.get("ProjectKernelSpecManager", {})
    walking = {n.lower() for n in picker.get("project_kernel_names", [NATIVE_KERNEL])}
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
        max_depth=int(picker.get("list_max_depth", 4)),
        max_directories=int(picker.get("list_max_directories", 10_000)),
    )
    for candidate in result.candidates:
        if candidate.environment is None or not is_within(candidate.path, root):
            continue
        if kernel_name(candidate.path.relative_to(root).as_posix()) == name:
            return candidate.path
    raise UsageError(f"No environment under {show(root)} is listed as {name!r}.")


def _decision(args: argparse.Namespace) -> tuple[LaunchPlan, Settings, Path | None]:
    """What the server would launch for ``args.path`` (and ``--kernel``), as it would decide."""
    config = load_config(args.config)
    settings = ProjectKernels(config=config).settings()
    root = root_from(config, args.root_dir)
    target = normalize(args.path)
    request = LaunchRequest(
        cwd=str(start_directory(args.path)),
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
    elif plan.mode is LaunchMode.ENVIRONMENT:
        print(f"Launches: {show(environment.interpreter)}")
        print(f"Environment: {describe(environment)}")
        print(f"Kind: {environment.kind.value}")
        print(f"Chosen as the {sanitize(environment.reason)}.")
        _print_notes(environment)
        _print_modules(environment)
        _print_slurm(plan)
    else:
        print(plan.message)
        print(f"\nKind: {environment.kind.value}, chosen as the {sanitize(environment.reason)}.")
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
    plan, settings, _ = _decision(args)
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
    config = load_config(args.config)
    settings = ProjectKernels(config=config).settings()
    root = normalize(args.root or root_from(config, None) or os.getcwd())
    result = scan(root, settings.locators(), max_depth=args.max_depth)
    environments = [c for c in result.candidates if c.environment is not None]
    if args.json:
        _print_json(
            {
                "root": str(root),
                "truncated": result.truncated,
                "environments": [candidate_json(c) for c in environments],
            }
        )
        return 0
    if not environments:
        print(f"No environments under {show(root)} (depth {args.max_depth}).")
    for candidate in environments:
        assert candidate.environment is not None
        status = (
            "ok"
            if candidate.environment.usable
            else "unusable: " + ", ".join(p.code.value for p in candidate.environment.problems)
        )
        print(f"{describe(candidate.environment)}  [{status}]")
    if result.truncated:
        print("(stopped early: too many directories; narrow ROOT or lower --max-depth)")
    return 0


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
    where = argparse.ArgumentParser(add_help=False)
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
    listing.add_argument("--max-depth", type=int, default=4)
    listing.set_defaults(func=cmd_list)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="project-kernels",
        description="Show which project environment a notebook's kernel launches from.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    common = argparse.ArgumentParser(add_help=False)
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
    output = buffer.getvalue()
    sys.stdout.write(output if getattr(args, "json", False) else wrap_for_terminal(output))
    sys.exit(status)
