"""Environment modules (real Lmod): kernels from an environment start with its modules loaded.

A site of modulefiles is written per test module, the way an HPC centre's would be: one
puts a directory with a package on PYTHONPATH, one sets LD_LIBRARY_PATH and a variable,
one fails as a real modulefile does (LmodError), one hangs. Lmod is Debian's, found the
way a login shell finds it (its /etc/profile.d init file), unless a test says otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sysdeps
from conftest import pid_alive
from envfactory import make_env
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, clean_environ, running_server

from project_kernels.discovery import Candidate, Walk
from project_kernels.environments import Environment, Kind, ProblemCode
from project_kernels.modules import (
    DECLARATION_NAME,
    DeclarationError,
    ModulesError,
    ModuleSettings,
    find_module_system,
    module_environment,
    parse_declaration,
    read_declaration,
    render_declaration,
    with_modules,
    write_declaration,
)

LIB_MODULE = "HPCLib/1.0"  # LD_LIBRARY_PATH and a variable
PY_MODULE = "HPCPy/2.1"  # PYTHONPATH with a package
COUNTED_MODULE = "Counted/3.0"  # a variable, and a line in a counter file per load
BROKEN_MODULE = "Broken/1.0"  # LmodError, as a modulefile refusing a node does
HANGING_MODULE = "Hanging/1.0"  # sleeps, as a modulefile on a stuck file system does


class Site:
    """A directory of modulefiles and what they put in place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modulefiles = root / "modulefiles"
        # Apart: Lmod evaluates every modulefile on MODULEPATH to suggest names for an unknown one.
        self.slow_modulefiles = root / "slow-modulefiles"
        self.packages = root / "site-python"
        self.libs = root / "site-lib"
        self.counter = root / "counter"
        self.hang_pid = root / "hang.pid"

    def env(self, **extra: str) -> dict[str, str]:
        """A server's or shell's variables: the site's MODULEPATH, no module system set up,
        no activated environment (the tests may run from one)."""
        base = {
            k: v
            for k, v in clean_environ().items()
            if not k.startswith(("LMOD", "MODULE", "_LMFILES_", "LOADEDMODULES", "_ModuleTable"))
            and not k.startswith("__LMOD")
        }
        return {**base, "MODULEPATH": str(self.modulefiles), **extra}

    def loads_counted(self) -> int:
        try:
            return len(self.counter.read_text().splitlines())
        except FileNotFoundError:
            return 0


def _modulefile(site: Site, name: str, body: str, *, slow: bool = False) -> None:
    path = (site.slow_modulefiles if slow else site.modulefiles) / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


@pytest.fixture(scope="session")
def lmod_cmd() -> str:
    return sysdeps.lmod()


@pytest.fixture(scope="module")
def site(lmod_cmd: str, tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("site"))
    (site.packages / "hpcpkg").mkdir(parents=True)
    (site.packages / "hpcpkg" / "__init__.py").write_text("FROM_MODULE = 'HPCPy/2.1'\n")
    site.libs.mkdir()
    _modulefile(
        site,
        LIB_MODULE,
        f'prepend_path("LD_LIBRARY_PATH", "{site.libs}")\nsetenv("HPC_SITE_VAR", "from-HPCLib")\n',
    )
    _modulefile(site, PY_MODULE, f'prepend_path("PYTHONPATH", "{site.packages}")\n')
    _modulefile(
        site,
        COUNTED_MODULE,
        'setenv("COUNTED_VAR", "counted")\n'
        'if mode() == "load" then\n'
        f'  local f = io.open("{site.counter}", "a"); f:write("load\\n"); f:close()\n'
        "end\n",
    )
    _modulefile(site, BROKEN_MODULE, 'LmodError("Broken/1.0 needs a GPU node; this is not one")\n')
    _modulefile(
        site, HANGING_MODULE, f'os.execute("echo $$ > {site.hang_pid}; exec sleep 60")\n', slow=True
    )
    return site


def settings(tmp_path: Path, **overrides: object) -> ModuleSettings:
    return ModuleSettings(cache_dir=tmp_path / "cache", **overrides)  # type: ignore[arg-type]


def walk_to(environment: Environment) -> Walk:
    root = environment.root.parent
    return Walk(root, root, (root,), (Candidate(environment.root, environment),))


def fake_environment(root: Path) -> Environment:
    root.mkdir(parents=True, exist_ok=True)
    return Environment(root=root, kind=Kind.VENV, interpreter=root / "bin" / "python")


# -- the declaration ---------------------------------------------------------------------


def test_declaration_round_trips_and_keeps_load_order(tmp_path: Path) -> None:
    modules = ("GCC/10.3.0", "OpenMPI/4.1.1", "Python/3.9.5", "SciPy-bundle/2021.05")
    path = write_declaration(tmp_path, modules)
    assert path == tmp_path / DECLARATION_NAME
    assert read_declaration(tmp_path) == modules
    assert parse_declaration(render_declaration(modules)) == modules


def test_no_declaration_means_no_modules(tmp_path: Path) -> None:
    assert read_declaration(tmp_path) == ()
    assert parse_declaration("# nothing declared\n") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("modules = [GCC]", "not valid TOML"),
        ('modules = "GCC/10.3.0"', "must be a list"),
        ("modules = [1, 2]", "must be a list"),
        ('modules = ["/home/mallory/evil.lua"]', "paths to modulefiles are not allowed"),
        ('modules = ["../../evil"]', "paths to modulefiles are not allowed"),
    ],
)
def test_a_bad_declaration_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(DeclarationError, match=says):
        parse_declaration(text)


def test_a_bad_declaration_makes_the_environment_unusable_with_the_fix(tmp_path: Path) -> None:
    environment = fake_environment(tmp_path / ".venv")
    (environment.root / DECLARATION_NAME).write_text("modules = [GCC]\n")
    walk, _ = with_modules(walk_to(environment), {}, settings(tmp_path))
    assert walk is not None and walk.environment is not None
    (problem,) = walk.environment.problems
    assert problem.code is ProblemCode.MODULES
    assert "not valid TOML" in problem.summary
    assert f"project-kernels pin-modules {environment.root}" in problem.fix


# -- finding the module system -----------------------------------------------------------


def test_module_system_found_through_the_sites_login_init_file(site: Site, tmp_path: Path) -> None:
    system, env = find_module_system(site.env(), settings(tmp_path))
    assert system.name == "Lmod"
    assert os.access(system.command, os.X_OK)
    assert env["LMOD_CMD"] == system.command
    assert str(site.modulefiles) in env["MODULEPATH"].split(":")


def test_module_system_found_from_lmod_cmd_or_moduleshome(
    site: Site, lmod_cmd: str, tmp_path: Path
) -> None:
    no_init = settings(tmp_path, init_files=())
    system, _ = find_module_system(site.env(LMOD_CMD=lmod_cmd), no_init)
    assert system.command == lmod_cmd
    home = str(Path(lmod_cmd).parent.parent)
    system, _ = find_module_system(site.env(MODULESHOME=home), no_init)
    assert (system.name, os.path.realpath(system.command)) == ("Lmod", os.path.realpath(lmod_cmd))


def test_no_module_system_is_explained(site: Site, tmp_path: Path) -> None:
    with pytest.raises(ModulesError) as raised:
        find_module_system(site.env(), settings(tmp_path, init_files=()))
    assert "No module system" in raised.value.summary
    assert "c.ProjectKernels.module_command" in raised.value.fix
    with pytest.raises(ModulesError, match="not executable"):
        find_module_system(site.env(), settings(tmp_path, command=str(tmp_path / "nope")))


# -- computing and caching ---------------------------------------------------------------


def test_loaded_modules_change_a_copy_of_the_base(site: Site, tmp_path: Path) -> None:
    base = site.env(PATH="/usr/bin:/bin", KEPT="as-is")
    env = module_environment([LIB_MODULE, PY_MODULE], base, settings(tmp_path))
    assert env["PYTHONPATH"].split(":")[0] == str(site.packages)
    assert env["LD_LIBRARY_PATH"].split(":")[0] == str(site.libs)
    assert env["HPC_SITE_VAR"] == "from-HPCLib"
    assert env["LOADEDMODULES"] == f"{LIB_MODULE}:{PY_MODULE}"
    assert env["KEPT"] == "as-is"
    assert env["PATH"] == "/usr/bin:/bin"
    assert "HPC_SITE_VAR" not in base


def test_cache_computes_once_until_a_modulefile_changes(site: Site, tmp_path: Path) -> None:
    options = settings(tmp_path)
    site.counter.unlink(missing_ok=True)
    first = module_environment([COUNTED_MODULE], site.env(JPY_SESSION_NAME="/a.ipynb"), options)
    once = site.loads_counted()
    assert once >= 1
    # Another notebook of the same server: same result, from the cache.
    second = module_environment([COUNTED_MODULE], site.env(JPY_SESSION_NAME="/b.ipynb"), options)
    assert site.loads_counted() == once
    assert second["COUNTED_VAR"] == first["COUNTED_VAR"] == "counted"
    assert second["JPY_SESSION_NAME"] == "/b.ipynb"
    # The site edits the modulefile: the next start loads it again.
    modulefile = site.modulefiles / f"{COUNTED_MODULE}.lua"
    stat = modulefile.stat()
    os.utime(modulefile, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    module_environment([COUNTED_MODULE], site.env(), options)
    assert site.loads_counted() == 2 * once


@pytest.mark.parametrize(
    ("module", "lmod_says"),
    [
        ("Nope/9.9", 'The following module(s) are unknown: "Nope/9.9"'),
        (BROKEN_MODULE, "Broken/1.0 needs a GPU node; this is not one"),
    ],
)
def test_a_failing_load_reports_the_module_systems_own_message(
    site: Site, tmp_path: Path, module: str, lmod_says: str
) -> None:
    with pytest.raises(ModulesError) as raised:
        module_environment([LIB_MODULE, module], site.env(), settings(tmp_path))
    assert f"module load {LIB_MODULE} {module}" in raised.value.summary
    assert f"Lmod says: Lmod has detected the following error: {lmod_says}" in " ".join(
        raised.value.summary.split()
    )


def test_a_hanging_load_is_stopped_at_the_timeout(site: Site, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ModulesError, match="longer than 2 seconds"):
        module_environment(
            [HANGING_MODULE],
            site.env(MODULEPATH=str(site.slow_modulefiles)),
            settings(tmp_path, timeout=2.0),
        )
    assert time.monotonic() - started < 15
    hung = int(site.hang_pid.read_text())
    deadline = time.monotonic() + 5
    while pid_alive(hung) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(hung), "the modulefile's process outlived the timeout"


def test_simultaneous_starts_in_threads_wait_for_one_computation(
    site: Site, tmp_path: Path
) -> None:
    options = settings(tmp_path)
    site.counter.unlink(missing_ok=True)
    results: list[dict[str, str]] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(module_environment([COUNTED_MODULE], site.env(), options))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r["COUNTED_VAR"] for r in results] == ["counted"] * 8
    once = site.loads_counted()
    module_environment([COUNTED_MODULE], site.env(), settings(tmp_path / "fresh"))
    assert site.loads_counted() == 2 * once, "eight starts loaded the module more than once"


# -- pin-modules, from a real login shell -----------------------------------------------


def login_shell(site: Site, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``bash -lc script``: /etc/profile sets up Lmod's ``module`` function, as on a cluster."""
    return subprocess.run(
        ["bash", "-lc", script],
        cwd=cwd,
        env=site.env(XDG_CACHE_HOME=str(cwd.parent / "xdg-cache")),  # not the tester's ~/.cache
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pin_in_shell(
    site: Site, project: Path, *modules: str, base: Path = Path(sys.executable)
) -> Path:
    """The seed's workflow: module load; python -m venv --system-site-packages; pin-modules."""
    project.mkdir(parents=True, exist_ok=True)
    done = login_shell(
        site,
        f"module load {' '.join(modules)} && "
        f"{base} -m venv --without-pip --system-site-packages .venv && "
        f"{sys.executable} -m project_kernels pin-modules .venv",
        project,
    )
    assert done.returncode == 0, done
    assert f"Recorded {len(modules)} module(s)" in done.stdout
    return project / ".venv"


@pytest.mark.interpreter
def test_pin_modules_records_what_the_shell_loaded(site: Site, tmp_path: Path) -> None:
    env = pin_in_shell(site, tmp_path / "proj", LIB_MODULE, PY_MODULE)
    assert read_declaration(env) == (LIB_MODULE, PY_MODULE)
    which = login_shell(site, f"{sys.executable} -m project_kernels which --json .", env.parent)
    assert json.loads(which.stdout)["environment"]["modules"] == [LIB_MODULE, PY_MODULE]
    cleared = login_shell(
        site, f"{sys.executable} -m project_kernels pin-modules --clear", env.parent
    )
    assert cleared.returncode == 0, cleared
    assert read_declaration(env) == ()


@pytest.mark.interpreter
def test_pin_modules_without_loaded_modules_says_what_to_do(site: Site, tmp_path: Path) -> None:
    make_env(tmp_path / ".venv", "uv", ipykernel=False)
    done = login_shell(site, f"{sys.executable} -m project_kernels pin-modules", tmp_path)
    assert done.returncode == 1
    assert "No environment modules are loaded in this shell" in done.stderr
    assert "module load ...; project-kernels pin-modules" in done.stderr
    assert not (tmp_path / ".venv" / DECLARATION_NAME).exists()


# -- kernels through a real server -------------------------------------------------------

KERNEL_VIEW = (
    "import json, os, sys\n"
    "try:\n"
    "    import hpcpkg; pkg = hpcpkg.FROM_MODULE\n"
    "except ImportError:\n"
    "    pkg = None\n"
    "print(json.dumps({'pkg': pkg, 'var': os.environ.get('HPC_SITE_VAR'),"
    " 'counted': os.environ.get('COUNTED_VAR'),"
    " 'ld': os.environ.get('LD_LIBRARY_PATH', ''), 'prefix': sys.prefix,"
    " 'path0': os.environ['PATH'].split(':')[0], 'venv': os.environ.get('VIRTUAL_ENV')}))\n"
)


def kernel_view(server: JupyterServer, kernel: str) -> dict[str, object]:
    result = server.execute(kernel, KERNEL_VIEW)
    assert result.status == "ok", (result, server.log())
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def hpc_root(
    site: Site, tmp_path_factory: pytest.TempPathFactory, base_with_ipykernel: Path
) -> Path:
    """Venvs on a base Python that has ipykernel, as a cluster's Python module provides."""
    root = tmp_path_factory.mktemp("hpc") / "root"
    pin_in_shell(site, root / "withmods", LIB_MODULE, PY_MODULE, base=base_with_ipykernel)

    def on_the_base(env: Path) -> None:
        make_env(env, "uv", python=base_with_ipykernel, ipykernel=False, system_site_packages=True)

    on_the_base(root / "plain" / ".venv")
    for name, modules in (("missing", [LIB_MODULE, "Nope/9.9"]), ("ten", [COUNTED_MODULE])):
        on_the_base(root / name / ".venv")
        write_declaration(root / name / ".venv", modules)
    return root


@pytest.fixture(scope="module")
def hpc_server(
    site: Site, hpc_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("hpc-server")
    config = (
        PROJECT_KERNELS_CONFIG + f"c.ProjectKernels.module_cache_dir = {str(tmp / 'cache')!r}\n"
    )
    with running_server(hpc_root, tmp, config, env=site.env()) as server:
        yield server


@pytest.mark.slow
@pytest.mark.interpreter
def test_kernel_runs_with_the_declared_modules_loaded(
    site: Site, hpc_server: JupyterServer
) -> None:
    kernel = hpc_server.kernel_for("withmods/analysis/nb.ipynb")
    view = kernel_view(hpc_server, kernel)
    env = hpc_server.root / "withmods" / ".venv"
    assert view["pkg"] == "HPCPy/2.1"
    assert view["var"] == "from-HPCLib"
    assert str(view["ld"]).split(":")[0] == str(site.libs)
    # The venv's activation goes on top of the modules.
    assert view["prefix"] == str(env)
    assert view["venv"] == str(env)
    assert view["path0"] == str(env / "bin")


@pytest.mark.slow
@pytest.mark.interpreter
def test_kernel_without_a_declaration_loads_no_modules(hpc_server: JupyterServer) -> None:
    kernel = hpc_server.kernel_for("plain/nb.ipynb")
    view = kernel_view(hpc_server, kernel)
    assert view["prefix"] == str(hpc_server.root / "plain" / ".venv")
    assert view["pkg"] is None
    assert view["var"] is None


@pytest.mark.slow
@pytest.mark.interpreter
def test_a_missing_module_is_explained_in_the_notebook(hpc_server: JupyterServer) -> None:
    kernel = hpc_server.kernel_for("missing/nb.ipynb")
    result = hpc_server.execute(kernel, "import hpcpkg")
    assert result.status == "error"
    assert result.error is not None
    text = " ".join("\n".join(result.error["traceback"]).split())
    assert f"(module load {LIB_MODULE} Nope/9.9)" in text
    assert 'The following module(s) are unknown: "Nope/9.9"' in text
    assert f"project-kernels pin-modules {hpc_server.root / 'missing' / '.venv'}" in text


@pytest.mark.slow
@pytest.mark.interpreter
def test_ten_kernels_started_at_once_load_the_modules_once(
    site: Site, hpc_server: JupyterServer, tmp_path: Path
) -> None:
    # What one computation writes to the counter (Lmod may evaluate a modulefile more than once).
    site.counter.unlink(missing_ok=True)
    module_environment([COUNTED_MODULE], site.env(), settings(tmp_path))
    per_computation = site.loads_counted()
    site.counter.unlink()

    responses: list[object] = [None] * 10

    def start(index: int) -> None:
        responses[index] = hpc_server.start_session(f"ten/nb{index}.ipynb")

    threads = [threading.Thread(target=start, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kernels = []
    for response in responses:
        assert response.status_code == 201, (response.text, hpc_server.log())  # type: ignore[attr-defined]
        kernels.append(response.json()["kernel"]["id"])  # type: ignore[attr-defined]
    assert site.loads_counted() == per_computation, hpc_server.log()
    for kernel in kernels:
        assert kernel_view(hpc_server, kernel)["counted"] == "counted"
    for kernel in kernels:
        hpc_server.request("DELETE", f"/api/kernels/{kernel}")
