# project-kernels on a cluster: the configuration of the site's shared Jupyter installation.
#
# Install it as <prefix>/etc/jupyter/jupyter_server_config.py of the Python that runs the
# users' Jupyter servers (here /opt/jupyter, the prefix the `jupyter` module below puts on PATH),
# or run `/opt/jupyter/bin/project-kernels enable --sys-prefix` instead. It then applies to
# every server started from that prefix: by JupyterHub's batchspawner (jupyterhub_config.py),
# by Open OnDemand (ondemand/script.sh.erb) or by a user on a compute node.
c = get_config()  # noqa: F821

c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"
# The server extension (what `project-kernels enable` turns on): the environment in
# JupyterLab's status bar and Notebook 7's toolbar, and its REST API.
c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}

# Environments built on environment modules declare them (`project-kernels pin-modules`); the
# kernel is started with them loaded. The module system is found as a login shell finds it
# (LMOD_CMD, MODULES_CMD, MODULESHOME, then these files); set the command if it is elsewhere.
# c.ProjectKernels.module_command = "/usr/share/lmod/lmod/libexec/lmod"
# c.ProjectKernels.module_init_files = ["/etc/profile.d/lmod.sh"]
# A busy login or compute node can take long to evaluate modules; the result is cached per user.
# c.ProjectKernels.module_timeout = 60.0

# Project environments shared by a project group (group-writable /proj/<name>/.venv) run only
# when the group is trusted: trusting it lets its members run code as everyone who opens a
# notebook below that environment.
# c.ProjectKernels.trusted_groups = ["proj-climate"]
# Environments the site manages centrally are not checked for ownership.
# c.ProjectKernels.trusted_paths = ["/sw/envs"]

# Kernels as Slurm jobs (a server on a login node): environments whose project-kernels.toml
# has a [slurm] table run their kernels as jobs, with these defaults; "enabled": True would
# run every project environment's kernel as a job. The job directory must be shared with the
# compute nodes, and the login node must reach their ports.
# c.ProjectKernels.slurm = {"partition": "interactive", "time": "4:00:00", "queue_timeout": 600}

# On a parallel file system the walk stops at the server's root; keep that root at the user's
# home or project directory rather than "/".
