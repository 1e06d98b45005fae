# Run by IPython when a kernel starts (PYTHONSTARTUP) in an environment without pip, so
# that `%pip install x` installs into this environment with the server's pip
# (`pip --python`). Runs under the environment's Python, whatever its version: plain
# code, nothing imported from project_kernels. See project_kernels/pipless.py.


def _project_kernels_pipless():
    # type: () -> str
    import os
    import shlex
    import sys

    chained = os.environ.pop("PROJECT_KERNELS_PYTHONSTARTUP", "")
    # Interactive Pythons started from the notebook get the startup file that was set before.
    if chained:
        os.environ["PYTHONSTARTUP"] = chained
    else:
        os.environ.pop("PYTHONSTARTUP", None)
    pip_python = os.environ.get("PROJECT_KERNELS_PIP", "")
    try:
        shell = get_ipython()  # type: ignore[name-defined]
    except NameError:
        shell = None
    if shell is not None and pip_python:

        def pip(line):
            # type: (str) -> None
            """Run pip for this kernel's environment (which has no pip of its own)."""
            command = [shlex.quote(pip_python), "-m", "pip", line]
            command.insert(3, "--python " + shlex.quote(sys.executable))
            shell.system(" ".join(command))
            print("Note: you may need to restart the kernel to use updated packages.")

        shell.register_magic_function(pip, "line", "pip")
    return chained


_project_kernels_chained = _project_kernels_pipless()
del _project_kernels_pipless
if _project_kernels_chained:
    with open(_project_kernels_chained) as _project_kernels_file:
        exec(compile(_project_kernels_file.read(), _project_kernels_chained, "exec"))
    del _project_kernels_file
del _project_kernels_chained
