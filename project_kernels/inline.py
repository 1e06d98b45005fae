"""Notebooks that declare their own packages: PEP 723 inline script metadata.

juv, marimo and nteract keep a ``# /// script`` block in a notebook's first code
cell::

    # /// script
    # requires-python = ">=3.11"
    # dependencies = ["pandas>=2", "matplotlib"]
    # ///

With ``create_environments`` such a notebook runs in an environment made by uv
from the block (plus ipykernel), kept in ``inline_cache_dir`` under a hash of the
block: notebooks with the same block share one environment, and an edited block
gets a new one at the next start. Read from files only (see :mod:`.notebook`).
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .notebook import first_code_cell_source

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10 only
    import tomli as tomllib

__all__ = ["MARKER_NAME", "InlineScript", "parse_block", "read_inline"]

#: The PEP's reference regular expression for a metadata block.
REGEX = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
#: Written into an inline environment once it is complete (and touched at each start).
MARKER_NAME = ".project-kernels-inline.json"


@dataclass(frozen=True)
class InlineScript:
    """A notebook's ``script`` block: what it asks for, and its identity."""

    notebook: Path
    #: The block's TOML, with the comment markers taken off.
    content: str
    dependencies: tuple[str, ...] = ()
    requires_python: str | None = None
    #: Why the block cannot be used (bad TOML, two blocks); empty when it can.
    error: str = ""

    @property
    def digest(self) -> str:
        """A hash of the block: the same block, the same environment."""
        return hashlib.sha256(self.content.encode()).hexdigest()

    def environment(self, cache: Path) -> Path:
        """Where the block's environment is kept."""
        return cache / self.digest[:20]


def read_inline(notebook: Path) -> InlineScript | None:
    """The ``script`` block in the notebook's first code cell; None without one."""
    if notebook.suffix != ".ipynb":
        return None
    source = first_code_cell_source(notebook)
    return parse_block(source, notebook) if source else None


def parse_block(source: str, notebook: Path) -> InlineScript | None:
    """The ``script`` block of ``source`` as PEP 723 reads it; None without one."""
    matches = [m for m in re.finditer(REGEX, source) if m.group("type") == "script"]
    if not matches:
        return None
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in matches[0].group("content").splitlines(keepends=True)
    )
    if len(matches) > 1:
        return InlineScript(notebook, content, error="it has more than one '# /// script' block")
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        return InlineScript(notebook, content, error=f"its script block is not valid TOML: {error}")
    dependencies = data.get("dependencies", [])
    requires = data.get("requires-python")
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        return InlineScript(notebook, content, error="its 'dependencies' is not a list of strings")
    if requires is not None and not isinstance(requires, str):
        return InlineScript(notebook, content, error="its 'requires-python' is not a string")
    return InlineScript(notebook, content, tuple(dependencies), requires)
