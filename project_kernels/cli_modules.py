"""``project-kernels pin-modules [ENV]``: record the shell's loaded modules for an environment.

The HPC workflow becomes::

    module load GCC/12.3.0 Python/3.11.3 SciPy-bundle/2023.07
    python -m venv --system-site-packages .venv
    project-kernels pin-modules .venv

after which every kernel started from ``.venv`` runs with those modules loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .declaration import DECLARATION_NAME, DeclarationError, check_module_name, clear_modules
from .discovery import DEFAULT_NAMES, normalize
from .modules import write_declaration
from .report import sanitize

__all__ = [
    "cmd_pin_modules",
    "loaded_modules",
    "register",
    "target_environment",
]


def loaded_modules(env: Mapping[str, str]) -> tuple[str, ...]:
    """The modules loaded in a shell, in load order, from its ``LOADEDMODULES``."""
    return tuple(name for name in env.get("LOADEDMODULES", "").split(":") if name)


def target_environment(path: str | None) -> Path:
    """``ENV`` as given, else the active ``$VIRTUAL_ENV``, else ``.venv`` or ``venv`` here."""
    if path:
        return normalize(path)
    active = os.environ.get("VIRTUAL_ENV")
    if active:
        return normalize(active)
    for name in DEFAULT_NAMES:
        if os.path.lexists(name):
            return normalize(name)
    return normalize(DEFAULT_NAMES[0])


def cmd_pin_modules(args: argparse.Namespace) -> int:
    """Write (or with ``--clear`` remove) the environment's module declaration."""
    root = target_environment(args.env)
    shown = sanitize(str(root))
    if not os.path.lexists(root / "bin" / "python"):
        print(
            f"{shown} is not a Python environment (it has no bin/python). Create it first, "
            f"with the modules loaded: python -m venv --system-site-packages {shown}",
            file=sys.stderr,
        )
        return 2
    declaration = root / DECLARATION_NAME
    if args.clear:
        if not clear_modules(root):
            print(f"{shown} declares no modules; nothing to clear.")
            return 0
        print(
            f"Removed the modules from {sanitize(str(declaration))}: "
            f"kernels from {shown} load none."
        )
        return 0
    modules = loaded_modules(os.environ)
    if not modules:
        print(
            "No environment modules are loaded in this shell (LOADEDMODULES is empty). Load the "
            f"ones {shown} was made with, then run this again: module load ...; "
            f"project-kernels pin-modules {shown}",
            file=sys.stderr,
        )
        return 1
    try:
        for name in modules:
            check_module_name(name)
        path = write_declaration(root, modules)
    except (DeclarationError, OSError) as error:
        print(f"Cannot record the modules for {shown}: {error}", file=sys.stderr)
        return 1
    print(f"Recorded {len(modules)} module(s) in {sanitize(str(path))}: {' '.join(modules)}")
    print(f"Kernels from {shown} now start with them loaded.")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``pin-modules`` (``common``'s options do not apply)."""
    pin = sub.add_parser(
        "pin-modules",
        help="record the shell's loaded environment modules for an environment",
        description="Record the environment modules loaded in this shell (LOADEDMODULES) in "
        f"ENV/{DECLARATION_NAME}, so kernels from ENV start with them loaded.",
    )
    pin.add_argument(
        "env", nargs="?", help="the environment (default: $VIRTUAL_ENV, else ./.venv or ./venv)"
    )
    pin.add_argument("--clear", action="store_true", help="remove the declaration instead")
    pin.set_defaults(func=cmd_pin_modules)
