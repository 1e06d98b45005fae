"""System programs some tests need, installed on first use when missing.

A clean machine has only Python and pip; these helpers bring in the rest with the
system's own clients (apt-get, npm) when the tests run as root, once per session,
and skip the calling test with the reason when that is impossible.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

APT_TIMEOUT = 900
"""Seconds an apt-get or npm step may take (a first chromium install downloads ~100 MB)."""


class Unavailable(Exception):
    """A system program could not be installed; the message says why."""


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    try:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=APT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{' '.join(argv)}: {exc}") from exc
    if completed.returncode != 0:
        tail = (completed.stdout + completed.stderr)[-2000:]
        raise Unavailable(f"{' '.join(argv)} failed ({completed.returncode}):\n{tail}")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise Unavailable(f"{what} is missing and installing it needs root")


@functools.cache
def _apt_updated() -> None:
    _run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"])


@functools.cache
def _apt_install(package: str) -> str:
    """Install a Debian package; returns '' on success or the reason it failed."""
    try:
        _require_root(package)
        if shutil.which("apt-get") is None:
            raise Unavailable(f"{package} is missing and there is no apt-get to install it")
        _apt_updated()
        _run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", package],
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
    except Unavailable as exc:
        return str(exc)
    return ""


@functools.cache
def _npm_install_global(package: str) -> str:
    """Install an npm package globally; returns '' on success or the reason it failed."""
    try:
        _require_root(package)
        if shutil.which("npm") is None:
            failure = _apt_install("npm")
            if failure:
                raise Unavailable(failure)
        _run(["npm", "install", "-g", "--no-audit", "--no-fund", package])
    except Unavailable as exc:
        return str(exc)
    return ""


def _program(name: str, candidates: tuple[str, ...] = ()) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((c for c in candidates if Path(c).is_file() and os.access(c, os.X_OK)), None)


def _ensure(name: str, install: Callable[[], str], candidates: tuple[str, ...] = ()) -> str:
    """The path of ``name``, installing it first if needed; skips the test otherwise."""
    found = _program(name, candidates)
    if found:
        return found
    # Test workers run in parallel: one installs, the others wait and then find it.
    with FileLock(os.path.join(tempfile.gettempdir(), "project-kernels-sysdeps.lock")):
        found = _program(name, candidates)
        if found:
            return found
        failure = install() or f"installing it did not put {name} on PATH"
    found = _program(name, candidates)
    if found:
        return found
    pytest.skip(f"{name} is not installed and could not be installed: {failure}")


def chromium() -> str:
    """Debian's chromium (``apt-get install chromium``), the browser Playwright drives."""
    return _ensure("chromium", lambda: _apt_install("chromium"), ("/usr/bin/chromium",))


def configurable_http_proxy() -> str:
    """JupyterHub's proxy, from npm (``npm install -g configurable-http-proxy``)."""
    name = "configurable-http-proxy"
    return _ensure(name, lambda: _npm_install_global(name))


def system_python() -> str:
    """Debian's ``/usr/bin/python3``: an interpreter every local user may run.

    The test runner's own Python may live under root's home, which other users
    cannot enter, so servers and environments of real users are built on this one.
    """
    path = "/usr/bin/python3"
    return _ensure(path, lambda: _apt_install("python3"), (path,))


def lmod() -> str:
    """Debian's Lmod (``apt-get install lmod``); returns its command, the shell's ``$LMOD_CMD``."""
    path = "/usr/share/lmod/lmod/libexec/lmod"
    return _ensure(path, lambda: _apt_install("lmod"), (path,))


def ensure_package(program: str, package: str, candidates: tuple[str, ...] = ()) -> str:
    """``program``, installing the Debian ``package`` that provides it when it is missing."""
    return _ensure(program, lambda: _apt_install(package), candidates)


def strace() -> str:
    """Debian's strace, to count a process's real system calls."""
    return _ensure("strace", lambda: _apt_install("strace"), ("/usr/bin/strace",))
