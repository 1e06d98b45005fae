"""Kernels as Slurm jobs: a project environment's kernel started on a compute node.

Opt-in, per deployment (``c.ProjectKernels.slurm``) or per environment (the ``[slurm]``
table of its ``project-kernels.toml``). The pieces, from pure to effectful:

- :mod:`.options`: what a job asks for, checked (pure);
- :mod:`.planning`: which launches run as jobs, a step of the launch decision (pure);
- :mod:`.script`: the job script and the ``sbatch`` command line (pure);
- :mod:`.commands`: ``sbatch``, ``squeue``, ``scancel`` with timeouts, off the event loop;
- :mod:`.job`: one kernel's job, as the provisioner carries it out (submit, wait in the
  queue, connect, signal, cancel), and the registry that cancels what is left at exit.

Nothing here imports Jupyter except :mod:`.job`, which the provisioner alone imports.
"""
