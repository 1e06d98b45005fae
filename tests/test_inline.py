"""Notebooks that declare their own packages (PEP 723): the block, its hash, the plan, the cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jupyter import write_notebook
from planted import plant_venv

from project_kernels.decision import LaunchMode, decide
from project_kernels.inline import MARKER_NAME, parse_block, read_inline
from project_kernels.making.build import trim_inline_cache
from project_kernels.making.settings import MakingSettings
from project_kernels.resolver import LaunchRequest
from project_kernels.settings import Settings

BLOCK = (
    '# /// script\n# requires-python = ">=3.9"\n# dependencies = [\n#   "rich>=13",\n# ]\n# ///\n'
)


def test_the_block_is_read_as_the_pep_says() -> None:
    script = parse_block("import sys\n" + BLOCK + "print(1)\n", Path("/n.ipynb"))
    assert script is not None and not script.error
    assert script.dependencies == ("rich>=13",)
    assert script.requires_python == ">=3.9"
    assert script.content == 'requires-python = ">=3.9"\ndependencies = [\n  "rich>=13",\n]\n'


def test_other_blocks_and_near_misses_are_not_script_blocks() -> None:
    assert parse_block("# /// pyproject\n# x = 1\n# ///\n", Path("/n.ipynb")) is None
    assert parse_block("#/// script\n# dependencies = []\n#///\n", Path("/n.ipynb")) is None
    assert parse_block("print(1)", Path("/n.ipynb")) is None


def test_a_broken_block_says_why() -> None:
    bad = parse_block("# /// script\n# dependencies = [\n# ///\n", Path("/n.ipynb"))
    assert bad is not None and "not valid TOML" in bad.error
    twice = parse_block(BLOCK + "x = 1\n" + BLOCK, Path("/n.ipynb"))
    assert twice is not None and "more than one" in twice.error


def test_the_same_block_is_the_same_environment_and_an_edit_a_new_one(tmp_path: Path) -> None:
    write_notebook(tmp_path / "a.ipynb", BLOCK + "import rich")
    write_notebook(tmp_path / "b.ipynb", BLOCK + "print('other code')")
    write_notebook(tmp_path / "c.ipynb", BLOCK.replace("rich>=13", "rich>=14") + "import rich")
    a, b, c = (read_inline(tmp_path / n) for n in ("a.ipynb", "b.ipynb", "c.ipynb"))
    assert a is not None and b is not None and c is not None
    assert a.environment(tmp_path) == b.environment(tmp_path) != c.environment(tmp_path)


def request_for(notebook: Path) -> LaunchRequest:
    return LaunchRequest(
        cwd=str(notebook.parent),
        session_name=str(notebook),
        root_dir=notebook.parent,
        env={"PATH": "/usr/bin"},
    )


def test_with_making_on_the_block_is_planned_else_the_walk_goes_on(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, BLOCK + "import rich")
    plant_venv(tmp_path / ".venv")
    cache = tmp_path / "cache"
    on = Settings(
        making=MakingSettings(enabled=True, inline_cache_dir=cache, state_dir=tmp_path / "s")
    )
    plan = decide(request_for(notebook), on)
    assert plan.mode is LaunchMode.MAKING and plan.making is not None and plan.inline is not None
    root = plan.inline.environment(cache)
    assert [s.argv[1:3] for s in plan.making.steps] == [("venv", "--python"), ("pip", "install")]
    assert plan.making.steps[1].argv[-2:] == ("rich>=13", "ipykernel")
    assert plan.making.marker == root / MARKER_NAME and plan.making.fresh == (str(root),)
    off = decide(request_for(notebook), Settings())
    assert off.mode is LaunchMode.ENVIRONMENT and off.inline is None  # as before: the .venv
    # A made environment (marked complete) is used; without its marker it is made again.
    plant_venv(root)
    assert decide(request_for(notebook), on).mode is LaunchMode.MAKING
    (root / MARKER_NAME).write_text("{}")
    made = decide(request_for(notebook), on)
    assert made.mode is LaunchMode.ENVIRONMENT and made.environment is not None
    assert made.environment.root == root


def test_a_pinned_kernel_keeps_its_environment(tmp_path: Path) -> None:
    notebook = tmp_path / "nb.ipynb"
    write_notebook(notebook, BLOCK)
    plant_venv(tmp_path / "envs" / "gpu")
    on = Settings(making=MakingSettings(enabled=True, inline_cache_dir=tmp_path / "cache"))
    request = LaunchRequest(
        cwd=str(tmp_path), session_name=str(notebook), environment=tmp_path / "envs" / "gpu", env={}
    )
    assert decide(request, on).mode is LaunchMode.ENVIRONMENT


def test_least_recently_used_environments_beyond_the_limit_are_removed(tmp_path: Path) -> None:
    now = time.time()
    for name in ["old", "older", "new", "just-made"]:
        (tmp_path / name).mkdir()
        marker = tmp_path / name / MARKER_NAME
        marker.write_text("{}")
        age = {"old": 100, "older": 200, "new": 10, "just-made": 300}[name]
        os.utime(marker, (now - age, now - age))
    (tmp_path / "unfinished").mkdir()  # no marker: a build in progress, never touched
    removed = trim_inline_cache(tmp_path, 2, keep_also=tmp_path / "just-made")
    assert sorted(p.name for p in removed) == ["old", "older"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["just-made", "new", "unfinished"]
