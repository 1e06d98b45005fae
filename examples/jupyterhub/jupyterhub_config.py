# JupyterHub with project-kernels: each user's server runs the image built from the Dockerfile
# next to this file, which enables project-kernels in the single-user server. Nothing about
# project-kernels is configured here; the hub only has to start that image.
#
#   docker build -f examples/jupyterhub/Dockerfile -t project-kernels-singleuser .
#   docker network create jupyterhub
#   jupyterhub -f examples/jupyterhub/jupyterhub_config.py
#
# Hubs that spawn local processes (LocalProcessSpawner, SystemdSpawner, The Littlest JupyterHub)
# need no image: see README.md next to this file.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
c.DockerSpawner.image = "project-kernels-singleuser"
c.DockerSpawner.network_name = "jupyterhub"
c.DockerSpawner.remove = True

# Each user's files, their projects and the projects' .venv directories live on a volume of
# their own, so environments survive the container. Notebooks below a project's .venv run
# their kernels there.
c.DockerSpawner.notebook_dir = "/home/jovyan/work"
c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan/work"}

# The containers reach the hub on the docker network.
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_connect_ip = "jupyterhub"

# Authentication is the site's choice; see JupyterHub's documentation.
# c.JupyterHub.authenticator_class = "..."
