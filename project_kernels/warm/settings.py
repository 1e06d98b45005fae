"""How many warm kernels a server keeps, at most, and for how long (plain values)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WarmSettings"]


@dataclass(frozen=True)
class WarmSettings:
    """How many warm kernels, how many at most, and for how long (see the README)."""

    kernels: int = 0
    max_kernels: int = 4
    idle_timeout: float = 600.0

    @property
    def enabled(self) -> bool:
        """Whether any kernel is ever pre-started."""
        return self.kernels > 0 and self.max_kernels > 0
