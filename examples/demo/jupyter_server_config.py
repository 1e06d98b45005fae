# The whole of enabling project-kernels for a server (see the README for every option).
c = get_config()  # noqa: F821
c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"
# The server extension (what `project-kernels enable` turns on): the environment in
# JupyterLab's status bar and Notebook 7's toolbar, and its REST API.
c.ServerApp.jpserver_extensions = {"project_kernels.extension": True}
