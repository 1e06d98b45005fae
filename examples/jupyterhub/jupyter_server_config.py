# project-kernels for every user of a JupyterHub: the single-user server's configuration.
#
# Install this file where the single-user server's Python reads system-wide configuration:
#   <prefix of the Python that runs jupyterhub-singleuser>/etc/jupyter/jupyter_server_config.py
# (in the Dockerfile next to this file: /opt/conda/etc/jupyter/). Every notebook then runs its
# kernel in the nearest project environment (.venv, venv) above it, in that user's own files;
# notebooks with no environment run as before. Users need no `ipykernel install --user`.
#
# `project-kernels enable` (run with that Python) writes the same setting, as an alternative.
c = get_config()  # noqa: F821

c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"
# The server extension (what `project-kernels enable` turns on): the environment in
# JupyterLab's status bar and Notebook 7's toolbar, and its REST API.
c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}

# Optional: every other option, with its default, is listed in the README's Configuration section.
# c.ProjectKernels.environment_names = [".venv", "venv"]
# c.ProjectKernels.on_unusable = "fallback"
# A user's ~/.venv serves the notebooks under ~ that have no nearer environment only when this
# is on (off: one made there by accident would take over all of that user's notebooks).
# c.ProjectKernels.home_environment = False
