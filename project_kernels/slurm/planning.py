"""Which launches run as Slurm jobs, and with what: a pure step of the launch decision.

:func:`~project_kernels.decision.decide` ends with :func:`with_slurm`: a launch from a
usable project environment runs as a job when the environment's ``[slurm]`` table says
so, or when the deployment's ``c.ProjectKernels.slurm`` has ``enabled = True`` and the
environment does not say ``enabled = false``. The environment's values win over the
deployment's, key by key. The stock kernel (no environment) and the explaining kernel
always run where the server runs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .options import SlurmOptions

if TYPE_CHECKING:
    from ..decision import LaunchPlan
    from ..environments import Environment

__all__ = ["job_options", "with_slurm"]


def job_options(environment: Environment | None, deployment: SlurmOptions) -> SlurmOptions | None:
    """The options of the job a kernel from ``environment`` runs in; None: no job."""
    if environment is None:
        return None
    declared = environment.slurm
    if declared is not None and declared.enabled is not None:
        enabled = declared.enabled
    else:
        enabled = declared is not None or bool(deployment.enabled)
    if not enabled:
        return None
    chosen = declared.over(deployment) if declared is not None else deployment
    return replace(chosen, enabled=True)


def with_slurm(plan: LaunchPlan, deployment: SlurmOptions) -> LaunchPlan:
    """``plan`` carried out as a Slurm job when its environment or the deployment asks."""
    from ..decision import LaunchMode

    if plan.mode is not LaunchMode.ENVIRONMENT or plan.exits:
        return plan
    options = job_options(plan.environment, deployment)
    return plan if options is None else replace(plan, slurm=options)
