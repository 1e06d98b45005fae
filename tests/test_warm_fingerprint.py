"""An environment's fingerprint changes with everything a started interpreter depends on.

Each test changes a real venv the way a person or a tool does, and compares the
fingerprint taken before with the one taken after.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from envfactory import run

from project_kernels.environments import inspect_venv
from project_kernels.warm.fingerprint import Fingerprint, fingerprint


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    root = tmp_path / "project" / ".venv"
    run(sys.executable, "-m", "venv", "--without-pip", root)
    return root


def site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python*/site-packages")
    return site


def stamp(venv: Path) -> Fingerprint:
    return fingerprint(inspect_venv(venv))


def later(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` so that its modification time certainly differs (coarse clocks)."""
    time.sleep(0.01)
    write(path)


def test_an_untouched_environment_keeps_its_fingerprint(venv: Path) -> None:
    before = stamp(venv)
    (venv.parent / "notebook.ipynb").write_text("{}")  # the project around it changes
    assert stamp(venv) == before


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda v: (site_packages(v) / "newpkg").mkdir(), id="package-installed"),
        pytest.param(lambda v: (v / "bin" / "tool").write_text("#!/bin/sh\n"), id="bin-changed"),
        pytest.param(
            lambda v: (v / "pyvenv.cfg").write_text((v / "pyvenv.cfg").read_text() + "x = 1\n"),
            id="pyvenv-cfg-rewritten",
        ),
        pytest.param(
            lambda v: (v / "project-kernels.toml").write_text('modules = ["GCC/12"]\n'),
            id="modules-pinned",
        ),
    ],
)
def test_changing_the_environment_changes_its_fingerprint(
    venv: Path, change: Callable[[Path], object]
) -> None:
    before = stamp(venv)
    time.sleep(0.01)
    change(venv)
    assert stamp(venv) != before


def test_a_startup_file_edited_in_place_changes_it(venv: Path) -> None:
    pth = site_packages(venv) / "__editable__.mine.pth"
    pth.write_text("/src/mine\n")
    before = stamp(venv)
    later(pth, lambda p: p.write_text("/src/mine-moved\n"))  # no entry added or removed
    assert stamp(venv) != before


def test_a_recreated_environment_has_another_fingerprint(venv: Path) -> None:
    before = stamp(venv)
    run(sys.executable, "-m", "venv", "--clear", "--without-pip", venv)
    assert stamp(venv) != before
