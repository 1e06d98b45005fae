"""``project-kernels`` (also ``jupyter project-kernels``): what launches, and why.

Reads the same traitlets configuration files as the server
(``jupyter_server_config.py``/``.json`` on the Jupyter config path), so that it
reports what the server would do.
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

from . import __version__
from .cli_modules import register as register_pin_modules
from .discovery import Candidate, Walk, normalize, scan
from .environments import Environment
from .modules import with_modules
from .probe import probe, startup_problem
from .report import describe, sanitize
from .resolver import (
    EnvironmentUnusable,
    LaunchMode,
    LaunchRequest,
    OnUnusable,
    Settings,
    plan_launch,
    resolve,
)

#: The version of the ``--json`` output's layout; bumped on incompatible changes.
JSON_SCHEMA = 1


def load_config(config_file: str | None = None) -> Config:
    """The configuration the Jupyter server would load (plus ``config_file`` if given)."""
    from jupyter_core.application import JupyterApp
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    loader = JupyterApp(config_file_name="jupyter_server_config")
    loader.load_config_file()
    config: Config = loader.config
    if config_file:
        path = os.path.abspath(config_file)
        cls = JSONFileConfigLoader if path.endswith(".json") else PyFileConfigLoader
        config.merge(cls(os.path.basename(path), os.path.dirname(path)).load_config())
    return config


def settings_from(config: Config) -> Settings:
    """The resolver settings a server with ``config`` would use."""
    from .config import ProjectKernels

    return ProjectKernels(config=config).settings()


def root_from(config: Config, override: str | None) -> Path | None:
    """The server root the CLI assumes: ``--root-dir``, else ``ServerApp.root_dir`` if set."""
    root = override or config.get("ServerApp", {}).get("root_dir")
    return normalize(root) if root else None


def start_directory(path: str) -> Path:
    """A notebook's directory, or the directory itself."""
    target = normalize(path)
    return target if target.is_dir() else target.parent


def environment_json(environment: Environment | None) -> dict[str, Any] | None:
    """The stable JSON form of an environment (see the README's ``--json`` section)."""
    if environment is None:
        return None
    return {
        "path": str(environment.root),
        "kind": environment.kind.value,
        "interpreter": str(environment.interpreter),
        "python_version": str(environment.python_version) if environment.python_version else None,
        "ipykernel_version": (
            str(environment.ipykernel_version) if environment.ipykernel_version else None
        ),
        "system_site_packages": environment.system_site_packages,
        "modules": list(environment.modules),
        "usable": environment.usable,
        "reason": environment.reason,
        "notes": list(environment.notes),
        "problems": [
            {"code": p.code.value, "summary": p.summary, "fix": p.fix} for p in environment.problems
        ],
    }


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """One candidate of a walk or a listing."""
    return {
        "path": str(candidate.path),
        "environment": environment_json(candidate.environment),
        "skipped": candidate.skipped,
    }


def _walk_for(args: argparse.Namespace) -> tuple[Walk | None, Settings, dict[str, str]]:
    """The walk (its environment's modules loaded, as at launch), settings, and base variables."""
    from .config import ProjectKernels

    config = load_config(args.config)
    settings = settings_from(config)
    start = start_directory(args.path)
    request = LaunchRequest(cwd=str(start), root_dir=root_from(config, args.root_dir))
    modules = ProjectKernels(config=config).module_settings()
    walk, base = with_modules(resolve(request, settings), os.environ, modules)
    return walk, settings, base


def _plan(
    walk: Walk | None, settings: Settings, base: dict[str, str]
) -> tuple[str, list[str], str]:
    """(mode, argv, message) for a stock python3 kernelspec's command."""
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    try:
        plan = plan_launch(walk, base, settings)
    except EnvironmentUnusable as unusable:
        return "error", [], str(unusable)
    return plan.mode.value, plan.command(argv), plan.message


def cmd_which(args: argparse.Namespace) -> int:
    """Print what would launch for a notebook or directory."""
    walk, settings, base = _walk_for(args)
    mode, argv, message = _plan(walk, settings, base)
    environment = walk.environment if walk else None
    if args.json:
        _print_json(
            {
                "path": str(normalize(args.path)),
                "start": str(walk.start) if walk else None,
                "boundary": str(walk.boundary) if walk else None,
                "mode": mode,
                "argv": argv,
                "environment": environment_json(environment),
                "message": message,
            }
        )
    elif environment is None:
        print(
            f"No project environment between {_show(walk.start if walk else args.path)} and "
            f"{_show(walk.boundary if walk else '/')}."
        )
        print(f"Launches the stock kernel: {_show(sys.executable)}")
    elif mode == LaunchMode.ENVIRONMENT.value:
        print(f"Launches: {_show(environment.interpreter)}")
        print(f"Environment: {describe(environment)}")
        print(f"Kind: {environment.kind.value}")
        print(f"Chosen as the {sanitize(environment.reason)}.")
        _print_notes(environment)
        _print_modules(environment)
    else:
        print(message)
        print(f"\nKind: {environment.kind.value}, chosen as the {sanitize(environment.reason)}.")
        print(f"Launches: {_mode_text(mode)}")
    return 0 if environment is None or environment.usable else 1


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print every directory the walk visited and every candidate's verdict."""
    walk, settings, base = _walk_for(args)
    environment = walk.environment if walk else None
    if args.run and environment is not None and environment.usable:
        result = probe(environment, base)
        if not result.ok:
            environment = environment.with_problems(startup_problem(environment, result))
    ok = environment is None or environment.usable
    if args.json:
        _print_json(
            {
                "path": str(normalize(args.path)),
                "start": str(walk.start) if walk else None,
                "boundary": str(walk.boundary) if walk else None,
                "visited": [str(p) for p in walk.visited] if walk else [],
                "candidates": [candidate_json(c) for c in walk.candidates] if walk else [],
                "environment": environment_json(environment),
                "ok": ok,
            }
        )
        return 0 if ok else 1
    if walk is None:
        print("Nothing to walk.")
        return 0
    print(f"Walked from {_show(walk.start)} up to {_show(walk.boundary)}:")
    by_dir: dict[Path, list[Candidate]] = {}
    for candidate in walk.candidates:
        by_dir.setdefault(candidate.path.parent, []).append(candidate)
    for directory in walk.visited:
        print(f"  {_show(directory)}")
        for candidate in by_dir.get(directory, []):
            if candidate.skipped is not None:
                print(f"    skipped {candidate.path.name}: {sanitize(candidate.skipped)}")
            elif candidate.environment is not None:
                verdict = "usable" if candidate.environment.usable else "UNUSABLE"
                print(f"    found {describe(candidate.environment)}: {verdict}")
    print()
    if environment is not None:
        _print_modules(environment)
    if environment is None:
        print(f"No environment found: the stock kernel ({_show(sys.executable)}) launches.")
    elif environment.usable:
        print(f"OK: the kernel launches from {_show(environment.interpreter)}.")
        if not args.run:
            print("(Add --run to also start the interpreter and check that ipykernel imports.)")
    else:
        for problem in environment.problems:
            print(f"Problem: {sanitize(problem.summary)}")
            print(f"Fix: {sanitize(problem.fix)}")
        print(
            f"\nWith on_unusable={settings.on_unusable.value!r} the notebook gets: "
            f"{_mode_text(settings.on_unusable.value)}"
        )
    return 0 if ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    """List the environments below a root."""
    config = load_config(args.config)
    settings = settings_from(config)
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
        print(f"No environments under {_show(root)} (depth {args.max_depth}).")
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


def _mode_text(mode: str) -> str:
    return {
        OnUnusable.FALLBACK.value: "a fallback kernel that shows this explanation "
        "and runs '!' shell commands",
        OnUnusable.ERROR.value: "an error when the kernel starts, with this explanation",
        OnUnusable.WARN.value: "the server's own Python (a warning is logged)",
        LaunchMode.WARNED.value: "the server's own Python (a warning is logged)",
    }.get(mode, mode)


def _print_notes(environment: Environment) -> None:
    for note in environment.notes:
        print(f"Note: {sanitize(note)}")


def _print_modules(environment: Environment) -> None:
    if environment.modules:
        listed = sanitize(" ".join(environment.modules))
        print(f"Modules: {listed} (loaded before the environment is activated)")


def _show(path: object) -> str:
    return sanitize(str(path))


def _print_json(payload: dict[str, Any]) -> None:
    print(json.dumps({"schema": JSON_SCHEMA, **payload}, indent=2))


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

    which = sub.add_parser("which", parents=[common], help="what launches for a notebook")
    which.add_argument("path", help="a notebook or a directory")
    which.add_argument("--root-dir", help="the server's root (default: ServerApp.root_dir)")
    which.set_defaults(func=cmd_which)

    doctor = sub.add_parser("doctor", parents=[common], help="every step of the walk")
    doctor.add_argument("path", help="a notebook or a directory")
    doctor.add_argument("--root-dir", help="the server's root (default: ServerApp.root_dir)")
    doctor.add_argument("--run", action="store_true", help="also start the interpreter")
    doctor.set_defaults(func=cmd_doctor)

    listing = sub.add_parser("list", parents=[common], help="environments below a root")
    listing.add_argument("root", nargs="?", help="default: ServerApp.root_dir or here")
    listing.add_argument("--max-depth", type=int, default=4)
    listing.set_defaults(func=cmd_list)
    register_pin_modules(sub)

    from .enabling import add_commands

    add_commands(sub)
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
    args = build_parser().parse_args(argv)
    if getattr(args, "json", False):
        sys.exit(args.func(args))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = args.func(args)
    sys.stdout.write(wrap_for_terminal(buffer.getvalue()))
    sys.exit(status)
