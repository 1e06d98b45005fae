# JupyterHub on a Slurm cluster with batchspawner: each user's server is a batch job on a
# compute node, started from the site's shared Jupyter installation (/opt/jupyter, reachable
# from every node), in which project-kernels is enabled by jupyter_server_config.py.
# The hub itself needs `jupyterhub` and `batchspawner`; project-kernels lives on the nodes.
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
c.BatchSpawnerBase.req_prologue = """
module purge
module load jupyter/project-kernels
"""
