"""The kernel provisioner: launches ipykernel from the notebook's project environment.

A short translation of jupyter_client's launch into :mod:`.resolver` calls.
Everything else (ports, connection files, signals, shutdown) is
:class:`~jupyter_client.provisioning.LocalProvisioner`'s.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Float, Unicode

from .config import module_settings_for, settings_for
from .discovery import Walk, normalize
from .environments import Environment
from .modules import with_modules
from .probe import probe, startup_problem
from .report import describe
from .resolver import (
    EnvironmentUnusable,
    LaunchMode,
    LaunchPlan,
    LaunchRequest,
    OnUnusable,
    is_ipykernel_command,
    pinned,
    plan_launch,
    resolve,
)


class ProjectKernelProvisioner(LocalProvisioner):
    """Launch Python kernels from the environment nearest to the notebook.

    The decision is made anew at every ``pre_launch``, so a restart picks up an
    environment created or repaired since. Kernelspecs that do not start
    ipykernel pass through untouched, as do notebooks with no environment nearby.
    """

    startup_grace = Float(
        10.0,
        help="""A kernel from an environment that exits within this many seconds of starting
        is examined before the restart: if its interpreter cannot import ipykernel, the
        restart brings up the explaining fallback kernel instead of looping.""",
    ).tag(config=True)

    environment = Unicode(
        "",
        help="""Pin the kernel to this environment directory instead of walking up from the
        notebook. Set per kernelspec (metadata.kernel_provisioner.config), as the
        environments listed in the kernel picker do; an unusable one gets the fallback.""",
    )

    _plan: LaunchPlan | None = None
    _launched_at: float = 0.0
    _died_unexpectedly: bool = False

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Resolve the environment, activate it in ``env``, and re-target the command."""
        if not is_ipykernel_command(self.kernel_spec.argv, self.kernel_spec.language or ""):
            self._plan = None
            return await super().pre_launch(**kwargs)
        base_env = dict(kwargs.get("env") or os.environ)
        root = self._server_root()
        request = LaunchRequest(
            # Without a server or a cwd (papermill), the kernel starts in our own directory.
            cwd=kwargs.get("cwd") or (os.getcwd() if root is None else None),
            session_name=base_env.get("JPY_SESSION_NAME"),
            root_dir=root,
        )
        plan = await asyncio.get_running_loop().run_in_executor(
            None, self._plan_for, request, base_env
        )
        self._plan = plan
        self._log_plan(plan)
        kwargs["env"] = plan.env
        kwargs = await super().pre_launch(**kwargs)
        kwargs["cmd"] = plan.command(kwargs["cmd"])
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Launch as LocalProvisioner does, remembering when (to spot an early death)."""
        self._launched_at = time.monotonic()
        self._died_unexpectedly = False
        return await super().launch_kernel(cmd, **kwargs)

    async def poll(self) -> int | None:
        """As LocalProvisioner, and note a kernel that died without being asked to."""
        status: int | None = await super().poll()
        if status is None or self.process is None or getattr(self.parent, "shutting_down", False):
            return status
        self._died_unexpectedly = True
        plan = self._plan
        young = time.monotonic() - self._launched_at < self.startup_grace
        if plan is None or plan.mode is not LaunchMode.ENVIRONMENT or not young:
            return status
        assert plan.environment is not None
        if _recent_failures.get(plan.environment.root, -1.0) < self._launched_at:
            _recent_failures[plan.environment.root] = time.monotonic()
            self.log.error(
                "project-kernels: the kernel from %s exited with code %s right after starting; "
                "its error output is above. Run `project-kernels doctor --run %s` for details.",
                describe(plan.environment),
                status,
                plan.environment.root.parent,
            )
        return status

    def _plan_for(self, request: LaunchRequest, base_env: dict[str, str]) -> LaunchPlan:
        settings = settings_for(self)
        if self.environment:
            walk: Walk | None = pinned(Path(self.environment), settings)
        else:
            walk = resolve(request, settings)
        walk, base_env = with_modules(walk, base_env, module_settings_for(self))
        environment = walk.environment if walk is not None else None
        if environment is not None and environment.usable and self._failed_recently(environment):
            result = probe(environment, base_env)
            if result.ok:
                _recent_failures.pop(environment.root, None)
            else:
                self.log.error(
                    "project-kernels: %s cannot start ipykernel:\n%s",
                    describe(environment),
                    result.output,
                )
                failed = environment.with_problems(startup_problem(environment, result))
                walk = _replace_environment(walk, failed) if walk is not None else None
        if settings.on_unusable is OnUnusable.FALLBACK and not _fallback_available():
            settings = replace(settings, on_unusable=OnUnusable.ERROR)
        try:
            return plan_launch(walk, base_env, settings)
        except EnvironmentUnusable as unusable:
            if not self._died_unexpectedly:
                raise
            # The restarter is restarting a kernel that died: raising here would make it
            # retry forever. A process that exits with the explanation lets the restarter
            # count the failure and give up as it always does.
            self.log.error("project-kernels: %s", unusable)
            return LaunchPlan(LaunchMode.WARNED, base_env, environment, str(unusable), exits=True)

    def _failed_recently(self, environment: Environment) -> bool:
        """Whether a kernel from ``environment`` died young lately, in this server."""
        failed_at = _recent_failures.get(environment.root)
        return failed_at is not None and time.monotonic() - failed_at < FAILURE_MEMORY_SECONDS

    def _server_root(self) -> Path | None:
        """The Jupyter server's root directory, when this kernel belongs to a server."""
        manager = getattr(self.parent, "parent", None)
        root = getattr(manager, "root_dir", None)
        return normalize(root) if root else None

    def _log_plan(self, plan: LaunchPlan) -> None:
        if plan.environment is None:
            self.log.info("project-kernels: no project environment, starting the stock kernel")
        elif plan.mode is LaunchMode.ENVIRONMENT:
            self.log.info(
                "project-kernels: starting the kernel from %s", describe(plan.environment)
            )
        else:
            self.log.warning("project-kernels: %s", plan.message)


#: Environments whose kernel died right after starting, and when: a new session for the
#: same environment is examined first, so it gets the explanation at once.
_recent_failures: dict[Path, float] = {}
FAILURE_MEMORY_SECONDS = 600.0


def _fallback_available() -> bool:
    return importlib.util.find_spec("ipykernel") is not None


def _replace_environment(walk: Walk, environment: Environment) -> Walk:
    candidates = tuple(
        replace(c, environment=environment)
        if c.environment is not None and c.path == environment.root
        else c
        for c in walk.candidates
    )
    return replace(walk, candidates=candidates)
