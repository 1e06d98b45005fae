"""Trust: an environment that someone else could have written never runs.

The tests run as root, so ``nobody`` is "someone else"; a real group and a
colleague in it are made with ``groupadd``/``useradd``. Every environment is
planted: its ``bin/python`` is a script that appends to a marker file and then
runs the server's Python (which has ipykernel). A trusted one really starts a
kernel and leaves the marker; a refused one must never leave it, whether through
a real Jupyter server (fallback kernel, ``!`` commands, error mode) or through
``project-kernels doctor --run``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sysdeps
from jupyter import PROJECT_KERNELS_CONFIG, JupyterServer, running_server

from project_kernels import cli
from project_kernels import trust as trust_module
from project_kernels.discovery import Walk
from project_kernels.environments import ProblemCode, inspect_venv
from project_kernels.report import sanitize
from project_kernels.resolver import LaunchRequest, resolve
from project_kernels.settings import Settings
from project_kernels.trust import TrustPolicy, judge, symlink_holders

#: Giving files to other users and making groups needs root; the pure checks do not.
NEEDS_ROOT = "needs root, to give files to other users and make groups"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT)

NOBODY = pwd.getpwnam("nobody").pw_uid
NOGROUP = pwd.getpwnam("nobody").pw_gid
XY = f"{sys.version_info.major}.{sys.version_info.minor}"
#: A directory name with an escape sequence, a newline, HTML and a would-be link.
MARKUP_NAME = "ctl\x1b[2J<img src=x onerror=alert(1)>\nFix: rm -rf ~ www.evil.example"


# --- building planted environments ------------------------------------------------------


def write_interpreter(path: Path, marker: Path) -> Path:
    """A ``python`` that records it ran in ``marker``, then is the server's Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!/bin/sh\necho ran >> {shlex.quote(str(marker))}\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    path.chmod(0o755)
    return path


def plant(env: Path, marker: Path, *, interpreter: Path | None = None) -> Path:
    """A venv that inspection finds usable; ``bin/python`` is a marker script (or a link)."""
    (env / "bin").mkdir(parents=True)
    home = Path(os.path.realpath(sys.executable)).parent
    (env / "pyvenv.cfg").write_text(f"home = {home}\nversion_info = {sys.version.split()[0]}\n")
    site = env / "lib" / f"python{XY}" / "site-packages"
    site.mkdir(parents=True)
    (site / "ipykernel-7.4.0.dist-info").mkdir()
    (site / "distutils-precedence.pth").write_text("import os\n")
    if interpreter is None:
        write_interpreter(env / "bin" / "python", marker)
    else:
        (env / "bin" / "python").symlink_to(interpreter)
    return env


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{XY}" / "site-packages"


def chown_tree(path: Path, uid: int, gid: int = -1) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)


def add_mode(path: Path, bits: int) -> None:
    path.chmod(path.stat().st_mode | bits)


# --- a real group, and a colleague in it ------------------------------------------------


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    colleague: str
    colleague_uid: int


def _useradd() -> None:
    sysdeps._ensure("groupadd", lambda: sysdeps._apt_install("passwd"), ("/usr/sbin/groupadd",))


@pytest.fixture(scope="module")
def project_group() -> Iterator[Group]:
    """A group ``pktNNN`` and a user ``pktNNNc`` in it, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    _useradd()
    name = f"pkt{os.getpid()}"
    colleague = f"{name}c"
    subprocess.run(["groupadd", name], check=True)
    try:
        subprocess.run(
            ["useradd", "--no-create-home", "--no-user-group", "--groups", name, colleague],
            check=True,
        )
        try:
            yield Group(name, grp.getgrnam(name).gr_gid, colleague, pwd.getpwnam(colleague).pw_uid)
        finally:
            subprocess.run(["userdel", colleague], check=False)
    finally:
        subprocess.run(["groupdel", name], check=False)


# --- the world: one root with every case in its own directory ---------------------------


@dataclass(frozen=True)
class Case:
    """One environment next to ``notebook`` (relative to the root) and what must happen."""

    name: str
    notebook: str
    marker: Path
    trusted: bool
    #: Pieces of the text the person reads (refused cases).
    expect: tuple[str, ...] = ()


@dataclass(frozen=True)
class World:
    tmp: Path
    root: Path
    group: Group
    trusted_prefix: Path
    cases: dict[str, Case]

    def config(self, on_unusable: str = "fallback") -> str:
        return PROJECT_KERNELS_CONFIG + (
            f"c.ProjectKernels.trusted_groups = [{self.group.name!r}]\n"
            f"c.ProjectKernels.trusted_paths = [{str(self.trusted_prefix)!r}]\n"
            f"c.ProjectKernels.on_unusable = {on_unusable!r}\n"
        )

    def policy(self) -> TrustPolicy:
        return TrustPolicy.for_current_user((), [self.group.name], [str(self.trusted_prefix)])

    def env(self, case: str) -> Path:
        return self.root / Path(self.cases[case].notebook).parent / ".venv"


REFUSED = (
    "owned-by-nobody",
    "group-writable",
    "world-writable",
    "interpreter-owned-by-nobody",
    "interpreter-link-in-nobodys-directory",
    "site-packages-writable",
    "pth-file-writable",
    "config-owned-by-nobody",
    "symlinked-environment-owned-by-nobody",
    "markup-in-the-name",
)
ACCEPTED = (
    "yours",
    "trusted-group-writable",
    "colleague-in-trusted-group",
    "trusted-path-prefix",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, project_group: Group) -> World:
    tmp = tmp_path_factory.mktemp("trust")
    root = tmp / "root"
    markers = tmp / "markers"
    markers.mkdir()
    prefix = root / "trusted-prefix"
    cases: dict[str, Case] = {}

    def case(
        name: str,
        build: Callable[[Path, Path], object],
        trusted: bool,
        *expect: str,
        where: str = "",
    ) -> None:
        directory = root / (where or name)
        directory.mkdir(parents=True)
        marker = markers / name
        build(directory / ".venv", marker)
        cases[name] = Case(name, f"{where or name}/nb.ipynb", marker, trusted, expect)

    def owned_by_nobody(env: Path, marker: Path) -> None:
        chown_tree(plant(env, marker), NOBODY, NOGROUP)

    def group_writable(env: Path, marker: Path) -> None:
        plant(env, marker)
        os.chown(env, 0, NOGROUP)
        add_mode(env, 0o020)

    def world_writable(env: Path, marker: Path) -> None:
        add_mode(plant(env, marker), 0o002)

    def interpreter_owned_by_nobody(env: Path, marker: Path) -> None:
        other = write_interpreter(tmp / "elsewhere" / "python", marker)
        os.chown(other, NOBODY, NOGROUP)
        plant(env, marker, interpreter=other)

    def interpreter_link_in_nobodys_directory(env: Path, marker: Path) -> None:
        real = write_interpreter(tmp / "system" / "python", marker)
        link_dir = tmp / "nobodys-links"
        link_dir.mkdir()
        (link_dir / "python").symlink_to(real)
        chown_tree(link_dir, NOBODY, NOGROUP)
        plant(env, marker, interpreter=link_dir / "python")

    def site_packages_writable(env: Path, marker: Path) -> None:
        add_mode(site_packages(plant(env, marker)), 0o002)

    def pth_file_writable(env: Path, marker: Path) -> None:
        (site_packages(plant(env, marker)) / "distutils-precedence.pth").chmod(0o666)

    def config_owned_by_nobody(env: Path, marker: Path) -> None:
        os.chown(plant(env, marker) / "pyvenv.cfg", NOBODY, NOGROUP)

    def symlinked_environment(env: Path, marker: Path) -> None:
        target = tmp / "linked-target"
        chown_tree(plant(target, marker), NOBODY, NOGROUP)
        env.symlink_to(target)

    def trusted_group_writable(env: Path, marker: Path) -> None:
        chown_tree(plant(env, marker), 0, project_group.gid)
        add_mode(env, 0o020)
        add_mode(site_packages(env), 0o020)

    def colleague_in_trusted_group(env: Path, marker: Path) -> None:
        chown_tree(plant(env, marker), project_group.colleague_uid, project_group.gid)

    prefix_env = f"{prefix.name}/shared"
    case(
        "owned-by-nobody",
        owned_by_nobody,
        False,
        "belongs to user 'nobody'",
        "c.ProjectKernels.trusted_owners",
        "chown -R root",
    )
    case(
        "group-writable",
        group_writable,
        False,
        "is writable by group 'nogroup'",
        "chmod -R g-w",
        "c.ProjectKernels.trusted_groups",
    )
    case(
        "world-writable",
        world_writable,
        False,
        "is writable by everyone",
        "chmod -R go-w",
        "c.ProjectKernels.trusted_paths",
    )
    case(
        "interpreter-owned-by-nobody",
        interpreter_owned_by_nobody,
        False,
        f"(really {tmp}/elsewhere/python) belongs to user 'nobody'",
    )
    case(
        "interpreter-link-in-nobodys-directory",
        interpreter_link_in_nobodys_directory,
        False,
        f"A directory holding a symlink to its interpreter {tmp}/nobodys-links belongs to "
        "user 'nobody'",
    )
    case(
        "site-packages-writable",
        site_packages_writable,
        False,
        f"Its site-packages directory {root}/site-packages-writable/.venv/lib/python{XY}/"
        "site-packages is writable by everyone",
    )
    case(
        "pth-file-writable",
        pth_file_writable,
        False,
        "A startup file in its site-packages",
        "distutils-precedence.pth is writable by everyone",
    )
    case(
        "config-owned-by-nobody",
        config_owned_by_nobody,
        False,
        "Its configuration file",
        "pyvenv.cfg belongs to user 'nobody'",
    )
    case(
        "symlinked-environment-owned-by-nobody",
        symlinked_environment,
        False,
        f"(really {tmp}/linked-target)",
        "belongs to user 'nobody'",
    )
    case(
        "markup-in-the-name",
        owned_by_nobody,
        False,
        sanitize(MARKUP_NAME),
        "belongs to user 'nobody'",
        where=MARKUP_NAME,
    )
    case("yours", plant, True)
    case("trusted-group-writable", trusted_group_writable, True)
    case("colleague-in-trusted-group", colleague_in_trusted_group, True)
    case("trusted-path-prefix", owned_by_nobody, True, where=prefix_env)
    # Outside the root: a trusted environment the walk must still never reach.
    plant(tmp / ".venv", markers / "above-root")
    plant(tmp / "outside" / ".venv", markers / "outside")
    (root / "below").mkdir()
    return World(tmp, root, project_group, prefix, cases)


def assert_never_ran(world: World, case: Case) -> None:
    assert not case.marker.exists(), f"{case.name}: the refused interpreter ran"


# --- the verdict, from files alone ------------------------------------------------------


@pytest.mark.parametrize("name", REFUSED)
def test_refused_environment_carries_only_the_untrusted_problem(world: World, name: str) -> None:
    environment = judge(inspect_venv(world.env(name)), world.policy())
    assert not environment.usable
    assert {p.code for p in environment.problems} == {ProblemCode.UNTRUSTED}
    text = sanitize("\n".join(f"{p.summary}\n{p.fix}" for p in environment.problems))
    for piece in world.cases[name].expect:
        assert piece in text, (piece, text)
    assert "jupyter_server_config.py" in text
    assert_never_ran(world, world.cases[name])


@pytest.mark.parametrize("name", ACCEPTED)
def test_trusted_environment_is_unchanged(world: World, name: str) -> None:
    inspected = inspect_venv(world.env(name))
    assert inspected.usable
    assert judge(inspected, world.policy()) is inspected


def test_group_and_prefix_trust_are_what_accept_them(world: World) -> None:
    bare = TrustPolicy.for_current_user()
    for name in ("trusted-group-writable", "colleague-in-trusted-group", "trusted-path-prefix"):
        refused = judge(inspect_venv(world.env(name)), bare)
        assert [p.code for p in refused.problems][:1] == [ProblemCode.UNTRUSTED], name


def test_a_trusted_owner_is_accepted(world: World) -> None:
    policy = TrustPolicy.for_current_user(["nobody"])
    assert judge(inspect_venv(world.env("owned-by-nobody")), policy).usable
    by_uid = TrustPolicy.for_current_user([str(NOBODY)])
    assert judge(inspect_venv(world.env("owned-by-nobody")), by_uid).usable


def test_a_member_outside_the_files_group_is_not_trusted(world: World, tmp_path: Path) -> None:
    # nobody is not in the trusted group, even when the file carries that group.
    env = plant(tmp_path / ".venv", tmp_path / "marker")
    chown_tree(env, NOBODY, world.group.gid)
    refused = judge(inspect_venv(env), world.policy())
    assert "belongs to user 'nobody'" in refused.problems[0].summary


def test_the_users_private_group_may_write(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.geteuid())
    private = grp.getgrgid(me.pw_gid)
    if private.gr_name != me.pw_name or set(private.gr_mem) - {me.pw_name}:
        pytest.skip(f"{me.pw_name}'s primary group is not a private group")
    env = plant(tmp_path / ".venv", tmp_path / "marker")
    add_mode(env, 0o020)
    add_mode(site_packages(env), 0o020)
    assert judge(inspect_venv(env), TrustPolicy.for_current_user()).usable


def test_a_sticky_directory_may_hold_the_interpreter(tmp_path: Path) -> None:
    shared = tmp_path / "sticky"
    write_interpreter(shared / "python", tmp_path / "marker")
    add_mode(shared, 0o1777)
    env = plant(tmp_path / ".venv", tmp_path / "marker", interpreter=shared / "python")
    assert judge(inspect_venv(env), TrustPolicy.for_current_user()).usable
    shared.chmod(0o777)
    refused = judge(inspect_venv(env), TrustPolicy.for_current_user())
    assert "The directory holding its interpreter" in refused.problems[0].summary


def test_unknown_names_are_kept_for_a_warning() -> None:
    policy = TrustPolicy.for_current_user(["no-such-user-x"], ["no-such-group-x"], [])
    assert policy.unresolved == ("no-such-user-x", "no-such-group-x")


def test_trusted_paths_are_compared_by_real_path(world: World, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(world.trusted_prefix)
    policy = TrustPolicy.for_current_user((), (), [str(alias)])
    assert judge(inspect_venv(world.env("trusted-path-prefix")), policy).usable


def test_symlink_holders_records_where_each_link_lives(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "python3.12").write_text("")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "python").symlink_to("../real/python3.12")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(tmp_path / "links" / "python")
    real, holders = symlink_holders(tmp_path / "bin" / "python")
    assert real == Path(os.path.realpath(tmp_path / "real" / "python3.12"))
    assert holders == [Path(os.path.realpath(tmp_path / d)) for d in ("bin", "links")]


def test_paths_resolve_once_per_directory_exactly_as_realpath_does(tmp_path: Path) -> None:
    # The checks resolve an environment's paths through a per-environment memo (a fraction
    # of the lstat calls); it must answer what os.path.realpath and symlink_holders answer.
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "real" / "file").write_text("")
    links = {
        "abs": str(tmp_path / "real"),
        "rel": "real/sub",
        "up": "../real",
        "chain": "abs",
        "dangling": "gone/away",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
    }
    (tmp_path / "links").mkdir()
    for name, target in links.items():
        where = tmp_path / ("links" if name == "up" else "") / name
        where.symlink_to(target)
    paths = [
        tmp_path / "chain" / "sub",
        tmp_path / "links" / "up" / "file",
        tmp_path / "rel" / ".." / "file",
        tmp_path / "dangling" / "x",
        tmp_path / "loop-a" / "x",
        tmp_path / "loop-b",
        tmp_path / "real" / "file" / "not-a-dir",
        tmp_path / "abs" / "sub" / "." / "",
    ]
    resolved = trust_module._RealPaths()
    for path in paths * 2:  # the second round answers from the memo
        assert resolved(path) == Path(os.path.realpath(path)), path
        try:
            expected: object = symlink_holders(path)
        except OSError as error:
            expected = error.errno
        try:
            answered: object = resolved.with_holders(path)
        except OSError as error:
            answered = error.errno
        assert answered == expected, path


def test_an_unusable_trusted_environment_keeps_its_own_problems(tmp_path: Path) -> None:
    env = plant(tmp_path / ".venv", tmp_path / "marker")
    shutil.rmtree(site_packages(env) / "ipykernel-7.4.0.dist-info")
    judged = judge(inspect_venv(env), TrustPolicy.for_current_user())
    assert [p.code for p in judged.problems] == [ProblemCode.NO_IPYKERNEL]


@needs_root
def test_a_fifo_planted_as_the_interpreter_does_not_hang_the_walk(tmp_path: Path) -> None:
    env = plant(tmp_path / "nb" / ".venv", tmp_path / "marker")
    (env / "bin" / "python").unlink()
    os.mkfifo(env / "bin" / "python")
    (env / "bin" / "python").chmod(0o755)
    chown_tree(env, NOBODY, NOGROUP)
    found: list[Walk | None] = []
    request = LaunchRequest(cwd=str(tmp_path / "nb"), root_dir=tmp_path)
    worker = threading.Thread(
        target=lambda: found.append(resolve(request, Settings())), daemon=True
    )
    worker.start()
    worker.join(timeout=20)
    assert found, "inspecting a FIFO interpreter blocked"
    walk = found[0]
    assert walk is not None and walk.environment is not None
    assert {p.code for p in walk.environment.problems} == {ProblemCode.UNTRUSTED}


# --- the walk never leaves the root -----------------------------------------------------


def walk_from(world: World, cwd: str | None = None, session_name: str | None = None) -> Path | None:
    request = LaunchRequest(root_dir=world.root, cwd=cwd, session_name=session_name)
    walk = resolve(request, Settings(trust=world.policy()))
    assert walk is not None
    assert all(d == world.root or world.root in d.parents for d in walk.visited)
    return walk.environment.root if walk.environment else None


def test_an_environment_above_the_root_is_never_found(world: World) -> None:
    assert walk_from(world, cwd=str(world.root / "below")) is None


def test_a_cwd_outside_the_root_starts_at_the_root(world: World) -> None:
    assert walk_from(world, cwd=str(world.tmp / "outside")) is None
    assert walk_from(world, cwd=f"{world.root}/below/../../outside") is None


def test_a_session_name_with_traversal_starts_at_the_root(world: World) -> None:
    assert walk_from(world, session_name=f"{world.root}/below/../../outside/nb.ipynb") is None
    assert walk_from(world, session_name="../outside/nb.ipynb") is None


def test_a_symlinked_directory_is_walked_as_named_and_judged_by_its_target(
    world: World, tmp_path: Path
) -> None:
    mounted = world.root / "mounted"
    mounted.symlink_to(tmp_path, target_is_directory=True)
    chown_tree(plant(tmp_path / ".venv", tmp_path / "marker"), NOBODY, NOGROUP)
    # Its real parent has a (trusted) environment the walk must not reach.
    (world.tmp / "outside" / "sub").mkdir(exist_ok=True)
    sub = world.root / "sub-of-outside"
    sub.symlink_to(world.tmp / "outside" / "sub", target_is_directory=True)
    settings = Settings(trust=world.policy())
    try:
        walk = resolve(LaunchRequest(cwd=str(mounted), root_dir=world.root), settings)
        assert walk is not None and walk.environment is not None
        assert walk.environment.root == mounted / ".venv"
        assert {p.code for p in walk.environment.problems} == {ProblemCode.UNTRUSTED}
        assert (
            f"(really {os.path.realpath(tmp_path)}/.venv)" in walk.environment.problems[0].summary
        )
        walk = resolve(LaunchRequest(cwd=str(sub), root_dir=world.root), settings)
        assert walk is not None and walk.visited == (sub, world.root)
        assert walk.environment is None
    finally:
        mounted.unlink()
        sub.unlink()


def test_outside_the_stop_directory_only_the_notebooks_directory_is_looked_at(
    world: World,
) -> None:
    settings = Settings(stop_directory=world.root, trust=world.policy())
    start = world.tmp / "outside" / "sub"
    start.mkdir(exist_ok=True)
    walk = resolve(LaunchRequest(cwd=str(start), home=None), settings)
    assert walk is not None and walk.visited == (start,) and walk.environment is None


# --- project-kernels doctor --run -------------------------------------------------------


def doctor(world: World, case: Case, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = world.tmp / "cli_config.py"
    config.write_text(world.config())
    directory = world.root / Path(case.notebook).parent
    with pytest.raises(SystemExit) as exited:
        cli.main(
            [
                "doctor",
                "--run",
                str(directory),
                "--root-dir",
                str(world.root),
                "--config",
                str(config),
            ]
        )
    return int(exited.value.code or 0), capsys.readouterr().out


@pytest.fixture
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


@pytest.mark.parametrize("name", REFUSED)
def test_doctor_run_shows_the_verdict_and_runs_nothing(
    world: World, name: str, capsys: pytest.CaptureFixture[str], isolated_config: None
) -> None:
    case = world.cases[name]
    status, out = doctor(world, case, capsys)
    assert status == 1
    assert ": UNUSABLE" in out
    folded = " ".join(out.split())  # human output folds long lines for the terminal
    for piece in case.expect:
        assert " ".join(piece.split()) in folded, (piece, out)
    assert "\x1b" not in out and "<img" not in out
    assert_never_ran(world, case)


def test_doctor_run_does_run_a_trusted_environment(
    world: World, capsys: pytest.CaptureFixture[str], isolated_config: None
) -> None:
    case = world.cases["colleague-in-trusted-group"]
    case.marker.unlink(missing_ok=True)
    status, out = doctor(world, case, capsys)
    assert (status, case.marker.exists()) == (0, True), out


# --- through a real Jupyter server ------------------------------------------------------


@pytest.fixture(scope="module")
def fallback_server(world: World) -> Iterator[JupyterServer]:
    with running_server(world.root, world.tmp, world.config("fallback")) as server:
        yield server


@pytest.fixture(scope="module")
def error_server(world: World) -> Iterator[JupyterServer]:
    with running_server(world.root, world.tmp, world.config("error")) as server:
        yield server


def kernel_environment(server: JupyterServer, kernel: str) -> str | None:
    result = server.execute(kernel, "import os; print(os.environ.get('VIRTUAL_ENV'))")
    assert result.status == "ok", result
    value = result.stdout.strip()
    return None if value == "None" else value


@pytest.mark.slow
@pytest.mark.parametrize("name", REFUSED)
def test_notebook_of_a_refused_environment_explains_and_runs_nothing(
    world: World, fallback_server: JupyterServer, name: str
) -> None:
    case = world.cases[name]
    kernel = fallback_server.kernel_for(case.notebook)
    cell = fallback_server.execute(kernel, "import numpy")
    assert cell.error is not None and cell.error["ename"] == "EnvironmentUnusable", cell
    shown = "\n".join(cell.error["traceback"])
    assert "cannot run a kernel" in shown
    for piece in case.expect:
        assert piece in shown, (piece, shown)
    assert "\x1b" not in shown and "<img" not in shown and "www.evil" not in shown
    # '!' commands run, but the refused environment's bin/ is not on PATH.
    shell = fallback_server.execute(kernel, "!echo $PATH\n!python -c 'print(42)'")
    assert "42" in shell.stdout, shell
    assert str(world.env(name)) not in shell.stdout
    assert_never_ran(world, case)
    fallback_server.request("DELETE", f"/api/kernels/{kernel}")


@pytest.mark.slow
def test_restarting_the_explaining_kernel_still_runs_nothing(
    world: World, fallback_server: JupyterServer
) -> None:
    case = world.cases["interpreter-owned-by-nobody"]
    kernel = fallback_server.kernel_for(case.notebook)
    for _ in range(2):
        assert fallback_server.restart(kernel).ok
        cell = fallback_server.execute(kernel, "1")
        assert cell.error is not None and "belongs to user 'nobody'" in cell.error["evalue"] + (
            "\n".join(cell.error["traceback"])
        )
    assert_never_ran(world, case)
    fallback_server.request("DELETE", f"/api/kernels/{kernel}")


@pytest.mark.slow
@pytest.mark.parametrize("name", ACCEPTED)
def test_notebook_of_a_trusted_environment_runs_in_it(
    world: World, fallback_server: JupyterServer, name: str
) -> None:
    case = world.cases[name]
    case.marker.unlink(missing_ok=True)
    kernel = fallback_server.kernel_for(case.notebook)
    assert kernel_environment(fallback_server, kernel) == str(world.env(name))
    assert case.marker.exists()
    fallback_server.request("DELETE", f"/api/kernels/{kernel}")


@pytest.mark.slow
def test_environments_outside_the_root_never_run(
    world: World, fallback_server: JupyterServer
) -> None:
    above = fallback_server.kernel_for("below/nb.ipynb")
    # JPY_SESSION_NAME made from a name with traversal points at ../outside/nb.ipynb.
    session = fallback_server.request(
        "POST",
        "/api/sessions",
        json={
            "path": "below/x.ipynb",
            "type": "notebook",
            "name": "../../outside/nb.ipynb",
            "kernel": {"name": "python3"},
        },
    )
    assert session.status_code == 201, session.text
    traversal = session.json()["kernel"]["id"]
    # POST /api/kernels with a path outside the root gives the kernel that cwd.
    started = fallback_server.request("POST", "/api/kernels", json={"path": "../outside"})
    assert started.status_code == 201, started.text
    for kernel in (above, traversal, started.json()["id"]):
        assert kernel_environment(fallback_server, kernel) is None
        fallback_server.request("DELETE", f"/api/kernels/{kernel}")
    assert not (world.tmp / "markers" / "above-root").exists()
    assert not (world.tmp / "markers" / "outside").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", REFUSED)
def test_error_mode_says_why_in_the_start_error(
    world: World, error_server: JupyterServer, name: str
) -> None:
    case = world.cases[name]
    response = error_server.start_session(case.notebook)
    assert response.status_code == 500
    message = response.json()["message"]
    for piece in case.expect:
        assert piece in message, (piece, message)
    assert "\x1b" not in message and "<img" not in message
    assert_never_ran(world, case)
