"""``project-kernels enable|disable|status``: turn project-kernels on once, for every front end.

``enable`` writes two things at one level of Jupyter's paths (``--sys-prefix``,
``--user`` or ``--system``, as ``jupyter server extension enable`` does):

- ``jupyter_server_config.d/project_kernels.json``, enabling the server extension
  (:mod:`.extension`) that selects the project-aware spec manager, for JupyterLab,
  Notebook 7 and Voila;
- the ``provisioner`` stanza in that level's ``kernels/python3/kernel.json`` (made
  if there is none), so that ``jupyter nbconvert --execute``, papermill and any
  other jupyter_client user launch ``python3`` through project-kernels.

``disable`` takes out exactly that again. Files someone else wrote are never
rewritten, except for adding or removing the one stanza in a python3 kernelspec.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .config import load_config
from .files import write_atomically
from .names import (
    EXTENSION_MODULE,
    IPYKERNEL_ARGV,
    NATIVE_KERNEL,
    PROVISIONER_NAME,
    PROVISIONER_VARIABLE,
    is_ipykernel_command,
    names_provisioner,
    provisioner_stanza,
)
from .report import show
from .schema import with_schema

__all__ = ["Change", "FrontEnd", "Scope", "disable", "enable", "register", "status"]

EXTENSION_FILE = "project_kernels.json"
#: Left in a python3 kernelspec directory that ``enable`` created, so ``disable`` removes it.
CREATED_MARKER = "created-by-project-kernels"


class Scope(str, Enum):
    """Which level of Jupyter's configuration and data paths ``enable`` writes to."""

    SYS_PREFIX = "sys-prefix"
    USER = "user"
    SYSTEM = "system"


@dataclass(frozen=True)
class Locations:
    """The configuration and data directories of one scope."""

    config_dir: Path
    data_dir: Path

    @property
    def extension_file(self) -> Path:
        """The drop-in that enables the server extension."""
        return self.config_dir / "jupyter_server_config.d" / EXTENSION_FILE

    @property
    def kernelspec_dir(self) -> Path:
        """The python3 kernelspec of this scope."""
        return self.data_dir / "kernels" / NATIVE_KERNEL


def locations(scope: Scope) -> Locations:
    """Where ``scope`` lives, by jupyter_core's own rules (as ``jupyter kernelspec`` has them)."""
    from jupyter_core import paths

    if scope is Scope.USER:
        return Locations(Path(paths.jupyter_config_dir()), Path(paths.jupyter_data_dir()))
    if scope is Scope.SYSTEM:
        return Locations(Path(paths.SYSTEM_CONFIG_PATH[0]), Path(paths.SYSTEM_JUPYTER_PATH[0]))
    return Locations(Path(paths.ENV_CONFIG_PATH[0]), Path(paths.ENV_JUPYTER_PATH[0]))


@dataclass(frozen=True)
class Change:
    """What one command did to one file, said for a person."""

    path: Path
    action: str  # "wrote", "removed", "unchanged", "left alone"
    detail: str


# -- enable / disable ---------------------------------------------------------------------------


def enable(scope: Scope) -> list[Change]:
    """Enable the server extension and the python3 kernelspec's provisioner at ``scope``."""
    where = locations(scope)
    return [_enable_extension(where.extension_file), _enable_kernelspec(where.kernelspec_dir)]


def disable(scope: Scope) -> list[Change]:
    """Undo :func:`enable` at ``scope``, leaving everything else as it is."""
    where = locations(scope)
    return [_disable_extension(where.extension_file), _disable_kernelspec(where.kernelspec_dir)]


def extension_config(enabled: bool = True) -> dict[str, Any]:
    """The drop-in's content."""
    return {"ServerApp": {"jpserver_extensions": {EXTENSION_MODULE: enabled}}}


def _enable_extension(path: Path) -> Change:
    data = _read_json(path) if path.exists() else {}
    if data is None:
        return Change(path, "left alone", "not valid JSON; fix or delete it, then enable again")
    extensions = data.setdefault("ServerApp", {}).setdefault("jpserver_extensions", {})
    if extensions.get(EXTENSION_MODULE) is True:
        return Change(path, "unchanged", "server extension already enabled")
    extensions[EXTENSION_MODULE] = True
    _write_json(path, data)
    return Change(path, "wrote", "server extension (JupyterLab, Notebook 7, Voila)")


def _disable_extension(path: Path) -> Change:
    if not path.exists():
        return Change(path, "unchanged", "no server extension file here")
    data = _read_json(path)
    if data is None:
        return Change(path, "left alone", "not valid JSON; delete it by hand")
    extensions = data.get("ServerApp", {}).get("jpserver_extensions", {})
    extensions.pop(EXTENSION_MODULE, None)
    if data == {"ServerApp": {"jpserver_extensions": {}}}:
        path.unlink()
        return Change(path, "removed", "server extension")
    _write_json(path, data)
    return Change(path, "wrote", "server extension entry taken out; other entries kept")


def _enable_kernelspec(directory: Path) -> Change:
    path = directory / "kernel.json"
    if not path.exists():
        return _create_kernelspec(directory)
    spec = _read_json(path)
    if spec is None:
        return Change(path, "left alone", "not valid JSON; python3 is not project-aware")
    if not is_ipykernel_command(spec.get("argv") or [], str(spec.get("language") or "")):
        return Change(path, "left alone", "this python3 does not start ipykernel")
    current = (spec.get("metadata") or {}).get("kernel_provisioner")
    if current is not None:
        if current.get("provisioner_name") == PROVISIONER_NAME:
            return Change(path, "unchanged", "python3 already launches through project-kernels")
        return Change(
            path, "left alone", f"python3 already names the provisioner {current!r}; not replaced"
        )
    spec.setdefault("metadata", {})["kernel_provisioner"] = provisioner_stanza()
    _write_json(path, spec)
    return Change(path, "wrote", "python3 kernelspec: provisioner added (nbconvert, papermill)")


def _create_kernelspec(directory: Path) -> Change:
    spec: dict[str, Any] = {
        "argv": list(IPYKERNEL_ARGV),
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "metadata": {"debugger": True, "kernel_provisioner": provisioner_stanza()},
    }
    directory.mkdir(parents=True, exist_ok=True)
    for logo in _ipykernel_logos():
        shutil.copyfile(logo, directory / logo.name)
    (directory / CREATED_MARKER).write_text(
        "This kernelspec was made by `project-kernels enable`; `project-kernels disable` "
        "removes it.\n"
    )
    _write_json(directory / "kernel.json", spec)
    return Change(directory / "kernel.json", "wrote", "python3 kernelspec (nbconvert, papermill)")


def _disable_kernelspec(directory: Path) -> Change:
    path = directory / "kernel.json"
    if (directory / CREATED_MARKER).exists():
        shutil.rmtree(directory)
        return Change(path, "removed", "python3 kernelspec made by enable")
    spec = _read_json(path) if path.exists() else None
    metadata = (spec or {}).get("metadata") or {}
    if spec is None or not names_provisioner(metadata):
        return Change(path, "unchanged", "python3 does not name project-kernels here")
    del metadata["kernel_provisioner"]
    _write_json(path, spec)
    return Change(path, "wrote", "python3 kernelspec: provisioner taken out")


def _ipykernel_logos() -> list[Path]:
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:
        return []
    return sorted(p for p in Path(RESOURCES).iterdir() if p.name.startswith("logo"))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(data, indent=1) + "\n")


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontEnd:
    """Whether notebooks opened by one front end are project-aware, and why."""

    name: str
    aware: bool
    why: str


def status() -> list[FrontEnd]:
    """The verdict for the Jupyter server, nbconvert and plain jupyter_client (papermill)."""
    python3 = _effective_python3()
    variable = os.environ.get(PROVISIONER_VARIABLE, "")
    return [
        _server_status(python3, variable),
        _client_status("jupyter nbconvert --execute", python3, variable, _nbconvert_default()),
        _client_status("papermill and other jupyter_client users", python3, variable, ""),
    ]


@dataclass(frozen=True)
class _Python3:
    """The python3 kernelspec that plain jupyter_client finds first, and whether it is ours."""

    path: Path | None
    carries_provisioner: bool


def _effective_python3() -> _Python3:
    from jupyter_client.kernelspec import KernelSpecManager

    directory = KernelSpecManager().find_kernel_specs().get(NATIVE_KERNEL)
    if directory is None:
        return _Python3(None, False)
    path = Path(directory) / "kernel.json"
    spec = _read_json(path) or {}
    return _Python3(path, names_provisioner(spec.get("metadata")))


def _server_status(python3: _Python3, variable: str) -> FrontEnd:
    name = "Jupyter server (JupyterLab, Notebook 7, Voila)"
    configured = _server_spec_manager()
    if configured and "ProjectKernelSpecManager" in configured:
        return FrontEnd(name, True, f"ServerApp.kernel_spec_manager_class = {configured}")
    if configured:
        return FrontEnd(
            name,
            python3.carries_provisioner or variable == PROVISIONER_NAME,
            f"ServerApp.kernel_spec_manager_class is set to {configured}, which the extension "
            "leaves alone; "
            + (
                "python3 still names the provisioner"
                if python3.carries_provisioner
                else "use project_kernels.ProjectKernelSpecManager (or a subclass) instead"
            ),
        )
    source = _extension_source()
    if source is not None and source[1]:
        return FrontEnd(name, True, f"server extension enabled in {show(source[0])}")
    if source is not None:
        return FrontEnd(
            name,
            False,
            f"server extension disabled in {show(source[0])}; run `project-kernels enable`",
        )
    return FrontEnd(
        name,
        python3.carries_provisioner,
        "server extension not enabled; "
        + (
            f"python3 ({show(python3.path)}) names the provisioner, so it is project-aware"
            if python3.carries_provisioner
            else "run `project-kernels enable`"
        ),
    )


def _client_status(name: str, python3: _Python3, variable: str, configured: str) -> FrontEnd:
    if variable == PROVISIONER_NAME:
        return FrontEnd(name, True, f"{PROVISIONER_VARIABLE}={PROVISIONER_NAME} (every kernel)")
    if configured == PROVISIONER_NAME:
        return FrontEnd(name, True, "KernelProvisionerFactory.default_provisioner_name is set")
    if python3.carries_provisioner:
        return FrontEnd(name, True, f"python3 kernelspec {show(python3.path)} names it")
    if python3.path is not None:
        return FrontEnd(
            name,
            False,
            f"python3 is {show(python3.path)}, which does not name the provisioner; "
            + _fix_for(python3.path),
        )
    return FrontEnd(name, False, "no python3 kernelspec found; run `project-kernels enable`")


def _fix_for(kernel_json: Path) -> str:
    for scope in Scope:
        if kernel_json.parent == locations(scope).kernelspec_dir:
            return f"run `project-kernels enable --{scope.value}`"
    if kernel_json.parent.name == "resources" and kernel_json.parent.parent.name == "ipykernel":
        return "it is ipykernel's built-in one; run `project-kernels enable`"
    return (
        f"it hides the one `project-kernels enable` writes: remove it "
        f"(`jupyter kernelspec remove {NATIVE_KERNEL}`) or add the provisioner to it"
    )


def _server_spec_manager() -> str:
    value = load_config().get("ServerApp", {}).get("kernel_spec_manager_class", "")
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return str(value or "")


def _extension_source() -> tuple[Path, bool] | None:
    """The highest-priority file that mentions the extension, and whether it enables it."""
    from jupyter_core.paths import jupyter_config_path

    for directory in jupyter_config_path():
        for path in _server_config_files(Path(directory)):
            data = _read_json(path) or {}
            extensions = data.get("ServerApp", {}).get("jpserver_extensions", {})
            if EXTENSION_MODULE in extensions:
                return path, bool(extensions[EXTENSION_MODULE])
    return None


def _server_config_files(directory: Path) -> Iterator[Path]:
    yield directory / "jupyter_server_config.json"
    drop_ins = directory / "jupyter_server_config.d"
    if drop_ins.is_dir():
        yield from sorted(drop_ins.glob("*.json"), reverse=True)


def _nbconvert_default() -> str:
    from jupyter_core.application import JupyterApp

    loader = JupyterApp(config_file_name="jupyter_nbconvert_config")
    loader.load_config_file()
    section = loader.config.get("KernelProvisionerFactory", {})
    return str(section.get("default_provisioner_name", ""))


# -- command line ---------------------------------------------------------------------------------


def cmd_enable(args: argparse.Namespace) -> int:
    """``project-kernels enable``."""
    return _run(enable, args)


def cmd_disable(args: argparse.Namespace) -> int:
    """``project-kernels disable``."""
    return _run(disable, args)


def _run(action: Callable[[Scope], list[Change]], args: argparse.Namespace) -> int:
    scope = Scope(args.scope)
    try:
        changes = action(scope)
    except PermissionError as denied:
        print(
            f"Permission denied writing {show(denied.filename)}: the {scope.value} level "
            "belongs to its owner. Run this as that user (for example with sudo), or use --user."
        )
        return 1
    for change in changes:
        print(f"{change.action:>10}  {show(change.path)}  ({change.detail})")
    print("\nCheck with: project-kernels status")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """``project-kernels status``: per front end, project-aware or not, and why."""
    front_ends = status()
    if args.json:
        payload = [{"front_end": f.name, "aware": f.aware, "why": f.why} for f in front_ends]
        print(json.dumps(with_schema({"front_ends": payload}), indent=2))
    else:
        for front_end in front_ends:
            verdict = "project-aware" if front_end.aware else "NOT project-aware"
            print(f"{front_end.name}: {verdict}\n    {front_end.why}")
    return 0 if all(f.aware for f in front_ends) else 1


SCOPE_HELP = {
    Scope.SYS_PREFIX: "this Python environment's etc/jupyter and share/jupyter (default)",
    Scope.USER: "your own ~/.jupyter and Jupyter data directory",
    Scope.SYSTEM: "the machine's /usr/local/etc/jupyter and /usr/local/share/jupyter",
}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``enable``, ``disable`` and ``status`` (``common``'s options do not apply)."""
    for name, func, text in (
        ("enable", cmd_enable, "make every front end project-aware"),
        ("disable", cmd_disable, "undo enable"),
    ):
        parser = sub.add_parser(name, help=text)
        levels = parser.add_mutually_exclusive_group()
        for scope, where in SCOPE_HELP.items():
            levels.add_argument(
                f"--{scope.value}",
                dest="scope",
                action="store_const",
                const=scope.value,
                help=where,
            )
        parser.set_defaults(func=func, scope=Scope.SYS_PREFIX.value)
    state = sub.add_parser("status", help="whether each front end is project-aware, and why")
    state.add_argument("--json", action="store_true", help="machine-readable output")
    state.set_defaults(func=cmd_status)
