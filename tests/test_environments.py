"""Inspection reads what an environment is from its files, without running anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from envfactory import install, make_env, pyenv_python
from packaging.version import Version

from project_kernels.environments import (
    Kind,
    NotAnEnvironment,
    ProblemCode,
    find_distribution_version,
    inspect_venv,
    parse_python_version,
    read_pyvenv_cfg,
)

OWN = Version(f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}")


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real environment per tool, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("envs")
    made = {}
    for tool in ("venv", "uv", "virtualenv"):
        make_env(root / tool, tool)
        made[tool] = root / tool
    make_env(root / "bare", "venv", ipykernel=False)
    made["bare"] = root / "bare"
    return made


@pytest.mark.parametrize(
    ("tool", "kind"), [("venv", Kind.VENV), ("uv", Kind.UV), ("virtualenv", Kind.VIRTUALENV)]
)
def test_the_tool_that_made_it_python_and_ipykernel(
    tool: str, kind: Kind, envs: dict[str, Path]
) -> None:
    env = inspect_venv(envs[tool])
    assert env.kind is kind
    assert env.interpreter == envs[tool] / "bin" / "python"
    assert env.python_version == OWN
    assert env.ipykernel_version is not None and env.ipykernel_version >= Version("6")
    assert env.usable and env.problems == ()


def test_the_interpreter_is_the_symlink_not_its_target(envs: dict[str, Path]) -> None:
    env = inspect_venv(envs["venv"])
    assert env.interpreter.is_symlink()
    assert env.bin_dir == envs["venv"] / "bin"


def test_no_ipykernel_is_a_problem_with_the_install_command(envs: dict[str, Path]) -> None:
    env = inspect_venv(envs["bare"])
    assert [p.code for p in env.problems] == [ProblemCode.NO_IPYKERNEL]
    assert env.problems[0].fix == f"Install it: {envs['bare']}/bin/python -m pip install ipykernel"


def test_a_uv_environment_is_repaired_with_uv(tmp_path: Path) -> None:
    make_env(tmp_path / "env", "uv", ipykernel=False)
    (fix,) = [p.fix for p in inspect_venv(tmp_path / "env").problems]
    assert fix == f"Install it: uv pip install --python {tmp_path}/env/bin/python ipykernel"


@pytest.mark.interpreter
def test_system_site_packages_count_the_bases_ipykernel(
    tmp_path: Path, base_with_ipykernel: Path
) -> None:
    make_env(
        tmp_path / "env",
        "venv",
        python=base_with_ipykernel,
        ipykernel=False,
        system_site_packages=True,
    )
    env = inspect_venv(tmp_path / "env")
    assert env.system_site_packages
    assert env.ipykernel_version is not None and env.usable


def test_an_old_ipykernel_is_a_problem(tmp_path: Path) -> None:
    python = make_env(tmp_path / "env", "uv", ipykernel=False)
    install(python, "ipykernel==5.5.6")
    env = inspect_venv(tmp_path / "env")
    assert env.ipykernel_version == Version("5.5.6")
    assert [p.code for p in env.problems] == [ProblemCode.IPYKERNEL_TOO_OLD]


def test_python_of_another_version(tmp_path: Path) -> None:
    python = pyenv_python("3.12")
    if python is None:
        pytest.skip("no Python 3.12 under pyenv")
    make_env(tmp_path / "env", "uv", python=python, ipykernel=False)
    assert inspect_venv(tmp_path / "env").python_version is not None
    assert inspect_venv(tmp_path / "env").python_version.release[:2] == (3, 12)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_text("x"), "is a file, not a directory"),
        (lambda p: p.mkdir(), "is a directory without pyvenv.cfg, so not a virtual environment"),
        (
            lambda p: (p.mkdir(), (p / "pyvenv.cfg").write_text("home = /usr/bin\n")),
            "has pyvenv.cfg but no bin/python",
        ),
    ],
)
def test_lookalikes_are_not_environments(make: object, reason: str, tmp_path: Path) -> None:
    make(tmp_path / ".venv")  # type: ignore[operator]
    with pytest.raises(NotAnEnvironment, match=reason):
        inspect_venv(tmp_path / ".venv")


def test_a_dangling_interpreter_means_the_base_is_gone(tmp_path: Path) -> None:
    env = tmp_path / ".venv"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(tmp_path / "gone" / "python3.11")
    (env / "pyvenv.cfg").write_text(f"home = {tmp_path / 'gone'}\nversion = 3.11.7\n")
    (problem,) = inspect_venv(env).problems
    assert problem.code is ProblemCode.BASE_MISSING
    assert f"points to {tmp_path / 'gone' / 'python3.11'}, which does not exist" in problem.summary


def test_a_broken_link_chain_names_its_last_link_and_the_missing_target(tmp_path: Path) -> None:
    # venv made by a Python reached through a link named python3.X, as a distribution's
    # (or a module's) bin/python3.X is: bin/python -> python3.X -> <base>/bin/python3.X.
    xy = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = tmp_path / "base" / "bin"
    base.mkdir(parents=True)
    (base / xy).symlink_to(os.path.realpath(sys.executable))
    subprocess.run(
        [str(base / xy), "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True
    )
    interpreter = tmp_path / ".venv" / "bin" / "python"
    assert os.readlink(interpreter) == xy  # the chain as venv makes it
    shutil.rmtree(tmp_path / "base")  # the base Python is removed

    (problem,) = inspect_venv(tmp_path / ".venv").problems
    assert problem.code is ProblemCode.BASE_MISSING
    assert (
        f"({interpreter.parent / xy} points to {base / xy}, which does not exist; "
        f"{interpreter} leads there)" in problem.summary
    )


def test_read_pyvenv_cfg_like_site() -> None:
    assert read_pyvenv_cfg("home = /usr/bin\nInclude-System-Site-Packages = true\njunk\n") == {
        "home": "/usr/bin",
        "include-system-site-packages": "true",
    }


@pytest.mark.parametrize(
    ("text", "version"),
    [("3.11.7", "3.11.7"), ("3.12.1.final.0", "3.12.1"), ("3.13", "3.13"), ("", None), ("x", None)],
)
def test_parse_python_version(text: str, version: str | None) -> None:
    assert parse_python_version(text) == (Version(version) if version else None)


def test_distribution_names_are_normalised(tmp_path: Path) -> None:
    (tmp_path / "Jupyter_Client-8.1.0.dist-info").mkdir()
    (tmp_path / "ipykernel-6.29.5.dist-info").mkdir()
    assert find_distribution_version("jupyter-client", [tmp_path]) == Version("8.1.0")
    assert find_distribution_version("ipykernel", [tmp_path / "missing", tmp_path]) == Version(
        "6.29.5"
    )
    assert find_distribution_version("pip", [tmp_path]) is None
