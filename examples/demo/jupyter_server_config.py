# The whole of enabling project-kernels for a server (see the README for every option).
c = get_config()  # noqa: F821
c.ServerApp.kernel_spec_manager_class = "project_kernels.ProjectKernelSpecManager"
