"""The kernel picker: the environments under the server's root, listed as kernelspecs.

Real environments at several depths, a real server with ``list_environments`` on,
real kernels launched from the listed names, and a tree of tens of thousands of
directories to show that scanning never holds up the server.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from envfactory import make_env, pyenv_python, uv
from envfactory import run as run_tool
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server
from planted import PYTHON, plant_venv

from project_kernels.environments import ProblemCode
from project_kernels.picker import VALID_NAME, Found, display_name, kernel_name, scan_for_listing
from project_kernels.report import PROBLEM_LABELS

pytestmark = pytest.mark.slow

PICKER_CONFIG = PROJECT_KERNELS_CONFIG + (
    "c.ProjectKernelSpecManager.list_environments = True\n"
    "c.ProjectKernelSpecManager.list_refresh_interval = 1.0\n"
)


def bare_env(path: Path) -> None:
    """An environment without ipykernel (uv makes one in milliseconds)."""
    run_tool(uv(), "venv", "--quiet", "--python", sys.executable, path)


def kernelspecs(server: JupyterServer) -> dict[str, dict[str, Any]]:
    response = server.request("GET", "/api/kernelspecs")
    assert response.status_code == 200, response.text
    return dict(response.json()["kernelspecs"])


def listed(server: JupyterServer) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in kernelspecs(server).items() if k != "python3"}


def wait_for(server: JupyterServer, present: str, absent: str = "", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = listed(server)
        if (not present or present in names) and (not absent or absent not in names):
            return
        time.sleep(0.3)
    raise AssertionError(f"listing never had {present!r} / lost {absent!r}: {sorted(names)}")


#: The labels the status bar shows too (src/__tests__/label.spec.ts reads the same cases).
LABEL_CASES = json.loads((Path(__file__).parent / "labels.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", LABEL_CASES["cases"], ids=lambda case: case["label"])
def test_a_listed_environment_is_named_as_the_status_bar_names_it(case: dict[str, Any]) -> None:
    plan = case["plan"]
    problems = plan["problems"]
    found = Found(
        Path(plan["environment"]),
        plan["python_version"],
        ProblemCode(problems[0]["code"]) if problems else None,
    )
    assert display_name(found, plan["relative"]) == case["label"]
    for problem in problems:
        assert PROBLEM_LABELS[ProblemCode(problem["code"])] == problem["label"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Environments at depths 1 to 3, and some that must not be listed."""
    root = tmp_path_factory.mktemp("picker") / "root"
    python312 = pyenv_python("3.12")
    make_env(root / "analysis" / ".venv", "uv", python=python312)
    make_env(root / "teams" / "data" / "venv", "venv")
    bare_env(root / "teams" / "ml" / "deep" / ".venv")  # depth 3, no ipykernel
    bare_env(root / "a" / "b" / "c" / "d" / "e" / ".venv")  # below the depth limit (4)
    for hidden in ("node_modules/pkg", ".cache/x", "lib/site-packages/y", ".git/z"):
        bare_env(root / hidden / ".venv")
    (root / "alias").mkdir()
    (root / "alias" / ".venv").symlink_to(root / "analysis" / ".venv")
    (root / "notebooks").mkdir()
    return root


@pytest.fixture(scope="module")
def picker_server(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_server(tree, tmp_path_factory.mktemp("picker-server"), PICKER_CONFIG) as server:
        # The first scan may take longer than the first request waits on a loaded machine.
        wait_for(server, present=kernel_name("analysis/.venv"), timeout=120)
        yield server


def test_kernel_names_are_valid_stable_and_free_of_absolute_paths() -> None:
    for relative in ("analysis/.venv", "Ünïcode Dir/My Env", "a/" * 40 + ".venv", ".venv", "-/_"):
        name = kernel_name(relative)
        assert VALID_NAME.match(name), name
        assert name == kernel_name(relative)
        assert len(name) <= 60
    assert kernel_name("analysis/.venv").startswith("project-analysis-venv-")
    assert kernel_name("a-b/.venv") != kernel_name("a/b/.venv")
    assert "tmp" not in kernel_name("analysis/.venv")


def test_the_scan_reports_each_environment_its_version_and_first_problem(
    tmp_path: Path,
) -> None:
    plant_venv(tmp_path / "a" / ".venv")
    plant_venv(tmp_path / "b" / "c" / "venv", ipykernel=None)
    plant_venv(tmp_path / "too" / "deep" / "for" / "it" / ".venv")
    answer = scan_for_listing(
        {"root": str(tmp_path), "options": {}, "max_depth": 3, "max_directories": 100}
    )
    found = {e["path"]: e for e in answer["found"]}
    assert set(found) == {str(tmp_path / "a" / ".venv"), str(tmp_path / "b" / "c" / "venv")}
    assert found[str(tmp_path / "a" / ".venv")]["problem"] is None
    assert found[str(tmp_path / "b" / "c" / "venv")]["problem"] == "no-ipykernel"
    assert found[str(tmp_path / "a" / ".venv")]["python_version"] == f"{PYTHON}.0"
    # too/deep/for holds what the depth kept the scan from: that is said.
    assert answer["truncated"] and answer["depth_limited"] == 1
    assert answer["depth_limited_examples"] == ["too/deep/for"]


def test_the_scan_honours_the_listings_settings(tmp_path: Path) -> None:
    plant_venv(tmp_path / "p" / "env")
    plant_venv(tmp_path / "q" / ".venv")
    answer = scan_for_listing(
        {
            "root": str(tmp_path),
            "options": {"environment_names": ["env"]},
            "max_depth": 4,
            "max_directories": 100,
        }
    )
    assert [e["path"] for e in answer["found"]] == [str(tmp_path / "p" / "env")]


def test_a_listed_label_says_what_is_wrong_in_words() -> None:
    for code in ProblemCode:
        label = display_name(Found(Path("/r/a/.venv"), "3.12.1", code), "a/.venv")
        said = label.removeprefix("a/.venv · Python 3.12 · ")
        assert said != label and "-" not in said, label  # words, not "base-missing"


def test_environments_at_several_depths_are_listed_with_recognisable_names(
    tree: Path, picker_server: JupyterServer
) -> None:
    specs = listed(picker_server)
    expected = {
        kernel_name("analysis/.venv"): "analysis/.venv",
        kernel_name("teams/data/venv"): "teams/data/venv",
        kernel_name("teams/ml/deep/.venv"): "teams/ml/deep/.venv",
    }
    assert set(specs) == set(expected), sorted(s["spec"]["display_name"] for s in specs.values())
    for name, relative in expected.items():
        spec = specs[name]["spec"]
        assert VALID_NAME.match(name)
        assert spec["metadata"]["kernel_provisioner"] == {
            "provisioner_name": "project-kernels",
            "config": {"environment": str(tree / relative)},
        }
        assert spec["metadata"]["debugger"] is True
        assert specs[name]["resources"], "the python3 logos"
    display = {specs[n]["spec"]["display_name"] for n in expected}
    version = "3.12" if pyenv_python("3.12") else PYTHON
    assert f"analysis/.venv · Python {version}" in display
    assert f"teams/data/venv · Python {PYTHON}" in display
    assert f"teams/ml/deep/.venv · Python {PYTHON} · needs ipykernel" in display
    assert kernelspecs(picker_server)["python3"]["spec"]["display_name"] == "Python 3 (ipykernel)"


def test_the_log_says_how_deep_the_listing_looked_and_what_it_did_not_look_at(
    tree: Path, picker_server: JupyterServer
) -> None:
    listed(picker_server)  # a scan has finished
    said = [line for line in picker_server.log().splitlines() if "lists the environments" in line]
    # a/b/c/d/e/.venv is below the depth limit: said once, not at every refresh.
    assert len(said) == 1, said
    assert f"at most 4 levels below {tree}" in said[0]
    assert "not looked at: what is below 1 directory at depth 4 (a/b/c/d)" in said[0]
    assert "raise ProjectKernelSpecManager.list_max_depth" in said[0]


def test_a_listed_kernel_runs_exactly_its_environment_wherever_the_notebook_is(
    tree: Path, picker_server: JupyterServer
) -> None:
    # The notebook sits next to teams/data/venv, but the person chose analysis/.venv.
    kernel = picker_server.kernel_for("teams/data/nb.ipynb", kernel_name("analysis/.venv"))
    result = picker_server.execute(kernel, "import sys, os; print(sys.prefix, os.getcwd())")
    assert result.status == "ok", (result, picker_server.log())
    assert result.stdout.split() == [str(tree / "analysis" / ".venv"), str(tree / "teams" / "data")]
    # python3 for the same notebook still walks up to its own environment.
    walked = picker_server.kernel_for("teams/data/nb2.ipynb")
    result = picker_server.execute(walked, "import sys; print(sys.prefix)")
    assert result.stdout.strip() == str(tree / "teams" / "data" / "venv")


def test_a_listed_environment_that_cannot_run_gets_the_explaining_fallback(
    picker_server: JupyterServer,
) -> None:
    kernel = picker_server.kernel_for("notebooks/x.ipynb", kernel_name("teams/ml/deep/.venv"))
    result = picker_server.execute(kernel, "print(1)")
    text = result.stdout + result.stderr + json.dumps(result.error)
    assert "ipykernel" in text and "teams/ml/deep/.venv" in text, result


def test_the_listing_follows_environments_created_and_deleted(
    tree: Path, picker_server: JupyterServer
) -> None:
    name = kernel_name("fresh/.venv")
    assert name not in listed(picker_server)
    bare_env(tree / "fresh" / ".venv")
    wait_for(picker_server, present=name)
    shutil.rmtree(tree / "fresh")
    wait_for(picker_server, present="", absent=name)


def test_an_unknown_listed_name_gets_the_normal_choose_a_kernel_answer(
    picker_server: JupyterServer,
) -> None:
    # As on a machine where that environment (or project-kernels) does not exist:
    # JupyterLab turns this 501 into its kernel chooser, once.
    response = picker_server.start_session("notebooks/y.ipynb", kernel_name("elsewhere/.venv"))
    assert response.status_code == 501, response.text
    assert "pick another suitable kernel" in response.json()["message"]


def test_listing_is_off_by_default(tree: Path, tmp_path: Path) -> None:
    with running_server(tree, tmp_path, PROJECT_KERNELS_CONFIG) as server:
        assert list(kernelspecs(server)) == ["python3"]


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 directories, one environment at the bottom."""
    root = tmp_path_factory.mktemp("big") / "root"
    for i in range(20):
        for j in range(1000):
            os.makedirs(root / f"group{i}" / f"project{j}")
    bare_env(root / "group19" / "project999" / ".venv")
    return root


def status_latencies(server: JupyterServer, until: threading.Event) -> list[float]:
    """Seconds each ``GET /api/status`` took, back to back, until ``until`` is set."""
    latencies = []
    session = requests.Session()
    session.headers.update(server.session.headers)
    while not until.is_set():
        started = time.perf_counter()
        assert session.get(server.url + "/api/status", timeout=10).ok
        latencies.append(time.perf_counter() - started)
        time.sleep(0.002)
    return latencies


def test_a_slow_scan_does_not_delay_the_server(big_tree: Path, tmp_path: Path) -> None:
    config = PROJECT_KERNELS_CONFIG + (
        "c.ProjectKernelSpecManager.list_environments = True\n"
        "c.ProjectKernelSpecManager.list_max_directories = 100_000\n"
        "c.ProjectKernelSpecManager.list_refresh_interval = 0.0\n"
        'c.ServerApp.log_level = "DEBUG"\n'
    )
    with running_server(big_tree, tmp_path, config) as server:

        def scans() -> int:
            return server.log().count("directories in")

        deadline = time.monotonic() + 120
        while scans() < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scans() == 1, server.log()

        idle_done = threading.Event()
        threading.Timer(2.0, idle_done.set).start()
        idle = status_latencies(server, idle_done)

        started = time.perf_counter()
        assert kernel_name("group19/project999/.venv") in listed(server)  # starts a new scan
        listing_took = time.perf_counter() - started
        scan_done = threading.Event()

        def watch() -> None:
            while scans() < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            scan_done.set()

        deadline = time.monotonic() + 120
        threading.Thread(target=watch, daemon=True).start()
        busy = status_latencies(server, scan_done)
        scan_line = [line for line in server.log().splitlines() if "directories in" in line][-1]

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return (
            f"n={len(values)} median={1000 * statistics.median(values):.1f}ms "
            f"p95={1000 * p95:.1f}ms max={1000 * ordered[-1]:.1f}ms"
        )

    print(f"\nidle /api/status: {summary(idle)}\nduring the scan: {summary(busy)}")
    print(
        f"/api/kernelspecs during a scan: {1000 * listing_took:.1f}ms; {scan_line.split('] ')[-1]}"
    )
    assert len(busy) >= 50, "the scan should outlast many requests"
    assert statistics.median(busy) < 0.02
    assert sorted(busy)[int(0.95 * (len(busy) - 1))] < 0.05
    assert listing_took < 0.5
