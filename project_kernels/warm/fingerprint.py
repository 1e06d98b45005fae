"""What an environment looked like when a warm kernel was started from it, from ``stat`` alone.

A warm kernel imported ipykernel and its dependencies, and processed ``.pth`` files, when
it started; a kernel started now must see the environment as it is now. Installing,
upgrading or removing a package adds or removes entries of ``site-packages`` (changing its
modification time), an editable install adds a ``.pth`` file, a recreated environment has
a new ``pyvenv.cfg`` and ``bin``, an upgraded base Python a new interpreter file, and
``project-kernels pin-modules`` rewrites the declaration. Any of these makes the
fingerprint differ, and the warm kernel is discarded. Cost: a few dozen ``stat`` calls
and one listing per ``site-packages`` directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..environments import Environment, lib_python_dirs
from ..modules import DECLARATION_NAME

__all__ = ["Fingerprint", "fingerprint"]

#: A path's (modification time in ns, inode, size); None when absent.
Stamp = Optional[tuple[int, int, int]]
#: Every path looked at, with its stamp.
Fingerprint = tuple[tuple[str, Stamp], ...]

#: Files in site-packages that run or change sys.path when an interpreter starts.
STARTUP_FILES = ("sitecustomize.py", "usercustomize.py")


def fingerprint(environment: Environment) -> Fingerprint:
    """The stamps of everything in ``environment`` that a started interpreter depends on."""
    root = environment.root
    paths = [
        root,
        root / "pyvenv.cfg",
        root / "conda-meta",
        root / DECLARATION_NAME,
        environment.bin_dir,
        environment.interpreter,  # followed through its links: the base Python's file
    ]
    prefixes = [root]
    if environment.system_site_packages and environment.base_home is not None:
        prefixes.append(environment.base_home.parent)
    for prefix in prefixes:
        for lib in lib_python_dirs(prefix):
            paths += [lib, *_site_packages_entries(lib / "site-packages")]
    return tuple((str(path), _stamp(path)) for path in paths)


def _site_packages_entries(site: Path) -> list[Path]:
    """``site`` and the files in it that take effect at interpreter start."""
    try:
        names = os.listdir(site)
    except OSError:
        return [site]
    startup = [site / n for n in sorted(names) if n.endswith(".pth") or n in STARTUP_FILES]
    return [site, *startup]


def _stamp(path: Path) -> Stamp:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_ino, info.st_size)
