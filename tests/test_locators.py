"""Environments made by every common tool, found from files and run through a real server.

poetry, pipenv, pdm and hatch are the real tools from PyPI, installed once into a
throwaway venv; pyenv is the machine's own (``~/.pyenv``, never modified: the tests
give it a ``PYENV_ROOT`` of their own). conda and pixi cannot be installed here, so
their environments are built with the real on-disk layout (a copy of a real Python
installation plus ``conda-meta/`` with conda's records), see :func:`conda_layout`.

Every tool runs with a home directory of the test's own, and so does the server: the
environments land where each tool puts them by default, and the server finds them
there by the tools' rules alone (none of the tools is on the server's ``PATH``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from envfactory import (
    PYENV_ROOT,
    copy_installation,
    install,
    python_prefix,
    python_version,
    run,
    uv,
)
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server

from project_kernels.discovery import Walk
from project_kernels.environments import Kind
from project_kernels.kinds.base import Context
from project_kernels.resolver import LaunchRequest, resolve
from project_kernels.settings import Settings

pytestmark = pytest.mark.slow

REPORT = (
    "import json, os, sys\n"
    "print(json.dumps({'prefix': sys.prefix, 'exe': sys.executable, 'env': dict(os.environ)}))"
)
#: Variables a tool's `run` sets that depend on the shell it was started from or on the
#: tool's own installation, not on the environment: left out of the comparison.
INCIDENTAL = {"PWD", "OLDPWD", "SHLVL", "_", "PDM_RUN_CWD", "PIP_PYTHON_PATH", "HATCH_UV"}


@pytest.fixture(scope="session")
def prefix_template(tmp_path_factory: pytest.TempPathFactory, base_python: Path) -> Path:
    """A copy of a real Python installation (its own packages left out) with ipykernel."""
    source = python_prefix(base_python)
    copy = copy_installation(source, tmp_path_factory.mktemp("prefix") / "python")
    if copy is None:
        pytest.skip(f"no self-contained Python installation to copy (found {source})")
    return copy


def conda_layout(template: Path, root: Path, version: str, **extra: object) -> Path:
    """A conda environment at ``root`` as conda (or pixi, through rattler) lays it out.

    conda and pixi cannot be installed here, so this copies a real Python installation
    and adds what they write: ``conda-meta/history``, one JSON record per package (here
    python's), ``conda-meta/state`` for ``conda env config vars``, and the
    ``etc/conda/activate.d`` scripts packages ship.
    """
    shutil.copytree(template, root, symlinks=True)
    meta = root / "conda-meta"
    meta.mkdir()
    build = "h2a7b5b7_0_cpython"
    (meta / "history").write_text(
        f"==> 2024-05-01 10:00:00 <==\n# cmd: conda create -p {root} python={version}\n"
        f"+conda-forge/linux-64::python-{version}-{build}\n"
    )
    record = {"name": "python", "version": version, "build": build, "channel": "conda-forge"}
    (meta / f"python-{version}-{build}.json").write_text(json.dumps(record))
    if extra.get("env_vars"):
        (meta / "state").write_text(json.dumps({"env_vars": extra["env_vars"]}))
    scripts = extra.get("activate_d") or {}
    assert isinstance(scripts, dict)
    if scripts:
        (root / "etc" / "conda" / "activate.d").mkdir(parents=True)
    for name, text in scripts.items():
        (root / "etc" / "conda" / "activate.d" / name).write_text(text)
    return root


@dataclass
class World:
    """A server root with one project per tool, and what each tool itself says."""

    root: Path
    home: Path
    #: Variables of the server and the command line: the test's home, no tool on PATH.
    env: dict[str, str]
    #: Variables the tools run with: the same home, the tools on PATH.
    tool_env: dict[str, str]
    #: Per project: where the tool itself says its environment is.
    expected: dict[str, Path] = field(default_factory=dict)
    #: Per project: what the tool's own `run`/activation adds to the variables.
    tool_variables: dict[str, dict[str, str]] = field(default_factory=dict)
    pyenv: bool = False
    #: A script printing the variables it runs with (hatch would format braces in ``-c``).
    report: Path = Path()


def home_variables(home: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYENV_ROOT": str(home / ".pyenv"),
        # The server's own, to check that activation unsets what conda's state unsets.
        "UNSET_BY_CONDA": "server's value",
    }


def clean_environ() -> dict[str, str]:
    prefixes = ("VIRTUAL_ENV", "CONDA", "POETRY_", "PIPENV_", "PDM_", "HATCH_", "PYENV", "XDG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def uv_cache_dir() -> str:
    return subprocess.check_output([uv(), "cache", "dir"], text=True).strip()


def tool_run_variables(output: str, before: dict[str, str]) -> dict[str, str]:
    """What a tool's ``run`` added or changed, from the JSON a child printed."""
    after = json.loads(output.strip().splitlines()[-1])["env"]
    return {k: v for k, v in after.items() if before.get(k) != v and k not in INCIDENTAL}


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    tools_bin: Path,
    base_python: Path,
    prefix_template: Path,
) -> World:
    """Projects made with each tool under one root, and a home where the tools keep things."""
    base = tmp_path_factory.mktemp("world")
    root, home = base / "root", base / "home"
    root.mkdir()
    home.mkdir()
    env = {**clean_environ(), **home_variables(home)}
    path = os.pathsep.join([str(tools_bin), str(base_python.parent), "/usr/bin", "/bin"])
    tool_env = {
        **env,
        "PATH": path,
        "UV_CACHE_DIR": uv_cache_dir(),
        "PIPENV_YES": "1",
        "PIPENV_NOSPIN": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    made = World(root, home, env, tool_env, report=base / "report.py")
    made.report.write_text(REPORT)
    make_poetry(made, base_python)
    make_pipenv(made, base_python)
    make_pdm(made, base_python)
    make_hatch(made, base_python)
    version = python_version(prefix_template / "bin" / "python3")
    make_conda(made, prefix_template, version)
    make_pixi(made, prefix_template, version)
    made.pyenv = make_pyenv(made, prefix_template, version)
    return made


def report_via(world: World, project: Path, *tool_run: str) -> dict[str, str]:
    """The variables a tool's own ``run`` gives a child, less what was there before."""
    output = run(*tool_run, "python", world.report, env=world.tool_env, cwd=project)
    return tool_run_variables(output, world.tool_env)


def make_poetry(world: World, python: Path) -> None:
    project = world.root / "poetry-app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "Poetry_Demo.App"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n\n'
        "[tool.poetry]\npackage-mode = false\n"
    )
    run("poetry", "env", "use", python, env=world.tool_env, cwd=project)
    where = Path(run("poetry", "env", "info", "--path", env=world.tool_env, cwd=project).strip())
    install(where / "bin" / "python", "ipykernel")
    world.expected["poetry-app"] = where
    world.tool_variables["poetry-app"] = report_via(world, project, "poetry", "run")


def make_pipenv(world: World, python: Path) -> None:
    # Spaces and brackets in the directory's name: pipenv replaces them in its name.
    project = world.root / "pipenv app [demo]"
    project.mkdir()
    (project / "Pipfile").write_text("[packages]\n\n[dev-packages]\n")
    run("pipenv", "--python", python, env=world.tool_env, cwd=project)
    where = Path(run("pipenv", "--venv", env=world.tool_env, cwd=project).strip())
    install(where / "bin" / "python", "ipykernel")
    world.expected["pipenv app [demo]"] = where
    world.tool_variables["pipenv app [demo]"] = report_via(world, project, "pipenv", "run")


def make_pdm(world: World, python: Path) -> None:
    project = world.root / "pdm-app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "pdm-app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        "dependencies = []\n\n[tool.pdm]\ndistribution = false\n"
    )
    run("pdm", "config", "venv.in_project", "false", env=world.tool_env, cwd=project)
    run("pdm", "use", "-f", python, env=world.tool_env, cwd=project)
    saved = Path((project / ".pdm-python").read_text().strip())
    install(saved, "ipykernel")
    world.expected["pdm-app"] = saved.parent.parent
    world.tool_variables["pdm-app"] = report_via(world, project, "pdm", "run")


def make_hatch(world: World, python: Path) -> None:
    project = world.root / "hatch-app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "Hatch_App"\nversion = "0.1.0"\n\n'
        '[tool.hatch.envs.default]\nskip-install = true\ninstaller = "uv"\n'
        f'python = "{python}"\ndependencies = ["ipykernel"]\n\n'
        '[tool.hatch.envs.default.env-vars]\nHATCH_DEMO = "on"\nDEMO_ROOT = "{root}"\n'
    )
    run("hatch", "env", "create", env=world.tool_env, cwd=project)
    where = Path(run("hatch", "env", "find", env=world.tool_env, cwd=project).strip())
    world.expected["hatch-app"] = where
    world.tool_variables["hatch-app"] = report_via(world, project, "hatch", "run")


def make_conda(world: World, template: Path, version: str) -> None:
    in_project = world.root / "conda-app"
    in_project.mkdir()
    conda_layout(
        template,
        in_project / ".conda",
        version,
        env_vars={"NOTEBOOK_SETTING": "from $state", "UNSET_BY_CONDA": "***unset***"},
        activate_d={
            # As packages like gdal and proj ship them: only variables.
            "gdal-data.sh": '#!/bin/sh\nexport GDAL_DATA="${CONDA_PREFIX}/share/gdal"\n',
            # As compilers ship them: conditions and commands, which need a shell.
            "compiler.sh": 'if [ -n "$CC" ]; then\n  export SAVED_CC="$CC"\nfi\nexport CC=gcc\n',
        },
    )
    world.expected["conda-app"] = in_project / ".conda"
    named = world.root / "conda-named-app"
    named.mkdir()
    (named / "environment.yml").write_text(
        "name: nbdemo  # conda env create -f environment.yml\n"
        "channels:\n  - conda-forge\ndependencies:\n  - python=3.12\n  - ipykernel\n"
    )
    # Where conda puts a named environment for a user without a conda installation of
    # their own in a writable place.
    where = conda_layout(template, world.home / ".conda" / "envs" / "nbdemo", version)
    world.expected["conda-named-app"] = where


def make_pixi(world: World, template: Path, version: str) -> None:
    project = world.root / "pixi-app"
    project.mkdir()
    (project / "pixi.toml").write_text(
        '[workspace]\nname = "pixi-demo"\nversion = "0.3.0"\nchannels = ["conda-forge"]\n'
        'platforms = ["linux-64", "osx-arm64"]\n\n[dependencies]\npython = "3.12.*"\n\n'
        '[activation.env]\nPIXI_DEMO_DATA = "$CONDA_PREFIX/share/demo"\n'
    )
    where = conda_layout(template, project / ".pixi" / "envs" / "default", version)
    (where / "conda-meta" / "pixi").write_text(
        json.dumps({"manifest_path": str(project / "pixi.toml"), "environment_name": "default"})
    )
    world.expected["pixi-app"] = where


def make_pyenv(world: World, template: Path, version: str) -> bool:
    """A pyenv root of the test's own, with a version and a pyenv-virtualenv environment."""
    pyenv = PYENV_ROOT / "bin" / "pyenv"
    if not pyenv.exists():
        return False
    root = world.home / ".pyenv"
    shutil.copytree(template, root / "versions" / version, symlinks=True)
    env = {**world.tool_env, "PATH": f"{pyenv.parent}:/usr/bin:/bin"}
    commands = run(pyenv, "commands", env=env).split()
    if "virtualenv" in commands:
        run(pyenv, "virtualenv", version, "nbvenv", env=env)
    else:
        # Only without the pyenv-virtualenv plugin: its layout, made by hand.
        run(
            root / "versions" / version / "bin" / "python3",
            "-m",
            "venv",
            root / "versions" / version / "envs" / "nbvenv",
            env=env,
        )
        (root / "versions" / "nbvenv").symlink_to(root / "versions" / version / "envs" / "nbvenv")
    install(root / "versions" / "nbvenv" / "bin" / "python", "ipykernel")
    major_minor = ".".join(version.split(".")[:2])
    for name, content in (("pyenv-app", major_minor), ("pyenv-venv-app", "nbvenv")):
        project = world.root / name
        project.mkdir()
        (project / ".python-version").write_text(f"# pinned for the notebooks\n{content}\n")
        world.expected[name] = Path(run(pyenv, "prefix", env=env, cwd=project).strip())
        output = run(pyenv, "exec", "python", world.report, env=env, cwd=project)
        added = tool_run_variables(output, env)
        world.tool_variables[name] = {
            k: v for k, v in added.items() if k in ("PATH", "PYENV_VERSION")
        }
    if "virtualenv" in commands:
        activate = run(pyenv, "sh-activate", "--quiet", env=env, cwd=world.root / "pyenv-venv-app")
        for line in activate.splitlines():
            if line.startswith("export ") and "VIRTUAL_ENV=" in line:
                name, _, value = line[len("export ") :].rstrip(";").partition("=")
                world.tool_variables["pyenv-venv-app"][name] = value.strip('"')
    return True


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    logs = tmp_path_factory.mktemp("server")
    with running_server(world.root, logs, PROJECT_KERNELS_CONFIG, env=world.env) as srv:
        yield srv


def kernel_report(server: JupyterServer, notebook: str) -> dict[str, object]:
    kernel = server.kernel_for(notebook)
    result = server.execute(kernel, REPORT)
    assert result.status == "ok", (result, server.log())
    server.request("DELETE", f"/api/kernels/{kernel}")
    return dict(json.loads(result.stdout))


def kernel_env(report: dict[str, object]) -> dict[str, str]:
    env = report["env"]
    assert isinstance(env, dict)
    return env


def assert_tool_variables(env: dict[str, str], expected: dict[str, str]) -> None:
    """The kernel has what the tool's own run/activation adds (PATH: its first entry)."""
    assert expected, "the tool's run added nothing: the comparison would prove nothing"
    for name, value in expected.items():
        if name == "PATH":
            assert env["PATH"].split(os.pathsep)[0] == value.split(os.pathsep)[0]
        else:
            assert env.get(name) == value, name


@pytest.mark.parametrize(
    ("project", "kind"),
    [
        ("poetry-app", "poetry"),
        ("pipenv app [demo]", "pipenv"),
        ("pdm-app", "pdm"),
        ("hatch-app", "hatch"),
    ],
)
def test_notebook_runs_in_the_environment_the_tool_made(
    project: str, kind: str, world: World, server: JupyterServer
) -> None:
    expected = world.expected[project]
    report = kernel_report(server, f"{project}/notebooks/analysis.ipynb")
    env = kernel_env(report)
    assert report["prefix"] == str(expected)
    assert report["exe"] == str(expected / "bin" / "python")
    assert env["VIRTUAL_ENV"] == str(expected)
    assert_tool_variables(env, world.tool_variables[project])
    walk = resolve_in(world, world.root / project / "notebooks")
    assert walk.environment is not None and walk.environment.kind is Kind(kind)


def test_pdm_wins_over_the_python_version_file_it_writes(world: World) -> None:
    # `pdm use` writes .python-version beside .pdm-python; pyenv would read it.
    assert (world.root / "pdm-app" / ".python-version").exists()
    walk = resolve_in(world, world.root / "pdm-app")
    assert walk.environment is not None and walk.environment.kind is Kind.PDM


def test_pyenv_version_named_by_python_version(world: World, server: JupyterServer) -> None:
    if not world.pyenv:
        pytest.skip(f"pyenv is not installed ({PYENV_ROOT})")
    expected = world.expected["pyenv-app"]
    report = kernel_report(server, "pyenv-app/nb.ipynb")
    env = kernel_env(report)
    assert report["exe"] == str(expected / "bin" / "python")
    assert report["prefix"] == str(expected)
    assert "VIRTUAL_ENV" not in env
    assert_tool_variables(env, world.tool_variables["pyenv-app"])


def test_pyenv_virtualenv_named_by_python_version(world: World, server: JupyterServer) -> None:
    if not world.pyenv:
        pytest.skip(f"pyenv is not installed ({PYENV_ROOT})")
    expected = world.expected["pyenv-venv-app"]
    report = kernel_report(server, "pyenv-venv-app/sub/nb.ipynb")
    env = kernel_env(report)
    assert report["exe"] == str(expected / "bin" / "python")
    assert_tool_variables(env, world.tool_variables["pyenv-venv-app"])
    assert env["VIRTUAL_ENV"] == os.path.realpath(expected)


def test_conda_environment_inside_the_project(world: World, server: JupyterServer) -> None:
    expected = world.expected["conda-app"]
    report = kernel_report(server, "conda-app/analysis/nb.ipynb")
    env = kernel_env(report)
    assert report["prefix"] == str(expected)
    assert env["CONDA_PREFIX"] == str(expected)
    assert env["CONDA_DEFAULT_ENV"] == str(expected)  # not in an envs/ directory: the path
    assert env["CONDA_SHLVL"] == "1"
    assert env["PATH"].split(os.pathsep)[0] == str(expected / "bin")
    assert "VIRTUAL_ENV" not in env
    # `conda env config vars set`, kept in conda-meta/state; "$" stays literal.
    assert env["NOTEBOOK_SETTING"] == "from $state"
    assert "UNSET_BY_CONDA" not in env
    # The activate.d script that only exports is applied; the one with a condition is not.
    assert env["GDAL_DATA"] == f"{expected}/share/gdal"
    assert "CC" not in env and "SAVED_CC" not in env


def test_conda_environment_named_by_environment_yml(world: World, server: JupyterServer) -> None:
    expected = world.expected["conda-named-app"]
    report = kernel_report(server, "conda-named-app/nb.ipynb")
    env = kernel_env(report)
    assert report["prefix"] == str(expected)
    assert env["CONDA_PREFIX"] == str(expected)
    assert env["CONDA_DEFAULT_ENV"] == "nbdemo"
    assert env["CONDA_PROMPT_MODIFIER"] == "(nbdemo) "
    assert env["UNSET_BY_CONDA"] == "server's value"


def test_pixi_default_environment(world: World, server: JupyterServer) -> None:
    expected = world.expected["pixi-app"]
    report = kernel_report(server, "pixi-app/notebooks/nb.ipynb")
    env = kernel_env(report)
    project = world.root / "pixi-app"
    assert report["prefix"] == str(expected)
    assert env["CONDA_PREFIX"] == str(expected)
    assert env["CONDA_DEFAULT_ENV"] == "pixi-demo"
    assert env["PIXI_PROJECT_ROOT"] == str(project)
    assert env["PIXI_PROJECT_NAME"] == "pixi-demo"
    assert env["PIXI_PROJECT_MANIFEST"] == str(project / "pixi.toml")
    assert env["PIXI_PROJECT_VERSION"] == "0.3.0"
    assert env["PIXI_ENVIRONMENT_NAME"] == "default"
    assert env["PIXI_ENVIRONMENT_PLATFORMS"] == "linux-64,osx-arm64"
    assert env["PIXI_PROMPT"] == "(pixi-demo) "
    assert env["PIXI_DEMO_DATA"] == f"{expected}/share/demo"


def resolve_in(world: World, directory: Path, settings: Settings | None = None) -> Walk:
    """The walk from ``directory``, with the world's variables as the server has them."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(world.env)
    try:
        request = LaunchRequest(cwd=str(directory), root_dir=world.root)
        walk = resolve(request, settings or Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert walk is not None
    return walk


def test_precedence_when_every_kind_applies_at_one_level(world: World) -> None:
    """The documented order: each marker removed in turn hands over to the next kind."""
    from project_kernels.kinds import hatch, pipenv, poetry

    project = world.root / "every-kind"
    project.mkdir()
    run(uv(), "venv", "--quiet", project / ".venv", env=world.tool_env)
    (project / "pixi.toml").write_text('[workspace]\nname = "every"\nplatforms = ["linux-64"]\n')
    (project / ".pixi" / "envs").mkdir(parents=True)
    (project / ".pixi" / "envs" / "default").symlink_to(world.expected["pixi-app"])
    (project / ".conda").symlink_to(world.expected["conda-app"])
    (project / ".pdm-python").write_text(str(world.expected["pdm-app"] / "bin" / "python"))
    pyproject = '[project]\nname = "every-kind"\nversion = "1"\n'
    (project / "pyproject.toml").write_text(pyproject + "\n[tool.poetry]\npackage-mode = false\n")
    venvs = world.home / ".cache" / "pypoetry" / "virtualenvs"
    base = poetry.env_name_base("every-kind", project)
    (venvs / f"{base}-py3.12").symlink_to(world.expected["poetry-app"])
    (project / "Pipfile").write_text("[packages]\n")
    context = _context(world)
    (pipenv.workon_home(context) / pipenv.env_name(project, context)).symlink_to(
        world.expected["pipenv app [demo]"]
    )
    hatch_root = hatch.env_root(project, {"project": {"name": "every-kind"}}, context)
    hatch_root.parent.mkdir(parents=True)
    hatch_root.symlink_to(world.expected["hatch-app"])
    (project / "environment.yml").write_text("name: nbdemo\n")
    (project / ".python-version").write_text("3.12\n")

    def drop_poetry() -> None:
        (project / "pyproject.toml").write_text(pyproject)

    steps: list[tuple[Kind, Callable[[], object]]] = [
        (Kind.UV, lambda: shutil.rmtree(project / ".venv")),
        (Kind.PIXI, (project / "pixi.toml").unlink),
        (Kind.CONDA, (project / ".conda").unlink),
        (Kind.PDM, (project / ".pdm-python").unlink),
        (Kind.POETRY, drop_poetry),
        (Kind.PIPENV, (project / "Pipfile").unlink),
        (Kind.HATCH, (project / "pyproject.toml").unlink),
        (Kind.CONDA, (project / "environment.yml").unlink),
    ]
    if world.pyenv:
        steps.append((Kind.PYENV, (project / ".python-version").unlink))
    else:
        (project / ".python-version").unlink()
    seen: list[Kind] = []
    for _, remove in steps:
        walk = resolve_in(world, project / "notebooks")
        assert walk.environment is not None, seen
        seen.append(walk.environment.kind)
        remove()
    assert seen == [kind for kind, _ in steps]
    assert resolve_in(world, project / "notebooks").environment is None


def _context(world: World) -> Context:
    return Context(environ=world.env, home=world.home)


def test_restricting_the_kinds_looked_for(world: World, tmp_path: Path) -> None:
    project = world.root / "venv-and-conda"
    project.mkdir()
    run(uv(), "venv", "--quiet", project / ".venv", env=world.tool_env)
    (project / ".conda").symlink_to(world.expected["conda-app"])
    only_conda = Settings(environment_kinds=frozenset({Kind.CONDA}))
    walk = resolve_in(world, project, only_conda)
    assert walk.environment is not None and walk.environment.kind is Kind.CONDA
    assert [c.path for c in walk.candidates] == [project / ".conda"]  # .venv not even looked at
    conda_or_venv = Settings(environment_kinds=frozenset({Kind.CONDA, Kind.VENV}))
    walk = resolve_in(world, project, conda_or_venv)
    assert walk.environment is not None and walk.environment.kind is Kind.CONDA
    assert walk.candidates[0].path == project / ".venv"
    assert walk.candidates[0].skipped == (
        "is a uv environment, and environment_kinds allows only conda, venv"
    )
    nothing_but_pixi = Settings(environment_kinds=frozenset({Kind.PIXI}))
    assert resolve_in(world, project, nothing_but_pixi).environment is None
    assert resolve_in(world, project).environment.kind is Kind.UV  # type: ignore[union-attr]

    config = PROJECT_KERNELS_CONFIG + 'c.ProjectKernels.environment_kinds = ["conda"]\n'
    with running_server(world.root, tmp_path, config, env=world.env) as srv:
        conda = kernel_report(srv, "venv-and-conda/nb.ipynb")
        assert conda["prefix"] == str(project / ".conda")
        # Only conda is looked for: poetry's environment is not, so the stock kernel runs.
        stock = kernel_report(srv, "poetry-app/nb.ipynb")
        assert stock["exe"] == sys.executable


def which(world: World, directory: Path, *flags: str) -> str:
    """``project-kernels which``'s output (text folded for a terminal is unfolded)."""
    output = run(
        sys.executable, "-m", "project_kernels", "which", directory,
        "--root-dir", world.root, *flags, env=world.env,
    )  # fmt: skip
    return output if "--json" in flags else " ".join(output.split())


def test_which_reports_the_kind_and_why(world: World) -> None:
    poetry_app = world.root / "poetry-app"
    (poetry_app / "notebooks").mkdir(exist_ok=True)  # which asks about paths that exist
    text = which(world, poetry_app / "notebooks")
    assert f"Launches: {world.expected['poetry-app'] / 'bin' / 'python'}" in text
    assert "Kind: poetry " in text
    assert (
        f"Chosen as the environment poetry uses for {poetry_app / 'pyproject.toml'}: "
        f"{world.expected['poetry-app'].name} in {world.expected['poetry-app'].parent} "
        "(the Python recorded for it in envs.toml)." in text
    )
    report = json.loads(which(world, world.root / "conda-app", "--json"))
    environment = report["environment"]
    assert environment["kind"] == "conda"
    assert environment["path"] == str(world.expected["conda-app"])
    assert (
        environment["reason"] == "conda environment in the directory '.conda' nearest the notebook"
    )
    assert len(environment["notes"]) == 1
    assert "compiler.sh was not applied: line 1" in environment["notes"][0]
    text = which(world, world.root / "conda-app")
    assert "Kind: conda " in text
    assert "Note: The activation script" in text and "does more than set variables" in text


def test_kernel_picker_lists_tool_environments_inside_the_root(
    world: World, tmp_path: Path
) -> None:
    config = PROJECT_KERNELS_CONFIG + "c.ProjectKernelSpecManager.list_environments = True\n"
    expected = {world.expected["pixi-app"], world.expected["conda-app"]}
    with running_server(world.root, tmp_path, config, env=world.env) as srv:
        deadline = time.monotonic() + 120  # the first scan, on a loaded machine
        while True:
            specs = srv.request("GET", "/api/kernelspecs")
            assert specs.status_code == 200, srv.log()
            listed = {
                name: spec["spec"]["metadata"]["kernel_provisioner"]["config"]["environment"]
                for name, spec in specs.json()["kernelspecs"].items()
                if name != "python3"
            }
            if expected <= {Path(p) for p in listed.values()} or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert expected <= {Path(p) for p in listed.values()}
        # Environments kept outside the root (poetry's, pipenv's, ...) are not listed.
        assert all(Path(p).is_relative_to(world.root) for p in listed.values())
        pixi_kernel = next(n for n, p in listed.items() if Path(p) == world.expected["pixi-app"])
        kernel = srv.kernel_for("pixi-app/nb.ipynb", pixi_kernel)
        result = srv.execute(kernel, REPORT)
        assert result.status == "ok", (result, srv.log())
        report = json.loads(result.stdout)
        assert report["prefix"] == str(world.expected["pixi-app"])
        assert report["env"]["PIXI_PROJECT_NAME"] == "pixi-demo"
