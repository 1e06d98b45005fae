"""What the core knows about making environments: plain values from the configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_TIMEOUT", "MakingSettings", "user_cache_dir"]

#: Seconds a build may take (``create_timeout``).
DEFAULT_TIMEOUT = 900.0


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/project-kernels``, else ``~/.cache/project-kernels``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(Path.home(), ".cache")
    return Path(base) / "project-kernels"


@dataclass(frozen=True)
class MakingSettings:
    """Whether and how declared environments are made when a notebook opens."""

    #: Make declared environments (and add ipykernel) when a notebook opens.
    enabled: bool = False
    #: Seconds one build may take before it is stopped.
    timeout: float = DEFAULT_TIMEOUT
    #: Where notebooks' inline (PEP 723) environments are kept; None: the user's cache.
    inline_cache_dir: Path | None = None
    #: How many inline environments are kept (least recently used removed beyond).
    inline_cache_max: int = 10
    #: Tools by name (``pixi``, ``conda``, ...) at a configured path instead of ``PATH``.
    tool_paths: Mapping[str, str] = field(default_factory=dict)
    #: Where build locks, logs and results are kept; None: the user's cache.
    state_dir: Path | None = None

    def inline_dir(self) -> Path:
        """The directory of inline environments."""
        return self.inline_cache_dir or user_cache_dir() / "inline"

    def states(self) -> Path:
        """The directory of build locks, logs and results."""
        return self.state_dir or user_cache_dir() / "builds"
