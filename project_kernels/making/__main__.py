"""``python -m project_kernels.making RECIPE.json [--requested T]``: one build, detached.

Started by the provisioner in a session of its own, so that a kernel restart (which
kills the kernel's process group) or an interrupt does not stop the build, and the
build ends by itself (``create_timeout``). The outcome is written next to the log
(see :mod:`.build`); the exit code says whether it succeeded. A SIGTERM stops the
tool and cleans up as a failure does.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from .build import build, stop_builds
from .recipes import recipe_from_json


def _terminated(signum: int, frame: FrameType | None) -> None:
    stop_builds()


def main(argv: list[str] | None = None) -> int:
    """Run the recipe in the file given; 0 when the environment is made."""
    parser = argparse.ArgumentParser(prog="python -m project_kernels.making")
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--requested", type=float, default=None)
    args = parser.parse_args(argv)
    recipe = recipe_from_json(json.loads(args.recipe.read_text(encoding="utf-8")))
    signal.signal(signal.SIGTERM, _terminated)
    outcome = build(recipe, None, args.requested)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
