"""Each tool's rules, checked against the tool itself where it can answer without making an
environment (hatch, poetry, pdm, pyenv, bash), and against real files otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from envfactory import PYENV_ROOT
from envfactory import run as sh

from project_kernels.activation import activated
from project_kernels.environments import Environment, Kind
from project_kernels.kinds import conda, hatch, pixi, poetry
from project_kernels.kinds.base import Context, Level, ToolOptions, yaml_value
from project_kernels.kinds.pdm import venv_location
from project_kernels.kinds.pyenv import read_version_file, resolve_version
from project_kernels.kinds.shell import parse, read_script


def context_for(home: Path, **environ: str) -> Context:
    return Context(environ={"HOME": str(home), **environ}, home=home)


def tool_environ(home: Path, tools: Path, **extra: str) -> dict[str, str]:
    keep = ("LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    base = {k: v for k, v in os.environ.items() if k in keep}
    return {**base, "HOME": str(home), "PATH": f"{tools}:/usr/bin:/bin", **extra}


# hatch: `hatch env find` computes where the default environment lives without making it.

HATCH_CASES = {
    "named project": ('[project]\nname = "Some_Thing.Else"\nversion = "1"\n', {}, ""),
    "no [project] table": ("[tool.hatch.envs.default]\nskip-install = true\n", {}, ""),
    "HATCH_DATA_DIR": ('[project]\nname = "data-dir"\n', {"HATCH_DATA_DIR": "{tmp}/data"}, ""),
    "virtual dir in the project": (
        '[project]\nname = "flat"\n',
        {},
        '[dirs.env]\nvirtual = ".hatch"\n',
    ),
    "data dir in config": ('[project]\nname = "cfg"\n', {}, '[dirs]\ndata = "{tmp}/hatch-data"\n'),
    "path option": (
        '[project]\nname = "own-path"\n[tool.hatch.envs.default]\npath = "envs/dev"\n',
        {},
        "",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HATCH_CASES))
def test_hatch_environment_path_is_hatchs(case: str, tools_bin: Path, tmp_path: Path) -> None:
    pyproject, variables, config = HATCH_CASES[case]
    home, project = tmp_path / "home", tmp_path / "my project"
    home.mkdir()
    project.mkdir()
    (project / "pyproject.toml").write_text(pyproject)
    extra = {k: v.format(tmp=tmp_path) for k, v in variables.items()}
    if config:
        (tmp_path / "config.toml").write_text(config.format(tmp=tmp_path))
        extra["HATCH_CONFIG"] = str(tmp_path / "config.toml")
    env = tool_environ(home, tools_bin, **extra)
    found = Path(sh("hatch", "env", "find", env=env, cwd=project).strip())
    level = Level(project)
    assert hatch.env_root(project, level.pyproject() or {}, context_for(home, **extra)) == found


# poetry: `poetry config virtualenvs.path` resolves the configuration as poetry reads it;
# poetry's own EnvManager.generate_env_name gives the name.


@pytest.mark.slow
def test_poetry_virtualenvs_path_is_poetrys(tools_bin: Path, tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "proj"
    home.mkdir()
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "1"\n\n[tool.poetry]\npackage-mode = false\n'
    )
    config_dir = home / ".config" / "pypoetry"
    config_dir.mkdir(parents=True)
    setups: list[tuple[dict[str, str], str, str]] = [
        ({}, "", ""),
        ({"POETRY_CACHE_DIR": str(tmp_path / "cache")}, "", ""),
        ({"POETRY_VIRTUALENVS_PATH": str(tmp_path / "venvs")}, "", ""),
        ({}, f'cache-dir = "{tmp_path}/global-cache"\n', ""),
        ({}, f'cache-dir = "{tmp_path}/gc"\n', '[virtualenvs]\npath = "{cache-dir}/local"\n'),
        ({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, "", ""),
    ]
    for variables, global_config, local_config in setups:
        (config_dir / "config.toml").write_text(global_config)
        (project / "poetry.toml").write_text(local_config)
        env = tool_environ(home, tools_bin, **variables)
        told = sh("poetry", "config", "virtualenvs.path", env=env, cwd=project).strip()
        settings = poetry._Settings(context_for(home, **variables), project)
        assert settings.virtualenvs_path() == Path(told), (variables, global_config, local_config)


@pytest.mark.slow
def test_poetry_environment_name_is_poetrys(tools_bin: Path, tmp_path: Path) -> None:
    names = ["demo", "My_Project.Name", "x" * 60, "with space"]
    code = (
        "import sys\nfrom poetry.core.packages.package import Package\n"
        "from poetry.utils.env import EnvManager\n"
        "for name in sys.argv[2:]:\n"
        "    print(EnvManager.generate_env_name(Package(name, '1').name, sys.argv[1]))\n"
    )
    (tmp_path / "link").symlink_to(tmp_path)
    project = tmp_path / "link"  # poetry hashes the real path
    told = sh(tools_bin / "python", "-c", code, project, *names, env=dict(os.environ))
    assert told.split() == [poetry.env_name_base(name, project) for name in names]


@pytest.mark.slow
def test_pdm_venv_location_is_pdms(tools_bin: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for variables in ({}, {"XDG_DATA_HOME": str(tmp_path / "data")}):
        env = tool_environ(home, tools_bin, **variables)
        told = sh("pdm", "config", "venv.location", env=env, cwd=tmp_path).strip()
        assert venv_location(context_for(home, **variables)) == Path(told)
    env = tool_environ(home, tools_bin)
    sh("pdm", "config", "venv.location", str(tmp_path / "central"), env=env, cwd=tmp_path)
    assert venv_location(context_for(home)) == tmp_path / "central"


# pyenv: `pyenv version-name` in a directory with a .python-version, under a PYENV_ROOT
# of the test's own (pyenv only looks at which version directories exist).

PYENV_VERSIONS = [
    "3.11.4",
    "3.12.1",
    "3.12.2",
    "3.12.10",
    "3.13.0",
    "3.13.0t",
    "3.14.0a1",
    "3.12-dev",
    "pypy3.10-7.3.12",
    "miniconda3-latest",
    "anaconda3-2024.02-1",
]
PYENV_NAMES = [
    "3.12",
    "3",
    "3.13",
    "3.13t",
    "python-3.11.4",
    "3.11",
    "pypy3.10",
    "anaconda3",
    "nbenv",
    "3.12.1/envs/nbenv",
    "3.9",
    "../../etc",
]


@pytest.mark.parametrize("name", PYENV_NAMES)
def test_pyenv_resolves_names_as_pyenv_does(name: str, tmp_path: Path) -> None:
    pyenv = PYENV_ROOT / "bin" / "pyenv"
    if not pyenv.exists():
        pytest.skip(f"pyenv is not installed ({PYENV_ROOT})")
    versions = tmp_path / "pyenv" / "versions"
    for version in PYENV_VERSIONS:
        (versions / version).mkdir(parents=True)
    (versions / "3.12.1" / "envs" / "nbenv").mkdir(parents=True)
    (versions / "nbenv").symlink_to(versions / "3.12.1" / "envs" / "nbenv")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".python-version").write_text(f"{name}\n")
    env = {"HOME": str(tmp_path), "PYENV_ROOT": str(versions.parent), "PATH": "/usr/bin:/bin"}
    told = subprocess.run(
        [str(pyenv), "version-name"], env=env, cwd=project, capture_output=True, text=True
    )
    ours = [resolve_version(versions, n) for n in read_version_file(f"{name}\n", versions)]
    if told.returncode != 0:
        assert ours == [None], told.stderr  # named, but not installed
    elif told.stdout.strip() == "system":
        assert ours == []  # ignored as unsafe: pyenv falls back to the system Python
    else:
        assert ours == [told.stdout.strip()]


def test_python_version_file_reading() -> None:
    text = "# the team's Python\n\n3.12.1 trailing words\r\n  pypy3.10  \nsystem\n"
    assert read_version_file(text) == ["3.12.1", "pypy3.10", "system"]


# Activation scripts: what bash itself makes of those that only assign.

HONOURED = {
    "exports": (
        'export GDAL_DATA=$CONDA_PREFIX/share/gdal\nexport PROJ_DATA="${CONDA_PREFIX}/proj"\n'
    ),
    "quotes": 'export A=\'literal $HOME\'\nexport B="in \\"quotes\\" \\$x"\nexport C=a\\ b\n',
    "defaults": "export D=${UNSET_THING:-fallback}/x\nexport E=${HOME:-nope}\n",
    "path": 'export PATH="$CONDA_PREFIX/extra:$PATH"\n',
    "unset": "export GONE=1\nunset GONE SERVER_ONLY\n",
    "comments": "#!/bin/sh\n# set up\n\nexport F=1  # trailing comment\nexport G=2;\n",
    "export without value": "export HOME\nexport H=$HOME\n",
}


@pytest.mark.parametrize("case", list(HONOURED))
def test_scripts_that_only_assign_match_bash(case: str, tmp_path: Path) -> None:
    script = tmp_path / "activate.sh"
    script.write_text(HONOURED[case])
    base = {"HOME": "/home/ada", "PATH": "/usr/bin:/bin", "SERVER_ONLY": "x", "CONDA_PREFIX": "/c"}
    shell = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", f'. "{script}"; env -0'],
        env=base,
        capture_output=True,
        check=True,
    )
    expected = dict(line.split("=", 1) for line in shell.stdout.decode().split("\0") if line)
    for incidental in ("PWD", "SHLVL", "_"):
        expected.pop(incidental, None)
    read = read_script(script)
    assert read.refused is None
    environment = Environment(
        root=Path("/c"),
        kind=Kind.CONDA,
        interpreter=Path("/c/bin/python"),
        activation_exports=read.exports,
    )
    ours = activated(environment, base)
    # Activation's own work (CONDA_* and bin/ on PATH) is done before the scripts run.
    for name in ("CONDA_DEFAULT_ENV", "CONDA_SHLVL"):
        ours.pop(name)
    expected["PATH"] = expected["PATH"].replace("/c/extra:", "/c/extra:/c/bin:")
    if case != "path":
        expected["PATH"] = "/c/bin:" + expected["PATH"]
    assert ours == expected


REFUSED = {
    'if [ -n "$CC" ]; then export SAVED=$CC; fi': "does more than set variables",
    "export A=$(uname)": "uses $(, which needs a shell",
    "export A=`uname`": "uses '`'",
    "source other.sh": "does more than set variables",
    "export A=${B//x/y}": "uses ${B//x/y}, which needs a shell",
    "export A=1 B=2": "does more than set one variable",
    "export A=$1": "uses $1, which needs a shell",
    "export A='open": "has an unterminated quote",
}


@pytest.mark.parametrize("line", list(REFUSED))
def test_scripts_doing_more_are_left_out_with_the_line(line: str, tmp_path: Path) -> None:
    script = tmp_path / "x.sh"
    script.write_text(f"export OK=1\n{line}\n")
    read = read_script(script)
    assert read.exports == ()
    assert read.refused is not None
    assert read.refused.startswith(f"line 2 ({line!r}) ")
    assert read.refused.endswith(REFUSED[line])


def test_plain_assignments_are_taken_as_exports() -> None:
    assert parse("X=1\nY=$X/2\n") == [("X", "1"), ("Y", "${X}/2")]


# conda: environment.yml, .condarc, and where named environments are looked for.


def test_yaml_subset() -> None:
    text = (
        "name: 'my env'  # quoted\nprefix: /opt/envs/my env\nenvs_dirs:\n  - ~/envs\n"
        '  - "/shared/conda envs"\n\nchannels: [conda-forge, bioconda]\ndependencies:\n'
        "  - python=3.12\n"
    )
    assert yaml_value(text, "name") == "my env"
    assert yaml_value(text, "prefix") == "/opt/envs/my env"
    assert yaml_value(text, "envs_dirs") == ["~/envs", "/shared/conda envs"]
    assert yaml_value(text, "channels") == ["conda-forge", "bioconda"]
    assert yaml_value(text, "missing") is None


def test_conda_envs_dirs_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".conda").mkdir(parents=True)
    (home / ".condarc").write_text("envs_dirs:\n  - ~/condarc-envs\n")
    (tmp_path / "extra.condarc").write_text("envs_dirs: [/extra/envs]\n")
    context = Context(
        environ={
            "CONDA_ENVS_PATH": f"{tmp_path}/a:{tmp_path}/b",
            "CONDARC": str(tmp_path / "extra.condarc"),
            "CONDA_EXE": str(tmp_path / "miniforge3" / "bin" / "conda"),
        },
        home=home,
        options=ToolOptions(conda_envs_dirs=(tmp_path / "configured",)),
    )
    assert conda.envs_dirs(context)[:7] == [
        tmp_path / "configured",
        tmp_path / "a",
        tmp_path / "b",
        Path("/extra/envs"),
        home / "condarc-envs",
        tmp_path / "miniforge3" / "envs",
        home / ".conda" / "envs",
    ]


def test_named_conda_environment_from_environments_txt_and_missing(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".conda").mkdir(parents=True)
    project.mkdir()
    (project / "environment.yaml").write_text('name: "analysis"\n')
    elsewhere = tmp_path / "shared" / "analysis"
    (elsewhere / "conda-meta").mkdir(parents=True)
    (elsewhere / "bin").mkdir()
    (elsewhere / "bin" / "python").symlink_to(sys.executable)
    context = context_for(home)
    missing = list(conda.locate_named(Level(project), context))
    assert len(missing) == 1 and missing[0].environment is None
    declared = missing[0].declared
    assert declared is not None and declared.project == project
    assert declared.command == ("conda", "env", "create", "-f", "environment.yaml")
    (home / ".conda" / "environments.txt").write_text(f"/somewhere/else\n{elsewhere}\n")
    found = list(conda.locate_named(Level(project), context))
    assert found[0].environment is not None and found[0].environment.root == elsewhere
    assert "recorded in ~/.conda/environments.txt" in found[0].environment.reason
    variables = found[0].environment.extra_variables
    assert variables["CONDA_DEFAULT_ENV"] == str(elsewhere)  # not inside an envs/ directory


# pixi: the manifest's variables for another environment than the default, from pyproject.


def test_pixi_named_environment_from_pyproject(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "py-pixi"\nversion = "2.0"\n\n'
        '[tool.pixi.workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n\n'
        '[tool.pixi.activation.env]\nLEVEL = "default"\nBASE_ONLY = "1"\n\n'
        '[tool.pixi.feature.gpu.activation.env]\nLEVEL = "gpu"\n\n'
        '[tool.pixi.feature.gpu.target.linux-64.activation.env]\nTARGET = "linux"\n\n'
        '[tool.pixi.environments]\ncuda = ["gpu"]\n'
    )
    root = project / ".pixi" / "envs" / "cuda"
    (root / "conda-meta").mkdir(parents=True)
    (root / "bin").mkdir()
    shutil.copy(sys.executable, root / "bin" / "python")
    context = Context(environ={}, home=tmp_path, options=ToolOptions(pixi_environment="cuda"))
    [candidate] = pixi.locate(Level(project), context)
    environment = candidate.environment
    assert environment is not None and environment.kind is Kind.PIXI
    assert environment.extra_variables["CONDA_DEFAULT_ENV"] == "py-pixi:cuda"
    assert environment.extra_variables["PIXI_PROMPT"] == "(py-pixi:cuda) "
    assert environment.extra_variables["PIXI_PROJECT_VERSION"] == "2.0"
    assert environment.extra_variables["PIXI_PROJECT_MANIFEST"] == str(project / "pyproject.toml")
    assert dict(environment.activation_exports) == {
        "LEVEL": "gpu",
        "BASE_ONLY": "1",
        "TARGET": "linux",
    }
    other = Context(environ={}, home=tmp_path, options=ToolOptions(pixi_environment="docs"))
    [missing] = pixi.locate(Level(project), other)
    assert missing.declared is not None
    assert missing.declared.command == ("pixi", "install", "-e", "docs")
