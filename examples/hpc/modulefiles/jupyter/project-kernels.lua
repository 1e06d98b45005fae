-- Lmod modulefile for the site's shared Jupyter installation with project-kernels enabled.
-- Put it in a directory on MODULEPATH as jupyter/project-kernels.lua.
help([[JupyterLab and jupyterhub-singleuser with project-kernels: each notebook's kernel runs
in the project environment next to it, with the modules that environment declares loaded.
Declare them once per environment, in a shell with them loaded:
  /opt/jupyter/bin/project-kernels pin-modules .venv]])
whatis("Name: jupyter (project-kernels)")

local prefix = "/opt/jupyter"
prepend_path("PATH", pathJoin(prefix, "bin"))
