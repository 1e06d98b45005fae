"""Made on first open with each project's own tool: real poetry, pdm, pipenv and hatch.

The tools come from PyPI into a throwaway environment (as in ``test_locators``) and are
given to the server by ``c.ProjectKernels.tool_paths``; they keep their environments in
a home of the test's own. Each project depends on a local wheel, and does not depend on
ipykernel: opening its notebook makes the environment with the tool, adds ipykernel,
and the notebook's code runs there. All four are opened at once, on one server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from envfactory import uv
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server
from making import LOCAL, local_wheel, runs_in, tools_environ

pytestmark = pytest.mark.slow

TOOLS = ("poetry", "pdm", "pipenv", "hatch")


def projects(root: Path, wheel: Path) -> dict[str, Path]:
    """One project per tool, as cloned: its files, no environment."""
    url = f"localdep @ {wheel.as_uri()}"
    files = {
        "poetry": {
            "pyproject.toml": (
                '[project]\nname = "poetry-app"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                f'dependencies = ["{url}"]\n\n[tool.poetry]\npackage-mode = false\n'
            )
        },
        "pdm": {
            "pyproject.toml": (
                '[project]\nname = "pdm-app"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                f'dependencies = ["{url}"]\n\n[tool.pdm]\ndistribution = false\n'
            )
        },
        "pipenv": {"Pipfile": f'[packages]\nlocaldep = {{file = "{wheel}"}}\n\n[dev-packages]\n'},
        "hatch": {
            "pyproject.toml": (
                '[project]\nname = "hatch-app"\nversion = "0.1"\n\n'
                '[tool.hatch.envs.default]\nskip-install = true\ninstaller = "uv"\n'
                f'dependencies = ["{url}"]\n'
            )
        },
    }
    made = {}
    for tool, contents in files.items():
        project = root / f"{tool}-app"
        project.mkdir()
        for name, text in contents.items():
            (project / name).write_text(text)
        made[tool] = project
    return made


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
    tools_bin: Path,
) -> Iterator[tuple[JupyterServer, dict[str, Path]]]:
    base = tmp_path_factory.mktemp("tools-making")
    root, home = base / "root", base / "home"
    root.mkdir()
    home.mkdir()
    made = projects(root, local_wheel(base))
    cache = subprocess.check_output([uv(), "cache", "dir"], text=True).strip()
    python_dir = Path(sys.base_prefix) / "bin"
    env = {
        **tools_environ(home),
        "PATH": os.pathsep.join([str(python_dir), "/usr/bin", "/bin"]),
        "UV_CACHE_DIR": cache,
        "UV_PYTHON_DOWNLOADS": "never",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    paths = {tool: str(tools_bin / tool) for tool in TOOLS}
    config = (
        PROJECT_KERNELS_CONFIG
        + "c.ProjectKernels.create_environments = True\n"
        + f"c.ProjectKernels.tool_paths = {paths!r}\n"
    )
    with running_server(root, base, config, env=env) as server:
        yield server, made


def test_each_tool_makes_its_projects_environment_at_first_open(
    setup: tuple[JupyterServer, dict[str, Path]],
) -> None:
    server, made = setup
    kernels: dict[str, str] = {}

    def open_notebook(tool: str) -> None:
        kernels[tool] = server.kernel_for(f"{tool}-app/nb.ipynb")

    threads = [threading.Thread(target=open_notebook, args=(tool,)) for tool in TOOLS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    prefixes = {}
    said = [line for line in server.log().splitlines() if "project-kernels" in line]
    for tool in TOOLS:
        prefixes[tool] = Path(runs_in(server, kernels[tool]).stdout.strip())
        answer = server.execute(kernels[tool], LOCAL)
        assert answer.stdout.strip() == "42", (tool, prefixes[tool], answer.error, said)
    assert all(p != Path(sys.prefix) for p in prefixes.values())
    assert prefixes["pdm"] == made["pdm"] / ".venv"  # pdm's default: in the project
    assert (made["poetry"] / "poetry.lock").is_file()  # poetry locked it, as it does
    log = server.log()
    for tool, command in (
        ("poetry", "poetry install"),
        ("pdm", "pdm install"),
        ("pipenv", "pipenv install"),
        ("hatch", "hatch env create"),
    ):
        assert f"Making the {tool} environment of {made[tool]}" in log, (tool, log[-3000:])
        assert command in log
