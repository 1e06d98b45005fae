"""The fallback kernel: which cells it runs, and what it gives back to shell commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from project_kernels.fallback import diagnosis, is_shell_only


@pytest.mark.parametrize(
    ("code", "runs"),
    [
        ("!pip install ipykernel", True),
        ("# repair\n!pip install ipykernel\n\n!echo done", True),
        ("%%bash\npip install ipykernel", True),
        ("import numpy", False),
        ("!pip install x\nprint(1)", False),
        ("%pip install ipykernel", False),  # would install into the server's Python
        ("", False),
    ],
)
def test_only_shell_cells_run(code: str, runs: bool) -> None:
    assert is_shell_only(code) is runs


def test_the_diagnosis_comes_from_the_provisioner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_KERNELS_DIAGNOSIS", json.dumps({"message": "Problem: x"}))
    assert diagnosis() == "Problem: x"
    monkeypatch.setenv("PROJECT_KERNELS_DIAGNOSIS", "garbage")
    assert diagnosis().startswith("The project environment for this notebook cannot run")


def test_shell_commands_get_the_pythonpath_the_kernel_itself_ignores(tmp_path: object) -> None:
    code = (
        "import os, sys; sys.argv = ['x', '--help-all']\n"
        "from project_kernels import fallback\n"
        "fallback.IPKernelApp.launch_instance = lambda **kw: print(os.environ.get('PYTHONPATH'))\n"
        "fallback.main()"
    )
    env = {**os.environ, "PROJECT_KERNELS_SHELL_PYTHONPATH": "/modules/lib"}
    env.pop("PYTHONPATH", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "/modules/lib", out.stderr
