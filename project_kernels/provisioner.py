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
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Float, Unicode

from .config import module_settings_for, settings_for
from .discovery import Walk
from .environments import Environment
from .modules import with_modules
from .probe import probe, startup_problem
from .report import describe
from .resolver import (
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
    _early_exit: tuple[Path, int] | None = None

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
        self._early_exit = None
        return await super().launch_kernel(cmd, **kwargs)

    async def poll(self) -> int | None:
        """As LocalProvisioner, and note a kernel from an environment that died young."""
        status: int | None = await super().poll()
        plan = self._plan
        if (
            status is not None
            and self.process is not None
            and plan is not None
            and plan.mode is LaunchMode.ENVIRONMENT
            and plan.environment is not None
            and self._early_exit is None
            and time.monotonic() - self._launched_at < self.startup_grace
        ):
            self._early_exit = (plan.environment.root, status)
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
        if environment is not None and environment.usable and self._died_young(environment):
            result = probe(environment, base_env)
            if not result.ok:
                self.log.error(
                    "project-kernels: %s cannot start ipykernel:\n%s",
                    describe(environment),
                    result.output,
                )
                failed = environment.with_problems(startup_problem(environment, result))
                walk = _replace_environment(walk, failed) if walk is not None else None
        if settings.on_unusable is OnUnusable.FALLBACK and not _fallback_available():
            from dataclasses import replace

            settings = replace(settings, on_unusable=OnUnusable.ERROR)
        return plan_launch(walk, base_env, settings)

    def _died_young(self, environment: Environment) -> bool:
        return self._early_exit is not None and self._early_exit[0] == environment.root

    def _server_root(self) -> Path | None:
        """The Jupyter server's root directory, when this kernel belongs to a server."""
        manager = getattr(self.parent, "parent", None)
        root = getattr(manager, "root_dir", None)
        return Path(os.path.abspath(os.path.expanduser(root))) if root else None

    def _log_plan(self, plan: LaunchPlan) -> None:
        if plan.environment is None:
            self.log.info("project-kernels: no project environment, starting the stock kernel")
        elif plan.mode is LaunchMode.ENVIRONMENT:
            self.log.info(
                "project-kernels: starting the kernel from %s", describe(plan.environment)
            )
        else:
            self.log.warning("project-kernels: %s", plan.message)


def _fallback_available() -> bool:
    return importlib.util.find_spec("ipykernel") is not None


def _replace_environment(walk: Any, environment: Environment) -> Any:
    from dataclasses import replace

    candidates = tuple(
        replace(c, environment=environment)
        if c.environment is not None and c.path == environment.root
        else c
        for c in walk.candidates
    )
    return replace(walk, candidates=candidates)
