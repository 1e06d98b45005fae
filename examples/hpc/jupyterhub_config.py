# JupyterHub on a Slurm cluster with batchspawner: each user's server is a batch job on a
# compute node, started from the site's shared Jupyter installation (/opt/jupyter, reachable
# from every node), in which project-kernels is enabled by jupyter_server_config.py.
# The hub itself needs `jupyterhub` and `batchspawner`; project-kernels lives on the nodes.
# tests/test_hpc_hub.py runs this file as it is, on a real single-node Slurm, with
# /opt/jupyter and /opt/modulefiles replaced by its own directories.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
# Compute nodes connect back to the hub.
c.JupyterHub.hub_ip = "0.0.0.0"

c.Spawner.cmd = ["/opt/jupyter/bin/jupyterhub-singleuser"]
c.BatchSpawnerBase.batchspawner_singleuser_cmd = "/opt/jupyter/bin/batchspawner-singleuser"
c.Spawner.default_url = "/lab"
# Queues can be slow to start a job.
c.Spawner.http_timeout = 300
c.Spawner.start_timeout = 900

c.BatchSpawnerBase.req_partition = "interactive"
c.BatchSpawnerBase.req_runtime = "8:00:00"
c.BatchSpawnerBase.req_memory = "8G"
c.BatchSpawnerBase.req_nprocs = "2"

# Runs in the job before the server starts. Only the Jupyter installation is loaded here:
# a notebook's own modules (GCC, Python, SciPy-bundle, ...) are loaded for its kernel alone,
# from what its environment declares, so notebooks with different toolchains work side by side.
# The job's shell is not a login shell: lmod.sh gives it the `module` command.
c.BatchSpawnerBase.req_prologue = """
source /etc/profile.d/lmod.sh
module purge
module load jupyter/project-kernels
"""

# The trap: what the prologue sets does not reach the server. SlurmSpawner's job script
# says `#SBATCH --export=<names>`, the names of the variables the hub hands over (its own,
# PATH among them, and those below), and starts the server with `srun` inside the job.
# sbatch passes that list on to srun (SLURM_EXPORT_ENV), and srun exports only the variables
# it names, with their values at that moment: the prologue's PATH arrives, but MODULEPATH,
# LMOD_CMD, LOADEDMODULES and everything else `module load` sets are dropped. The server then
# finds no module tree, and every kernel's pinned modules are "unknown". Name here what the
# server needs (a name listed here also carries the prologue's value of it through srun):
c.Spawner.environment = {
    # The site's module tree: the kernels' own modules (pinned per environment) are found there.
    "MODULEPATH": "/opt/modulefiles",
    # The module command, so that the server does not depend on finding an init file.
    "LMOD_CMD": "/usr/share/lmod/lmod/libexec/lmod",
}
