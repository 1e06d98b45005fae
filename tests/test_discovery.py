"""The walk: nearest wins, earlier names win at one level, lookalikes are skipped, bounds hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from planted import plant_venv

from project_kernels.discovery import (
    choose_boundary,
    choose_start,
    levels,
    named_directories,
    scan,
    walk_up,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/.venv, root/a/venv, root/a/b/.venv (a file), root/a/b/c/ (the notebook's)."""
    root = tmp_path_factory.mktemp("tree")
    plant_venv(root / ".venv")
    plant_venv(root / "a" / "venv")
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / ".venv").write_text("not an environment")
    return root


def test_the_nearest_environment_wins_and_lookalikes_are_remembered(tree: Path) -> None:
    walk = walk_up(tree / "a" / "b" / "c", tree, [named_directories()])
    assert walk.environment is not None and walk.environment.root == tree / "a" / "venv"
    assert walk.visited == (tree / "a" / "b" / "c", tree / "a" / "b", tree / "a")
    skipped = [(c.path, c.skipped) for c in walk.candidates if c.skipped]
    assert skipped == [(tree / "a" / "b" / ".venv", "is a file, not a directory")]


def test_the_walk_stops_at_the_boundary(tree: Path) -> None:
    walk = walk_up(tree / "a" / "b" / "c", tree / "a" / "b", [named_directories()])
    assert walk.environment is None
    assert walk.visited[-1] == tree / "a" / "b"


def test_earlier_names_win_at_one_level(tmp_path: Path) -> None:
    plant_venv(tmp_path / "venv")
    plant_venv(tmp_path / ".venv")
    assert walk_up(tmp_path, tmp_path, [named_directories()]).environment.root == tmp_path / ".venv"  # type: ignore[union-attr]
    custom = walk_up(tmp_path, tmp_path, [named_directories(["venv", ".venv"])])
    assert custom.environment is not None and custom.environment.root == tmp_path / "venv"


def test_the_reason_says_why_it_was_chosen(tree: Path) -> None:
    walk = walk_up(tree, tree, [named_directories()])
    assert walk.environment is not None
    assert walk.environment.reason == "nearest directory named '.venv' above the notebook"


def test_levels_include_start_and_boundary() -> None:
    assert list(levels(Path("/a/b/c"), Path("/a"))) == [Path("/a/b/c"), Path("/a/b"), Path("/a")]
    assert list(levels(Path("/a"), Path("/"))) == [Path("/a"), Path("/")]


def test_start_prefers_cwd_then_the_notebooks_directory_then_the_root() -> None:
    root = Path("/srv/root")
    assert choose_start("/srv/root/x/../y", "/srv/root/z/nb.ipynb", root) == Path("/srv/root/y")
    assert choose_start(None, "/srv/root/z/nb.ipynb", root) == Path("/srv/root/z")
    assert choose_start(None, "relative.ipynb", root) == root
    assert choose_start(None, None, None) is None


def test_boundary_is_root_then_stop_directory_then_home_then_slash() -> None:
    home = Path("/home/ada")
    start = Path("/home/ada/p")
    assert choose_boundary(start, Path("/home/ada/p"), Path("/x"), home) == Path("/home/ada/p")
    assert choose_boundary(start, None, Path("/home"), home) == Path("/home")
    assert choose_boundary(start, None, None, home) == home
    assert choose_boundary(Path("/data/p"), None, None, home) == Path("/")


def test_scan_lists_environments_within_bounds_and_prunes(tmp_path: Path) -> None:
    plant_venv(tmp_path / "p1" / ".venv")
    plant_venv(tmp_path / "deep" / "x" / "y" / "venv")
    plant_venv(tmp_path / "node_modules" / "pkg" / ".venv")
    plant_venv(tmp_path / ".hidden" / ".venv")
    found = scan(tmp_path, [named_directories()], max_depth=4)
    roots = sorted(c.path for c in found.candidates if c.environment)
    assert roots == [tmp_path / "deep" / "x" / "y" / "venv", tmp_path / "p1" / ".venv"]
    shallow = scan(tmp_path, [named_directories()], max_depth=2)
    assert [c.path for c in shallow.candidates if c.environment] == [tmp_path / "p1" / ".venv"]
    capped = scan(tmp_path, [named_directories()], max_directories=2)
    assert capped.truncated
