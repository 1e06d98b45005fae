"""JupyterLab and Notebook 7 in a real browser: what a person sees when they run a notebook.

A real ``jupyter server`` with JupyterLab, Notebook 7 and project-kernels (enabled as
``project-kernels enable`` does: the server extension) serves a project tree;
Playwright drives Debian's chromium (no browser download) to open notebooks, run
their cells, read the outputs and the environment the status bar (JupyterLab) or the
notebook's toolbar (Notebook 7) names, and repair a broken environment. Screenshots
of each page are saved under ``test-results/browser/``, whether the test passes or
fails; the README's are copied from there into ``examples/screenshots/``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from envfactory import install, make_env
from jupyter import TOKEN, JupyterServer, running_server, write_notebook
from making import local_package, uv_env, uv_project
from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright
from sysdeps import chromium

from project_kernels.modules import write_declaration

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
EXTENSION_CONFIG = 'c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}\n'
#: The environment's label: in JupyterLab's status bar, in Notebook 7's notebook toolbar.
LAB_LABEL = "#jp-main-statusbar .jp-ProjectKernels-item"
NOTEBOOK7_LABEL = ".jp-NotebookPanel-toolbar .jp-ProjectKernels-item"
PANEL = ".jp-ProjectKernels-panel"
WARNING = re.compile(r"\bjp-ProjectKernels-warning\b")
PYTHON = "Python {}.{}".format(*sys.version_info[:2])
PRINT_PREFIX = "import sys\nprint(sys.prefix)"


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
    """JupyterLab and Notebook 7 over a working project and venvs without ipykernel."""
    tmp = tmp_path_factory.mktemp("lab")
    # A short root, so the paths on the page (and in the README's screenshot) read well.
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        make_env(root / "analysis" / ".venv")
        write_notebook(root / "analysis" / "2024" / "report.ipynb", "import sys\nprint(sys.prefix)")
        make_env(root / "broken" / ".venv", ipykernel=False)
        write_notebook(root / "broken" / "notes.ipynb", "import sys\nprint(sys.prefix)")
        for front_end in ("lab", "notebook7"):  # each repaired by one test
            make_env(root / f"fix-{front_end}" / ".venv", ipykernel=False)
            write_notebook(
                root / f"fix-{front_end}" / "notes.ipynb", "import sys\nprint(sys.prefix)"
            )
        config = EXTENSION_CONFIG + quiet_lab(tmp / "lab-settings")
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
    # A workspace of its own, so that no tab of another test is restored on the page.
    url = f"{lab.url}/lab/workspaces/{shot}/tree/{notebook}?reset&token={TOKEN}"
    with opened(browser, url, shot) as page:
        yield page


@contextmanager
def opened(browser: BrowserContext, url: str, shot: str) -> Iterator[Page]:
    """A page at ``url`` once a notebook's cells are there; a screenshot is saved when done."""
    page = browser.new_page()
    try:
        page.goto(url)
        page.locator(NOTEBOOK_CELLS + " .cm-content").first.wait_for(timeout=60_000)
        yield page
    finally:
        screenshot(page, shot)
        page.close()


def screenshot(page: Page, name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"))


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
        label = page.locator(LAB_LABEL)
        expect(label).to_have_text(f"analysis/.venv · {PYTHON}")
        expect(label).not_to_have_class(WARNING)
        label.click()
        panel = page.locator(PANEL)
        expect(panel).to_contain_text(f"Environment{environment}")
        expect(panel).to_contain_text("Kindvenv")
        expect(panel).to_contain_text("Whynearest directory named '.venv' above the notebook")


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
        label = page.locator(LAB_LABEL)
        expect(label).to_have_text(f"broken/.venv · {PYTHON} · needs ipykernel")
        expect(label).to_have_class(WARNING)


def test_the_status_bar_shows_a_broken_environment_and_its_fix_then_the_repaired_one(
    lab: JupyterServer, browser: BrowserContext
) -> None:
    environment = lab.root / "fix-lab" / ".venv"
    with notebook_page(browser, lab, "fix-lab/notes.ipynb", "status-bar") as page:
        label = page.locator(LAB_LABEL)
        expect(label).to_have_text(f"fix-lab/.venv · {PYTHON} · needs ipykernel", timeout=90_000)
        expect(label).to_have_class(WARNING)
        label.click()
        panel = page.locator(PANEL)
        fix = f"{environment}/bin/python -m pip install ipykernel"
        expect(panel).to_contain_text(f"Problem: ipykernel is not installed in {environment}")
        expect(panel).to_contain_text(f"Fix: Install it: {fix}")
        copy = panel.get_by_role("button", name="Copy fix command")
        expect(copy).to_have_attribute("title", fix)
        screenshot(page, "jupyterlab-status-bar-broken")
        copy.click()
        expect(panel.get_by_role("button", name="Copied")).to_be_visible()

        install(environment / "bin" / "python", "ipykernel")
        restart_kernel(page)
        expect(label).to_have_text(f"fix-lab/.venv · {PYTHON}", timeout=90_000)
        expect(label).not_to_have_class(WARNING)
        output = run_first_cell(page)
        expect(output).to_have_text(str(environment), timeout=90_000)
        label.click()
        expect(page.locator(PANEL)).to_contain_text("The kernel runs in this environment")
        screenshot(page, "jupyterlab-status-bar-repaired")


def test_notebook7_shows_the_environment_beside_the_kernel_and_follows_a_repair(
    lab: JupyterServer, browser: BrowserContext
) -> None:
    environment = lab.root / "fix-notebook7" / ".venv"
    url = f"{lab.url}/notebooks/fix-notebook7/notes.ipynb?token={TOKEN}"
    with opened(browser, url, "notebook7") as page:
        label = page.locator(NOTEBOOK7_LABEL)
        expect(label).to_have_text(
            f"fix-notebook7/.venv · {PYTHON} · needs ipykernel", timeout=90_000
        )
        expect(label).to_have_class(WARNING)
        label.click()
        dialog = page.locator(".jp-Dialog " + PANEL)
        expect(dialog).to_contain_text(f"Fix: Install it: {environment}/bin/python -m pip")
        screenshot(page, "notebook7-broken")
        page.locator(".jp-Dialog").get_by_role("button", name="Close").click()

        install(environment / "bin" / "python", "ipykernel")
        restart_kernel(page)
        expect(label).to_have_text(f"fix-notebook7/.venv · {PYTHON}", timeout=90_000)
        expect(label).not_to_have_class(WARNING)
        cell = page.locator(NOTEBOOK_CELLS).first
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        expect(cell.locator(".jp-OutputArea-output")).to_have_text(str(environment), timeout=90_000)
        screenshot(page, "notebook7-repaired")


def test_the_launcher_names_the_environment_of_its_directory(
    lab: JupyterServer, browser: BrowserContext
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{lab.url}/lab/workspaces/launcher/tree/analysis/2024?reset&token={TOKEN}")
        card = page.locator(".jp-LauncherCard", has_text="analysis/.venv")
        expect(card).to_have_text(f"analysis/.venv · {PYTHON}", timeout=60_000)
        expect(page.locator(".jp-Launcher-cwd")).to_have_text("analysis/2024")
        screenshot(page, "jupyterlab-launcher")
        card.click()
        # A new notebook there, whose kernel runs in the environment the card named.
        expect(page.locator(LAB_LABEL)).to_have_text(f"analysis/.venv · {PYTHON}", timeout=90_000)
    finally:
        screenshot(page, "launcher")
        page.close()


def restart_kernel(page: Page) -> None:
    """Kernel > Restart Kernel..., confirmed, as a person would."""
    page.locator(NOTEBOOK_CELLS).first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("0")
    page.keyboard.press("0")
    page.locator(".jp-Dialog").get_by_role("button", name="Confirm Kernel Restart").click()


@pytest.fixture(scope="module")
def making_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """JupyterLab with create_environments over a cloned uv project (no .venv yet)."""
    tmp = tmp_path_factory.mktemp("making-lab")
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        # Its build takes 20 s: the cell runs while uv works, however slow the browser is.
        local_package(root, build_seconds=20)
        project = uv_project(root, "survey")
        write_notebook(project / "notebooks" / "analysis.ipynb", "import sys\nprint(sys.prefix)")
        config = (
            EXTENSION_CONFIG
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
        expect(page.locator(LAB_LABEL)).to_have_text("survey/.venv · being made")
        expect(output.last).to_contain_text("run it again", timeout=300_000)
        assert "uv sync" in output.first.inner_text()
        RESULTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS / "making-environment-made.png"))
        cell = page.locator(NOTEBOOK_CELLS).first
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        expect(cell.locator(".jp-OutputArea-output")).to_have_text(str(environment), timeout=90_000)
        # No "kernel restarting" dialog: the kernel became the environment's in place, and
        # the status bar names it.
        expect(page.get_by_text("Kernel Restarting")).to_have_count(0)
        expect(page.locator(LAB_LABEL)).to_have_text(f"survey/.venv · {PYTHON}")


@pytest.fixture(scope="module")
def choosing_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """JupyterLab with the kernel picker's listing on, over a project whose pyproject.toml
    names envs/alt while a .venv sits beside it."""
    tmp = tmp_path_factory.mktemp("choosing-lab")
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        make_env(root / "survey" / ".venv")
        make_env(root / "survey" / "envs" / "alt", "uv")
        (root / "survey" / "pyproject.toml").write_text(
            '[project]\nname = "survey"\n\n[tool.project-kernels]\nenvironment = "envs/alt"\n'
        )
        write_notebook(root / "survey" / "notebooks" / "report.ipynb", PRINT_PREFIX)
        config = (
            EXTENSION_CONFIG
            + "c.ProjectKernelSpecManager.list_environments = True\n"
            + quiet_lab(tmp / "lab-settings")
        )
        with running_server(root, tmp, config) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_listed(server: JupyterServer, relative: str) -> None:
    """Until the kernel picker lists ``relative`` (its first scan runs in the background)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        specs = server.request("GET", "/api/kernelspecs").json()["kernelspecs"]
        if any(s["spec"]["display_name"].startswith(relative + " ·") for s in specs.values()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{relative} never listed\n{server.log()}")


def test_the_panel_says_pyproject_chose_the_environment_and_picks_another_for_the_notebook(
    choosing_lab: JupyterServer, browser: BrowserContext
) -> None:
    survey = choosing_lab.root / "survey"
    notebook = "survey/notebooks/report.ipynb"
    wait_listed(choosing_lab, "survey/.venv")
    with notebook_page(browser, choosing_lab, notebook, "chosen-by-pyproject") as page:
        label = page.locator(LAB_LABEL)
        expect(label).to_have_text(f"survey/envs/alt · {PYTHON}", timeout=90_000)
        label.click()
        panel = page.locator(PANEL)
        expect(panel).to_contain_text("Chosen bysurvey/pyproject.toml, line 5")
        screenshot(page, "jupyterlab-chosen-by-pyproject")
        panel.get_by_role("button", name="Choose the environment…").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("select").select_option(label=f"survey/.venv · {PYTHON}")
        dialog.get_by_role("button", name="Choose and restart").click()

        expect(label).to_have_text(f"survey/.venv · {PYTHON}", timeout=90_000)
        saved = json.loads((choosing_lab.root / notebook).read_text())
        assert saved["metadata"]["project-kernels"] == {"environment": "../.venv"}
        assert saved["metadata"]["kernelspec"]["name"] == "python3"
        output = run_first_cell(page)
        expect(output).to_have_text(str(survey / ".venv"), timeout=90_000)
        label.click()
        expect(page.locator(PANEL)).to_contain_text("Chosen bythis notebook (its metadata, line")


@pytest.fixture(scope="module")
def slurm_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterServer, Any]]:
    """JupyterLab on a real single-node Slurm, over a project whose environment's kernels are
    jobs in the partition ``batch`` (see tests/slurm.py), with the cluster."""
    import slurm

    tmp = tmp_path_factory.mktemp("slurm-lab")
    root = Path(tempfile.mkdtemp(prefix="projects-"))
    try:
        with slurm.running_cluster() as cluster:
            make_env(root / "queued" / ".venv", "uv")
            write_declaration(root / "queued" / ".venv", [])
            with open(root / "queued" / ".venv" / "project-kernels.toml", "a") as table:
                table.write('\n[slurm]\npartition = "batch"\ncpus = 1\n')
            write_notebook(root / "queued" / "jobs.ipynb", PRINT_PREFIX)
            config = (
                EXTENSION_CONFIG
                + f"c.ProjectKernels.slurm = {{'job_directory': {str(tmp / 'jobs')!r}, "
                "'poll_interval': 1}\n" + quiet_lab(tmp / "lab-settings")
            )
            env = {"SLURM_CONF": str(cluster.conf)}
            with running_server(root, tmp, config, env=env) as server:
                yield server, cluster
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_status_bar_says_why_a_kernel_waits_in_the_slurm_queue(
    slurm_lab: tuple[JupyterServer, Any], browser: BrowserContext
) -> None:
    server, cluster = slurm_lab
    filler: str | None = cluster.fill()  # every CPU taken: a job of batch waits (Resources)
    try:
        with notebook_page(browser, server, "queued/jobs.ipynb", "slurm-queued") as page:
            label = page.locator(LAB_LABEL)
            queued = "queued on Slurm: Resources (the partition has no free resources"
            expect(label).to_contain_text(queued, timeout=90_000)
            screenshot(page, "jupyterlab-slurm-queued")
            cluster.cancel(filler)
            filler = None
            expect(label).to_have_text(f"queued/.venv · {PYTHON}", timeout=120_000)
            output = run_first_cell(page)
            expect(output).to_have_text(str(server.root / "queued" / ".venv"), timeout=90_000)
    finally:
        if filler is not None:
            cluster.cancel(filler)
