"""``GET /project-kernels/api/slurm/jobs``: the Slurm jobs of this server's kernels, live.

While a kernel's job waits in the queue, the session's start has not returned, so
the notebook has no kernel to ask about yet. This endpoint says, for every kernel
that runs or waits as a job, its job, its state and, while queued, ``squeue``'s
reason in words: what a front end shows the person meanwhile. Authenticated and
authorized like the kernels API (``kernels`` resource).
"""

from __future__ import annotations

import json
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..discovery import normalize
from ..schema import slurm_job_json, with_schema
from .job import kernels

__all__ = ["SlurmJobsHandler", "handlers", "load"]


class SlurmJobsHandler(APIHandler):
    """The Slurm jobs of this server's kernels."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    def get(self) -> None:
        root = normalize(self.settings.get("server_root_dir") or os.getcwd())
        jobs = [slurm_job_json(kernel, root) for kernel in kernels()]
        self.finish(json.dumps(with_schema({"jobs": jobs})))


def handlers(base_url: str) -> list[tuple[str, Any]]:
    """The routes to add to the server's web application."""
    return [(url_path_join(base_url, "/project-kernels/api/slurm/jobs"), SlurmJobsHandler)]


def load(serverapp: Any) -> None:
    """At the server's start: serve the jobs endpoint, and check ``c.ProjectKernels.slurm``.

    A wrong setting is said in the log now, not first when a notebook opens (where it
    fails the kernel's start with the same message).
    """
    from traitlets import TraitError

    from ..config import ProjectKernels

    serverapp.web_app.add_handlers(".*$", handlers(serverapp.base_url))
    try:
        options = ProjectKernels(parent=serverapp).slurm_options()
    except TraitError as error:
        serverapp.log.error("project-kernels: %s", error)
        return
    if options.enabled:
        serverapp.log.info(
            "project-kernels: kernels of project environments run as Slurm jobs (%s)",
            options.summary(),
        )
