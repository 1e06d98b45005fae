"""``project-kernels fix [PATH]``: do what the notebook's ``Fix:`` line says.

For a project that declares an environment nobody has made, it makes it with the
project's own tool (``uv sync``, ``pixi install``, ``poetry install``, ...); for an
environment without ipykernel, it installs it; for a notebook that declares its own
packages (PEP 723), it makes their environment. The same decision as the server's,
with the same tools, locks and trust rules as ``c.ProjectKernels.create_environments``
(whether or not that is on: running ``fix`` is the person's own request). What it
runs and what the tools print go to standard error as it happens; the outcome to
standard output (``--json``: as JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, replace
from typing import Any

from .config import ProjectKernels
from .decision import LaunchMode
from .discovery import normalize
from .report import sanitize, show
from .resolver import LaunchRequest
from .schema import plan_json, with_schema

__all__ = ["cmd_fix", "register"]


def cmd_fix(args: argparse.Namespace) -> int:
    """Make what the notebook at ``args.path`` needs; 0 when its kernel will start there."""
    # The command line's own checks: one line and exit code 2 for a path or a
    # configuration that cannot be answered (cli imports this module, hence here).
    from .cli import read_configuration, root_from, start_directory

    config = read_configuration(args.config)
    settings = ProjectKernels(config=config).settings()
    settings = replace(settings, making=replace(settings.making, enabled=True))
    target = normalize(args.path)
    request = LaunchRequest(
        cwd=str(start_directory(args.path)),
        session_name=str(target) if target.suffix == ".ipynb" and target.is_file() else None,
        root_dir=root_from(config, args.root_dir),
        env=dict(os.environ),
    )
    # Only `fix` builds: the other commands never load the building machinery.
    from .making.carry import make_and_decide

    plan, outcomes = make_and_decide(request, settings, out=sys.stderr)
    ok = plan.mode is LaunchMode.ENVIRONMENT or (
        plan.mode is LaunchMode.STOCK and plan.declared is None
    )
    if args.json:
        print(
            json.dumps(
                with_schema(
                    {
                        "path": str(target),
                        "ok": ok,
                        "builds": [asdict(o) for o in outcomes],
                        "launch": plan_json(plan),
                    }
                ),
                indent=2,
            )
        )
        return 0 if ok else 1
    for outcome in outcomes:
        if outcome.ok:
            print(f"Made {sanitize(outcome.what)} in {outcome.seconds:.1f} s.")
        else:
            print("\n".join(sanitize(line) for line in outcome.explanation().splitlines()))
    if plan.mode is LaunchMode.ENVIRONMENT and plan.environment is not None:
        print(f"OK: the kernel launches from {show(plan.environment.interpreter)}.")
    elif plan.mode is LaunchMode.STOCK and plan.declared is None:
        print("Nothing to fix: no project environment here; the stock kernel launches.")
    else:
        print(plan.message)
    return 0 if ok else 1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``fix``."""
    fix = sub.add_parser(
        "fix",
        parents=[common],
        help="make the environment a notebook's project declares, or add ipykernel to it",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    fix.add_argument("path", nargs="?", default=".", help="a notebook or a directory (default: .)")
    fix.add_argument("--root-dir", help="the server's root (default: ServerApp.root_dir)")
    fix.set_defaults(func=cmd_fix)
