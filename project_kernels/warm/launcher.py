"""A warm kernel's first program: imports what a kernel needs, waits, then becomes one.

Run by an environment's own interpreter, with the interpreter options of the
kernel's command, as ``python [options] launcher.py ASSIGN_FD STATUS_FD MODULE``
(see :mod:`.kernel`). The environment does not have project_kernels installed, so
this file imports only the standard library, and runs on every Python a kernel may
run on (3.7 and newer).

Why it can stand in for a cold start: until a notebook is assigned, it only
*imports* the modules that ``python -m ipykernel_launcher`` imports while it starts
(which are the same whatever the notebook; importing is most of a kernel's start).
Then it takes the notebook's working directory and variables, puts ``sys.path``,
``sys.argv`` and ``sys.orig_argv`` as ``-m`` would have put them, and runs MODULE as
``__main__`` exactly as ``-m`` does. Everything that depends on the notebook (the
connection file, ports, ``__session__``, the history session, startup files, the
configuration found from the working directory) happens after that, as in a cold
start. Nothing of the process ran any notebook's code before.

The protocol, one line each:

- STATUS ``ready <resident bytes>``: imports done (``failed <why>``: ipykernel does not import);
- ASSIGN a JSON object ``cwd``, ``set``, ``unset``, ``argv``, ``orig_argv``; end of file
  instead means the server is gone (killed, even with SIGKILL), and the launcher exits;
- STATUS ``assigned``: the notebook's directory and variables are in force;
- STATUS ``started``: the kernel's sockets are bound (``IPKernelApp.initialize`` returned),
  then STATUS is closed, so the kernel keeps no descriptor of ours.

Priority: the imports run in a thread of their own at nice 19 (on Linux, nice is per
thread; a process cannot lower its nice value again without privileges, so the thread
that becomes the kernel is never niced). Where Linux groups sessions for scheduling
(``/proc/<pid>/autogroup``; every kernel is a session of its own, so this process is
alone in its group), the group runs at nice 19 too (set by the server as soon as the
process exists, and here) until a notebook is assigned, then at 0, the value every new
session's group has, as a cold kernel's has.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any

#: What ``python -m ipykernel_launcher`` imports before it answers (ipykernel 6 and 7,
#: IPython 7 to 9); a name a version lacks is skipped. Nothing beyond what a cold start
#: imports: the kernel must not hold modules a cold one would not.
PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "ipykernel.comm",
    "jupyter_client.localinterfaces",
    "psutil",
    "sqlite3",
    "IPython.core.history",
    "IPython.core.completer",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "tornado.platform.asyncio",
    "faulthandler",
)
#: The module without which a warm kernel is useless.
ESSENTIAL = "ipykernel.kernelapp"
#: How nice the preparation is: it must never slow a request or another kernel down.
NICE = 19
AUTOGROUP = "/proc/self/autogroup"


def main() -> None:
    """Prepare, wait for a notebook, and become its kernel (or exit when the server is gone)."""
    adds_cwd = _drop_own_directory()
    assign_fd, status_fd, module = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    _write_autogroup(NICE)
    loader = threading.Thread(target=_preload, args=(status_fd,), name="preload", daemon=True)
    loader.start()
    line = _read_line(assign_fd)
    if line is None:
        os._exit(0)  # the server is gone: nothing else may run
    os.close(assign_fd)
    loader.join()
    _restore_autogroup()
    _become(json.loads(line), adds_cwd)
    _write(status_fd, "assigned")
    _report_started(status_fd)
    _run_module_as_main(module)


def _drop_own_directory() -> bool:
    """Take this file's directory off ``sys.path``; whether ``-m`` would add the cwd there.

    Both follow one rule (``-P``, ``PYTHONSAFEPATH`` and ``-I`` turn both off).
    """
    here = os.path.dirname(os.path.realpath(__file__))
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
        del sys.path[0]
        return True
    return False


def _preload(status_fd: int) -> None:
    _nice_this_thread()
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception as error:  # the kernel meets the same error, and reports it, itself
            if name == ESSENTIAL:
                _write(status_fd, "failed " + " ".join(repr(error).split()))
                os._exit(1)
    _write(status_fd, f"ready {_resident_bytes()}")


def _nice_this_thread() -> None:
    if not sys.platform.startswith("linux") or not hasattr(threading, "get_native_id"):
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def _restore_autogroup() -> None:
    """Give the group the nice value of a new session's (0), if it has another."""
    try:
        with open(AUTOGROUP) as handle:
            nice = int(handle.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return
    if nice != 0:
        _write_autogroup(0)


def _write_autogroup(nice: int) -> bool:
    try:
        with open(AUTOGROUP, "w") as handle:
            handle.write(str(nice))
    except OSError:
        return False
    return True


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _read_line(fd: int) -> str | None:
    """One line from ``fd``; None at end of file."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        data += chunk
    return data.decode()


def _write(fd: int, line: str) -> None:
    data = (line + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def _become(assignment: Any, adds_cwd: bool) -> None:
    """Take the notebook's directory, variables and arguments, as a cold start has them."""
    os.chdir(assignment["cwd"])
    for name in assignment["unset"]:
        os.environ.pop(name, None)
    os.environ.update(assignment["set"])
    if adds_cwd:
        sys.path.insert(0, os.getcwd())
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = list(assignment["orig_argv"])
    sys.argv = [sys.argv[0], *assignment["argv"]]


def _report_started(status_fd: int) -> None:
    """Say ``started`` once the kernel application has bound its sockets, then close STATUS."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except Exception:
        os.close(status_fd)
        return
    original = IPKernelApp.__dict__.get("initialize")
    if original is None:
        os.close(status_fd)
        return

    def initialize(self: object, *args: object, **kwargs: object) -> object:
        # The class is as it was before any kernel ran.
        IPKernelApp.initialize = original  # type: ignore[method-assign]
        try:
            return original(self, *args, **kwargs)
        finally:
            _write(status_fd, "started")
            os.close(status_fd)

    IPKernelApp.initialize = initialize  # type: ignore[method-assign]


def _run_module_as_main(module: str) -> None:
    """Run ``module`` as ``python -m module`` does, in a fresh ``__main__``."""
    import runpy
    import types

    sys.modules["__main__"] = types.ModuleType("__main__")
    runpy._run_module_as_main(module)  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
