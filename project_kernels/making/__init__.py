"""Making the environments projects and notebooks declare (``create_environments``).

The pure part (which command makes what, under which lock: :mod:`.recipes`,
:mod:`.tools`, :mod:`.guard`, :mod:`.settings`) is a step of the launch decision;
carrying a recipe out (:mod:`.build`, run by ``python -m project_kernels.making``),
the kernel that shows it happening (:mod:`.kernel`) and the provisioner's side
(:mod:`.launch`) run the tools, never on the server's event loop.
"""
