"""The kernel provisioner: launches ipykernel from the notebook's project environment.

A short translation of jupyter_client's launch into a :func:`~.decision.decide`
call. Everything else (ports, connection files, signals, shutdown) is
:class:`~jupyter_client.provisioning.LocalProvisioner`'s, except for a plan that
says "run as a Slurm job": that kernel's lifecycle is delegated to a
:class:`~.slurm.job.SlurmKernel` (see :mod:`.slurm`). With warm kernels on, a plan that
runs here may be carried out by handing over a kernel started earlier (see :mod:`.warm`).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
import weakref
from pathlib import Path
from typing import Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Unicode

from .adapter_options import ProvisionerOptions
from .config import ProjectKernels, settings_for
from .decision import EnvironmentUnusable, LaunchMode, LaunchPlan, decide
from .failure_memory import FailureMemory
from .making.launch import ServerMaking, make_in_foreground, note_use, spec_env
from .names import INSTRUCTIONS_VARIABLE, is_ipykernel_command
from .report import describe
from .resolver import LaunchRequest
from .server_root import walk_root
from .settings import Settings
from .slurm.job import SlurmKernel
from .validation import check_server_configuration
from .warm.pool import WarmPool, warm_pool
from .warm.settings import WarmSettings

__all__ = ["ProjectKernelProvisioner", "failure_memory"]


# jupyter_client's metaclass derives from traitlets' dynamically, which mypy cannot follow.
class ProjectKernelProvisioner(ProvisionerOptions, LocalProvisioner):  # type: ignore[metaclass]
    """Launch Python kernels from the environment nearest to the notebook.

    The decision is made anew at every ``pre_launch``, so a restart picks up an
    environment created or repaired since. Kernelspecs that do not start
    ipykernel pass through untouched, as do notebooks with no environment nearby.
    Its settings are declared in :class:`~.adapter_options.ProvisionerOptions`.
    """

    environment = Unicode(
        "",
        help="""Pin the kernel to this environment directory instead of walking up from the
        notebook. Set per kernelspec (metadata.kernel_provisioner.config), as the
        environments listed in the kernel picker do; an unusable one gets the fallback.""",
    )

    listed_name = Unicode(
        "",
        help="""The picker's name of the environment to pin to, when the spec manager handed
        out the spec before its listing knew the name (right after the server started).""",
    )

    def __init__(self, **kwargs: Any) -> None:
        # Outside a server (nbconvert) this is where the configuration is first read.
        parent = kwargs.get("parent")
        check_server_configuration(parent, kwargs.get("config") or getattr(parent, "config", None))
        super().__init__(**kwargs)
        #: The plan of the last (re)start; None for a kernel passed through untouched.
        self.launch_plan: LaunchPlan | None = None
        self._launched_at = 0.0
        self._died_unexpectedly = False
        #: The kernel's Slurm job, when the plan runs it as one (else None).
        self.slurm: SlurmKernel | None = None
        self._exit_explanation = ""
        self._server_ip: str | None = None
        #: The environment being made for this kernel (in a server), if any.
        self._making: ServerMaking | None = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Decide what launches, activate it in ``env``, and re-target the command."""
        if not is_ipykernel_command(self.kernel_spec.argv, self.kernel_spec.language or ""):
            self.launch_plan = None
            return await super().pre_launch(**kwargs)
        self._stop_making()
        request = self._request(kwargs, await self._pinned())
        settings = settings_for(self)
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(None, decide, request, settings, self._memory())
        if plan.mode is LaunchMode.MAKING and self._server_kernel_manager() is None:
            # No one would see a making kernel: build now, then start what was made.
            plan = await loop.run_in_executor(
                None, make_in_foreground, request, settings, self._memory(), self.log
            )
        note_use(plan)
        self.launch_plan = plan
        self._log_plan(plan)
        if plan.mode is LaunchMode.ERROR and not plan.exits:
            raise EnvironmentUnusable(plan.message)
        kwargs["env"] = plan.env
        self._restore_server_address()
        kwargs = await super().pre_launch(**kwargs)
        if plan.mode is LaunchMode.MAKING:
            self._making = self._start_making(request, plan, settings, kwargs)
        kwargs["cmd"] = plan.command(kwargs["cmd"])
        return kwargs

    def _start_making(
        self, request: LaunchRequest, plan: LaunchPlan, settings: Settings, kwargs: dict[str, Any]
    ) -> ServerMaking:
        """Carry ``plan`` out while the making kernel shows it (see :mod:`.making.launch`)."""
        connection = Path(getattr(self.parent, "connection_file", "") or "kernel.json")
        instructions = connection.with_name(f"pk-making-{connection.stem}.jsonl")
        kwargs["env"][INSTRUCTIONS_VARIABLE] = str(instructions)
        making = ServerMaking(
            request, plan, settings, self._memory(), instructions, self._planned, self.log
        )
        making.start(list(kwargs["cmd"]), self._final_env)
        return making

    def _planned(self, plan: LaunchPlan) -> None:
        """What the making kernel became: the plan now carried out."""
        self.launch_plan = plan
        self._launched_at = time.monotonic()
        self._log_plan(plan)

    def _final_env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` as :meth:`pre_launch` hands a kernel its variables (the kernelspec's
        ``env`` entries applied, then :meth:`_finalize_env`)."""
        env = spec_env(self.kernel_spec.env or {}, env)
        self._finalize_env(env)
        return env

    def _stop_making(self) -> None:
        if self._making is not None:
            self._making.cancel()
            self._making = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """Launch as LocalProvisioner does (or as a Slurm job, or by handing over a warm
        kernel), remembering when."""
        self._launched_at = time.monotonic()
        self._died_unexpectedly = False
        self._exit_explanation = ""
        plan = self.launch_plan
        if plan is None or plan.slurm is None:
            info = await self._launch_warm(cmd, kwargs)
            return info if info is not None else await super().launch_kernel(cmd, **kwargs)
        assert plan.environment is not None
        notebook = kwargs["env"].get("JPY_SESSION_NAME", "")
        self.slurm = SlurmKernel.for_plan(plan, self.kernel_id, self.log, notebook)
        info = await self.slurm.launch(
            cmd,
            kwargs["env"],
            str(kwargs.get("cwd") or os.getcwd()),
            getattr(self.parent, "connection_file", ""),
            dict(self.connection_info),
        )
        self._launched_at = time.monotonic()  # young counts from the kernel's start, not the queue
        return info

    @property
    def has_process(self) -> bool:
        """Whether a kernel (process or Slurm job) is running or being waited for."""
        return self.slurm is not None or super().has_process

    async def _launch_warm(self, cmd: list[str], kwargs: dict[str, Any]) -> Any:
        """Carry out the plan with a warm kernel: its connection info; None: none fits."""
        pool, plan = self._warm_pool(), self.launch_plan
        if pool is None or plan is None:
            return None
        manager = self.parent
        kernel_name = getattr(manager, "kernel_name", "")
        connection_file = getattr(manager, "connection_file", "")
        warm = await pool.start(plan, kernel_name, cmd, kwargs, connection_file)
        if warm is None or warm.process is None:
            return None
        # What LocalProvisioner.launch_kernel records of the process it starts.
        self.process, self.pid, self.pgid = warm.process, warm.pid, warm.pid
        self.cwd = kwargs.get("cwd", pathlib.Path.cwd())
        return self.connection_info

    async def poll(self) -> int | None:
        """As LocalProvisioner, and note a kernel that died without being asked to."""
        if self.slurm is not None:
            status = await self.slurm.poll()
            self._exit_explanation = self.slurm.ended
        else:
            status = await super().poll()
        if status is None or not self.has_process or getattr(self.parent, "shutting_down", False):
            return status
        self._died_unexpectedly = True
        plan = self.launch_plan
        young = time.monotonic() - self._launched_at < self.startup_grace
        explained = bool(self._exit_explanation)  # Slurm ended it: the interpreter is fine
        if plan is None or plan.mode is not LaunchMode.ENVIRONMENT or not young or explained:
            return status
        assert plan.environment is not None
        memory = self._memory()
        if not memory.failed_since(plan.environment.root, self._launched_at):
            memory.record(plan.environment.root)
            self.log.error(
                "project-kernels: the kernel from %s exited with code %s right after starting; "
                "its error output is above. Run `project-kernels doctor --run %s` for details.",
                describe(plan.environment),
                status,
                plan.environment.root.parent,
            )
        return status

    async def wait(self) -> int | None:
        """Wait for the kernel (its Slurm job) to end."""
        if self.slurm is not None:
            return await self.slurm.wait()
        return await super().wait()

    async def send_signal(self, signum: int) -> None:
        """Signal the kernel; a Slurm kernel through ``scancel --signal`` on its node."""
        if self.slurm is not None:
            return await self.slurm.send_signal(signum)
        return await super().send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        """Kill the kernel; a Slurm kernel's job is cancelled."""
        if self.slurm is not None:
            return await self.slurm.cancel()
        return await super().kill(restart)

    async def terminate(self, restart: bool = False) -> None:
        """Terminate the kernel; a Slurm kernel's job is cancelled."""
        if self.slurm is not None:
            return await self.slurm.cancel()
        return await super().terminate(restart)

    async def cleanup(self, restart: bool = False) -> None:
        """As LocalProvisioner; a making kernel that is gone stops being followed, and a
        Slurm job is cancelled if still there and its files removed."""
        self._stop_making()
        if self.slurm is not None:
            await self.slurm.cleanup()
            self.slurm = None
        await super().cleanup(restart)

    def _restore_server_address(self) -> None:
        """Put back the server's own address after a kernel that listened on a Slurm node."""
        manager = self.parent
        if manager is None:
            return
        if self._server_ip is None:
            self._server_ip = manager.ip
        manager.ip = self._server_ip

    async def _pinned(self) -> Path | None:
        """The environment this kernel is pinned to, None for a walking kernel."""
        if self.environment:
            return Path(self.environment)
        if not self.listed_name:
            return None
        listing = getattr(getattr(self.parent, "kernel_spec_manager", None), "listing", None)
        found = await listing().find(self.listed_name, LISTING_WAIT) if listing else None
        if found is None:
            raise EnvironmentUnusable(
                f"No project environment is listed as {self.listed_name!r} (any more): "
                "choose another kernel (Kernel > Change Kernel...)."
            )
        return Path(found.environment)

    def _request(self, kwargs: dict[str, Any], pinned: Path | None) -> LaunchRequest:
        base_env = dict(kwargs.get("env") or os.environ)
        root = self._server_root()
        cwd = kwargs.get("cwd")
        if not cwd and root is None and not self.notebook_path:
            # Without a server or a cwd (papermill), the kernel starts in our own directory.
            cwd = os.getcwd()
        return LaunchRequest(
            cwd=cwd,
            # papermill's engine says where the notebook is (see papermill_engine).
            session_name=self.notebook_path or base_env.get("JPY_SESSION_NAME"),
            root_dir=root,
            environment=pinned,
            env=base_env,
            after_unexpected_exit=self._died_unexpectedly,
            exit_explanation=self._exit_explanation,
        )

    def _server_root(self) -> Path | None:
        """The root the walk stays within, when this kernel belongs to a server."""
        return walk_root(self._server_kernel_manager())

    def _server_kernel_manager(self) -> Any:
        """The server's multi-kernel manager, or None outside a server."""
        return getattr(self.parent, "parent", None)

    def _warm_pool(self) -> WarmPool | None:
        """The server's warm kernels; None when there are none (``warm_kernels = 0``)."""
        return warm_pool(self._owner(), self._warm_settings, self.log)

    def _warm_settings(self) -> WarmSettings:
        """Read once per server, when its first kernel starts."""
        return ProjectKernels(parent=self).warm_settings()

    def _memory(self) -> FailureMemory:
        """The failure memory of the server this kernel belongs to (or of its own manager)."""
        return failure_memory(self._owner())

    def _owner(self) -> Any:
        """What per-server state is kept for: the server's multi-kernel manager, else ours.

        Compared with None: a multi-kernel manager is falsy while it holds no kernel, as
        during the start of a server's first one.
        """
        for owner in (self._server_kernel_manager(), self.parent):
            if owner is not None:
                return owner
        return self

    def _log_plan(self, plan: LaunchPlan) -> None:
        if plan.mode is LaunchMode.MAKING:
            self.log.info("project-kernels: %s", plan.message)
        elif plan.mode is LaunchMode.STOCK:
            self.log.info("project-kernels: no project environment, starting the stock kernel")
        elif plan.mode is LaunchMode.ENVIRONMENT and plan.environment is not None:
            self.log.info(
                "project-kernels: starting the kernel from %s", describe(plan.environment)
            )
        elif plan.mode is LaunchMode.ERROR:
            self.log.error("project-kernels: %s", plan.message)
        else:
            self.log.warning("project-kernels: %s", plan.message)


#: Seconds a kernel named after a listed environment waits for the listing's first scan.
LISTING_WAIT = 60.0

#: One failure memory per server (keyed by its multi-kernel manager), gone with it.
_MEMORIES: weakref.WeakKeyDictionary[Any, FailureMemory] = weakref.WeakKeyDictionary()


def failure_memory(owner: Any) -> FailureMemory:
    """The failure memory of one server, keyed by its multi-kernel manager.

    The server's other adapters (its ``which`` endpoint) ask with the same memory,
    so they answer what the next start would do.
    """
    memory = _MEMORIES.get(owner)
    if memory is None:
        memory = _MEMORIES[owner] = FailureMemory()
    return memory
