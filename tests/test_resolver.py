"""The resolver: which environment a launch is for, from files alone."""

from __future__ import annotations

from pathlib import Path

from planted import plant_venv

from project_kernels.environments import ProblemCode
from project_kernels.resolver import HOME_SKIPPED, PICKER_REASON, LaunchRequest, pinned, resolve
from project_kernels.settings import Settings


def test_the_walk_starts_at_the_kernels_working_directory(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / "a" / "b").mkdir(parents=True)
    walk = resolve(LaunchRequest(cwd=str(tmp_path / "a" / "b"), root_dir=tmp_path), Settings())
    assert walk is not None
    assert walk.start == tmp_path / "a" / "b"
    assert walk.visited == (tmp_path / "a" / "b", tmp_path / "a", tmp_path)
    assert walk.environment is not None and walk.environment.root == tmp_path / ".venv"


def test_without_cwd_the_notebook_path_is_used(tmp_path: Path) -> None:
    request = LaunchRequest(session_name=str(tmp_path / "good" / "nb.ipynb"), root_dir=tmp_path)
    walk = resolve(request, Settings())
    assert walk is not None and walk.start == tmp_path / "good"


def test_with_nothing_known_there_is_no_walk() -> None:
    assert resolve(LaunchRequest(), Settings()) is None


def test_without_cwd_or_notebook_the_walk_starts_at_the_root(tmp_path: Path) -> None:
    walk = resolve(LaunchRequest(root_dir=tmp_path), Settings())
    assert walk is not None and walk.start == tmp_path and walk.visited == (tmp_path,)


def test_a_start_outside_the_root_walks_from_the_root(tmp_path: Path) -> None:
    plant_venv(tmp_path / "good" / ".venv")
    walk = resolve(LaunchRequest(cwd="/", root_dir=tmp_path / "good"), Settings())
    assert walk is not None and walk.start == tmp_path / "good"
    assert walk.environment is not None and walk.environment.root == tmp_path / "good" / ".venv"


def test_outside_the_stop_directory_only_the_start_is_looked_at(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    (tmp_path / "nb").mkdir()
    settings = Settings(stop_directory=tmp_path / "elsewhere")
    walk = resolve(LaunchRequest(cwd=str(tmp_path / "nb"), home=None), settings)
    assert walk is not None and walk.visited == (tmp_path / "nb",)
    assert walk.environment is None


def test_a_pinned_environment_is_taken_without_walking(tmp_path: Path) -> None:
    plant_venv(tmp_path / ".venv")
    plant_venv(tmp_path / "envs" / "gpu")
    request = LaunchRequest(
        cwd=str(tmp_path), root_dir=tmp_path, environment=tmp_path / "envs" / "gpu"
    )
    walk = resolve(request, Settings())
    assert walk is not None and walk.environment is not None
    assert walk.environment.root == tmp_path / "envs" / "gpu"
    assert walk.environment.reason == PICKER_REASON


def test_a_pinned_environment_that_is_gone_explains_itself(tmp_path: Path) -> None:
    walk = pinned(tmp_path / "gone", Settings())
    assert walk.environment is not None
    assert [p.code for p in walk.environment.problems] == [ProblemCode.BAD_CONFIG]
    assert "chosen for this notebook does not exist" in walk.environment.problems[0].summary


def test_a_pinned_directory_that_is_no_environment_says_why(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    walk = pinned(tmp_path / "empty", Settings())
    assert walk.environment is not None
    assert "without pyvenv.cfg" in walk.environment.problems[0].summary


def test_the_home_directorys_own_environment_is_passed_over_unless_chosen(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plant_venv(home / ".venv")
    plant_venv(home / "project" / ".venv")
    (home / "notes").mkdir()
    notes = LaunchRequest(cwd=str(home / "notes"), root_dir=home, home=home)
    walk = resolve(notes, Settings())
    assert walk is not None and walk.environment is None
    assert [c.skipped for c in walk.candidates] == [HOME_SKIPPED]
    # A project inside home keeps its own environment.
    project = LaunchRequest(cwd=str(home / "project"), root_dir=home, home=home)
    found = resolve(project, Settings())
    assert found is not None and found.environment is not None
    assert found.environment.root == home / "project" / ".venv"
    chosen = resolve(notes, Settings(home_environment=True))
    assert chosen is not None and chosen.environment is not None
    assert chosen.environment.root == home / ".venv"


def test_an_environment_declared_by_the_home_directory_is_passed_over_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    # A uv project that is all of home (a `uv init` run in ~ by accident), never synced.
    (home / "pyproject.toml").write_text('[project]\nname = "home"\nversion = "0"\n')
    (home / "uv.lock").write_text("version = 1\n")
    notes = LaunchRequest(cwd=str(home / "notes"), root_dir=home, home=home)
    walk = resolve(notes, Settings())
    assert walk is not None and walk.environment is None
    assert all(c.declared is None for c in walk.candidates)
    assert HOME_SKIPPED in [c.skipped for c in walk.candidates]
    declared = resolve(notes, Settings(home_environment=True))
    assert declared is not None and any(c.declared for c in declared.candidates)
