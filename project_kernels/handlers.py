"""The server extension's REST API: which environment a kernel runs in, or would run in.

``GET /project-kernels/api/kernels/<kernel_id>`` reports the plan the kernel was
launched with, as the provisioner recorded it at its last start or restart (never
recomputed, so it says what runs, not what would). ``GET
/project-kernels/api/which?path=<notebook>`` asks :func:`~.decision.decide` what
would launch for a notebook, before any kernel exists (the launcher's card).

Both are authenticated and authorized like jupyter_server's own kernel API (the
``kernels`` resource), so nobody who may not see a kernel learns its paths.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .config import settings_for
from .decision import LaunchPlan, decide
from .discovery import is_within, normalize
from .failure_memory import FailureMemory
from .provisioner import ProjectKernelProvisioner, failure_memory
from .resolver import LaunchRequest
from .schema import plan_json, slurm_job_json, with_schema
from .server_root import walk_root
from .slurm.job import SlurmKernel

__all__ = ["KernelEnvironmentHandler", "WhichHandler", "notebook_location", "routes"]

#: The URL prefix of every endpoint, below the server's base URL.
API_PREFIX = "project-kernels/api"
#: jupyter_server's authorization resource for kernels (its kernel handlers use the same).
AUTH_RESOURCE = "kernels"
_KERNEL_ID = r"(?P<kernel_id>[\w-]+)"


class KernelEnvironmentHandler(APIHandler):
    """``GET .../kernels/<kernel_id>``: what the kernel was launched from, and why."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        """The plan recorded at the kernel's last (re)start; 404 for an unknown kernel."""
        manager = self.kernel_manager
        if kernel_id not in manager:
            raise web.HTTPError(404, f"There is no kernel {kernel_id} on this server.")
        answer = plan_json(launch_plan(manager, kernel_id), root(self))
        # A kernel that runs as a Slurm job: its job now (queued and why, running where).
        answer["slurm_job"] = slurm_job_json(slurm_job(manager, kernel_id), root(self))
        self.finish(json.dumps(with_schema(answer)))


class WhichHandler(APIHandler):
    """``GET .../which?path=<notebook>``: what would launch for that notebook now."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """400 for a path outside the root, 404 for a directory that does not exist."""
        server_root = root(self)
        path = self.get_query_argument("path", "")
        serverapp = self.settings["serverapp"]
        memory = failure_memory(self.kernel_manager)
        try:
            # Off the event loop: the file system may be slow, modules and the failure
            # memory may run subprocesses.
            plan = await asyncio.get_running_loop().run_in_executor(
                None, would_launch, server_root, path, serverapp, memory
            )
        except NotADirectoryError as error:
            raise web.HTTPError(404, str(error)) from error
        except ValueError as error:
            raise web.HTTPError(400, str(error)) from error
        self.finish(json.dumps(with_schema(plan_json(plan, server_root))))


def would_launch(server_root: Path, path: str, parent: Any, memory: FailureMemory) -> LaunchPlan:
    """What a kernel for the notebook (or directory) ``path`` would launch from now."""
    directory, notebook = notebook_location(server_root, path)
    if not directory.is_dir():
        missing = directory.relative_to(server_root).as_posix()
        raise NotADirectoryError(f"There is no directory {missing!r} under the server's root.")
    # As the provisioner walks: a server started on one notebook walks above its root.
    kernel_manager = getattr(parent, "kernel_manager", None)
    request = LaunchRequest(
        cwd=str(directory),
        session_name=str(notebook) if notebook is not None else None,
        root_dir=server_root if kernel_manager is None else walk_root(kernel_manager),
        env=dict(os.environ),
    )
    return decide(request, settings_for(parent), memory)


def launch_plan(manager: Any, kernel_id: str) -> LaunchPlan | None:
    """The plan a kernel was last launched with; None for a kernel passed through untouched."""
    provisioner = getattr(manager.get_kernel(kernel_id), "provisioner", None)
    if isinstance(provisioner, ProjectKernelProvisioner):
        return provisioner.launch_plan
    return None


def slurm_job(manager: Any, kernel_id: str) -> SlurmKernel | None:
    """The Slurm job a kernel runs in; None for a kernel that runs where the server does."""
    provisioner = getattr(manager.get_kernel(kernel_id), "provisioner", None)
    if isinstance(provisioner, ProjectKernelProvisioner):
        return provisioner.slurm
    return None


def notebook_location(server_root: Path, path: str) -> tuple[Path, Path | None]:
    """The directory a kernel for ``path`` would start in, and the notebook's absolute path.

    ``path`` is relative to the server's root, as in the contents API: a notebook
    (which need not exist yet) or a directory (the launcher's). Raises ValueError,
    with the message the person reads, for a path that leaves the root.
    """
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or "\0" in path:
        raise ValueError(
            f"The path {path!r} is not a path inside the server's root directory: give the "
            "notebook's path relative to it, without '..' (for example analysis/report.ipynb)."
        )
    target = normalize(server_root.joinpath(*relative.parts))
    if not is_within(target, server_root):
        raise ValueError(f"The path {path!r} is outside the server's root directory.")
    if target.is_dir():
        return target, None
    return target.parent, target


def root(handler: APIHandler) -> Path:
    """The server's root directory, normalised as the provisioner normalises it."""
    return normalize(handler.kernel_manager.root_dir)


def routes(base_url: str) -> list[tuple[str, type[APIHandler]]]:
    """The URL patterns of the endpoints, for ``web_app.add_handlers``."""
    prefix = url_path_join(base_url, API_PREFIX)
    return [
        (url_path_join(prefix, "kernels", _KERNEL_ID), KernelEnvironmentHandler),
        (url_path_join(prefix, "which"), WhichHandler),
    ]
