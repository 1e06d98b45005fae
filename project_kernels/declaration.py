"""What an environment declares about its kernels: ``<env>/project-kernels.toml``.

One file, read with one ``open`` when the environment is chosen, holding what a
kernel from the environment needs besides the environment itself::

    modules = ["GCC/12.3.0", "Python/3.11.3"]   # loaded before activation (see .modules)

    [slurm]                                      # run its kernels as Slurm jobs (see .slurm)
    partition = "gpu"
    time = "2:00:00"

Pure: parsing checks names and values and runs nothing. ``pin-modules`` rewrites
the ``modules`` list and keeps the tables below it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .files import write_atomically
from .slurm.options import SlurmOptions, SlurmOptionsError, parse_options

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = [
    "DECLARATION_NAME",
    "Declaration",
    "DeclarationError",
    "check_module_name",
    "clear_modules",
    "parse",
    "read",
    "render_modules",
    "write_modules",
]

#: The declaration's file name, inside the environment's directory.
DECLARATION_NAME = "project-kernels.toml"

_MODULE_NAME = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9_.+\-/]*$")
_TABLE_HEADER = re.compile(r"^\s*\[")


class DeclarationError(ValueError):
    """The declaration file exists but cannot be used; ``part`` says which part is wrong."""

    def __init__(self, message: str, part: str = "modules") -> None:
        super().__init__(message)
        #: ``"modules"`` or ``"slurm"``.
        self.part = part


@dataclass(frozen=True)
class Declaration:
    """The modules an environment needs and, when it has a ``[slurm]`` table, its job's options."""

    modules: tuple[str, ...] = ()
    slurm: SlurmOptions | None = None


def check_module_name(name: str) -> None:
    """Refuse names that are paths: a declaration names modules, it never points at code."""
    if not _MODULE_NAME.match(name) or ".." in name.split("/"):
        raise DeclarationError(
            f"{name!r} is not a module name (names look like 'Python/3.11.5'; "
            "paths to modulefiles are not allowed)"
        )


def parse(text: str, where: str = DECLARATION_NAME) -> Declaration:
    """The declaration in ``text``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DeclarationError(f"it is not valid TOML ({error})") from error
    modules = data.get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise DeclarationError("'modules' must be a list of module names, like [\"Python/3.11\"]")
    for name in modules:
        check_module_name(name)
    return Declaration(tuple(modules), _slurm(data.get("slurm"), where))


def _slurm(table: object, where: str) -> SlurmOptions | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise DeclarationError("'slurm' must be a table ([slurm])", part="slurm")
    try:
        return parse_options(table, f"[slurm] of {where}", deployment=False)
    except SlurmOptionsError as error:
        raise DeclarationError(str(error), part="slurm") from error


def read(root: Path) -> Declaration:
    """What ``root`` declares; an empty declaration when it has no file (one failed ``open``)."""
    path = root / DECLARATION_NAME
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return Declaration()
    except OSError as error:
        raise DeclarationError(f"it cannot be read ({error.strerror})") from error
    try:
        return parse(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as error:
        raise DeclarationError("it is not UTF-8 text") from error


def render_modules(modules: Sequence[str], tables: str = "") -> str:
    """The declaration's text for ``modules``, followed by ``tables`` (kept as written)."""
    for name in modules:
        check_module_name(name)
    lines = [
        "# Environment modules this environment needs, loaded in this order (module load)",
        "# before it is activated when project-kernels starts a kernel from it.",
        "# Written by `project-kernels pin-modules`; rerun it (or edit this list) to change.",
        "modules = [",
        *(f"    {json.dumps(name)}," for name in modules),
        "]",
    ]
    text = "\n".join(lines) + "\n"
    return f"{text}\n{tables}" if tables else text


def tables_of(text: str) -> str:
    """The part of a declaration from its first table (``[slurm]``) on."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _TABLE_HEADER.match(line):
            return "".join(lines[index:])
    return ""


def _existing_tables(root: Path) -> str:
    try:
        return tables_of((root / DECLARATION_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return ""


def write_modules(root: Path, modules: Sequence[str]) -> Path:
    """Write ``root``'s module list atomically, keeping its tables; returns the file's path."""
    path = root / DECLARATION_NAME
    write_atomically(path, render_modules(modules, _existing_tables(root)))
    return path


def clear_modules(root: Path) -> bool:
    """Remove the module list (the file too, when nothing else is in it); False if none."""
    path = root / DECLARATION_NAME
    if not path.exists():
        return False
    tables = _existing_tables(root)
    if tables:
        write_atomically(path, tables)
    else:
        path.unlink()
    return True
