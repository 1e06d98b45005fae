"""The kernel a person sees when their project environment cannot run one.

It runs from the server's Python, in the broken environment's activated
variables, so that ``!pip install ipykernel`` (or any other ``!`` command)
repairs the right environment. Python code is refused with the explanation:
running it in the server's Python would only hide the problem.

For a project whose declared environment is not made yet (``on_missing =
"notice"``) the same kernel runs the notebook's code, as stock Jupyter would, and
says once, at the first execution, which environment is missing and how to make it.
Start it with ``python -m project_kernels.fallback -f CONNECTION_FILE``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelapp import IPKernelApp

from .names import DIAGNOSIS_VARIABLE, SHELL_PYTHONPATH_VARIABLE

__all__ = [
    "SHELL_CELL_MAGICS",
    "FallbackKernel",
    "diagnosis",
    "is_shell_only",
    "main",
]

SHELL_CELL_MAGICS = ("%%bash", "%%sh", "%%script")


def diagnosis() -> str:
    """The explanation handed over by the provisioner."""
    raw = os.environ.get(DIAGNOSIS_VARIABLE, "")
    try:
        return str(json.loads(raw)["message"])
    except (ValueError, KeyError, TypeError):
        return "The project environment for this notebook cannot run a kernel."


def runs_code() -> bool:
    """Whether this kernel runs the notebook's code (a notice) rather than refusing it."""
    try:
        return json.loads(os.environ.get(DIAGNOSIS_VARIABLE, ""))["runs_code"] is True
    except (ValueError, KeyError, TypeError):
        return False


def is_shell_only(code: str) -> bool:
    """True for cells made only of ``!command`` lines (or a ``%%bash``/``%%sh`` cell)."""
    stripped = code.strip()
    if stripped.startswith(SHELL_CELL_MAGICS):
        return True
    lines = [line.strip() for line in stripped.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    return bool(lines) and all(line.startswith("!") for line in lines)


class FallbackKernel(IPythonKernel):
    """An IPython kernel that explains the environment's problem and runs only shell commands."""

    implementation = "project-kernels-fallback"

    @property
    def banner(self) -> str:  # type: ignore[override]
        return diagnosis()

    noticed = False

    async def do_execute(self, code: str, silent: bool, *args: Any, **kwargs: Any) -> Any:
        """Run ``!`` cells; answer anything else with the explanation (or, for a notice,
        say it once and run everything)."""
        message = diagnosis()
        if runs_code():
            if not silent and not self.noticed:
                self.noticed = True
                self._publish_stderr(f"[project-kernels] {message}\n\n")
            return await super().do_execute(code, silent, *args, **kwargs)
        if is_shell_only(code):
            if not silent:
                first = message.splitlines()[0]
                self._publish_stderr(f"[project-kernels] {first} Running shell commands only.\n")
            return await super().do_execute(code, silent, *args, **kwargs)
        if not code.strip():
            return await super().do_execute(code, silent, *args, **kwargs)
        content = {
            "ename": "EnvironmentUnusable",
            "evalue": message.splitlines()[0],
            "traceback": [message],
        }
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    def _publish_stderr(self, text: str) -> None:
        self.send_response(self.iopub_socket, "stream", {"name": "stderr", "text": text})


def main() -> None:
    """Entry point for ``python -m project_kernels.fallback``."""
    shell_pythonpath = os.environ.pop(SHELL_PYTHONPATH_VARIABLE, None)
    if shell_pythonpath is not None:
        os.environ["PYTHONPATH"] = shell_pythonpath  # for '!' commands, not for this process
    IPKernelApp.launch_instance(kernel_class=FallbackKernel)


if __name__ == "__main__":
    main()
