"""JupyterLab in a real browser: what a person sees when they run a notebook.

A real ``jupyter server`` with JupyterLab and project-kernels serves a project tree;
Playwright drives Debian's chromium (no browser download) to open notebooks, run
their cells and read the outputs from the page. Screenshots of each page are saved
under ``test-results/browser/``, whether the test passes or fails.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, TOKEN, JupyterServer, running_server, write_notebook
from making import local_package, uv_env, uv_project
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright
from sysdeps import chromium

pytestmark = pytest.mark.slow

RESULTS = Path(__file__).resolve().parents[1] / "test-results" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOK_CELLS = ".jp-NotebookPanel:visible .jp-Cell"
FALLBACK_FIRST_LINE = "The project environment for this notebook cannot run a kernel."


def quiet_lab(settings: Path) -> str:
    """Configuration for nothing but the notebook on the page: no news or update prompts."""
    plugin = settings / "@jupyterlab" / "apputils-extension"
    plugin.mkdir(parents=True)
    notification = plugin / "notification.jupyterlab-settings"
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return (
        f"c.LabApp.user_settings_dir = {str(settings)!r}\n"
        "c.LabApp.news_url = None\n"
        'c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"\n'
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """JupyterLab over a tree with a working project and one whose venv lacks ipykernel."""
    tmp = tmp_path_factory.mktemp("lab")
    # A short root, so the paths on the page (and in the README's screenshot) read well.
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        make_env(root / "analysis" / ".venv")
        write_notebook(root / "analysis" / "2024" / "report.ipynb", "import sys\nprint(sys.prefix)")
        make_env(root / "broken" / ".venv", ipykernel=False)
        write_notebook(root / "broken" / "notes.ipynb", "import sys\nprint(sys.prefix)")
        config = PROJECT_KERNELS_CONFIG + quiet_lab(tmp / "lab-settings")
        with running_server(root, tmp, config) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    """One headless chromium for the module, with a fresh profile."""
    executable = chromium()
    profile = tempfile.mkdtemp(prefix="project-kernels-chromium-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1360, "height": 720},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def notebook_page(
    browser: BrowserContext, lab: JupyterServer, notebook: str, shot: str
) -> Iterator[Page]:
    """A page with ``notebook`` open in JupyterLab; a screenshot is saved when done."""
    page = browser.new_page()
    try:
        # A workspace of its own, so that no tab of another test is restored on the page.
        page.goto(f"{lab.url}/lab/workspaces/{shot}/tree/{notebook}?reset&token={TOKEN}")
        page.locator(NOTEBOOK_CELLS + " .cm-content").first.wait_for(timeout=60_000)
        yield page
    finally:
        RESULTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS / f"{shot}.png"))
        page.close()


def run_first_cell(page: Page) -> Locator:
    """Once the kernel is idle, click into the first cell and press Shift+Enter.

    Returns the cell's output locator.
    """
    expect(page.get_by_role("button", name=re.compile(r"\| Idle$"))).to_be_visible(timeout=90_000)
    cell = page.locator(NOTEBOOK_CELLS).first
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    return cell.locator(".jp-OutputArea-output")


def test_a_notebook_in_a_project_prints_its_environment(
    lab: JupyterServer, browser: BrowserContext
) -> None:
    environment = lab.root / "analysis" / ".venv"
    with notebook_page(browser, lab, "analysis/2024/report.ipynb", "project-environment") as page:
        output = run_first_cell(page)
        expect(output).to_have_text(str(environment), timeout=90_000)


def test_a_notebook_next_to_a_broken_environment_reads_the_explanation(
    lab: JupyterServer, browser: BrowserContext
) -> None:
    environment = lab.root / "broken" / ".venv"
    with notebook_page(browser, lab, "broken/notes.ipynb", "broken-environment") as page:
        output = run_first_cell(page)
        expect(output).to_contain_text(FALLBACK_FIRST_LINE, timeout=90_000)
        text = output.inner_text()
        assert text.startswith(FALLBACK_FIRST_LINE), text
        assert f"Problem: ipykernel is not installed in {environment}" in text, text
        assert f"{environment}/bin/python -m pip install ipykernel" in text, text


@pytest.fixture(scope="module")
def making_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """JupyterLab with create_environments over a cloned uv project (no .venv yet)."""
    tmp = tmp_path_factory.mktemp("making-lab")
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        local_package(root)
        project = uv_project(root, "survey")
        write_notebook(project / "notebooks" / "analysis.ipynb", "import sys\nprint(sys.prefix)")
        config = (
            PROJECT_KERNELS_CONFIG
            + "c.ProjectKernels.create_environments = True\n"
            + quiet_lab(tmp / "lab-settings")
        )
        env = {**uv_env(), "XDG_CACHE_HOME": str(tmp / "cache")}
        with running_server(root, tmp, config, env=env) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_cloned_uv_project_is_made_in_the_notebook_then_runs_there(
    making_lab: JupyterServer, browser: BrowserContext
) -> None:
    environment = making_lab.root / "survey" / ".venv"
    notebook = "survey/notebooks/analysis.ipynb"
    with notebook_page(browser, making_lab, notebook, "making-environment") as page:
        output = run_first_cell(page)
        expect(output.first).to_contain_text("[project-kernels] Making the uv environment")
        expect(output.last).to_contain_text("run it again", timeout=300_000)
        assert "uv sync" in output.first.inner_text()
        RESULTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS / "making-environment-made.png"))
        cell = page.locator(NOTEBOOK_CELLS).first
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        expect(cell.locator(".jp-OutputArea-output")).to_have_text(str(environment), timeout=90_000)
        # No "kernel restarting" dialog: the kernel became the environment's in place.
        expect(page.get_by_text("Kernel Restarting")).to_have_count(0)
