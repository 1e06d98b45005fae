"""The JSON layout scripts and the front end read: what a problem carries besides its text."""

from __future__ import annotations

import pytest

from project_kernels.schema import fix_command


@pytest.mark.parametrize(
    ("fix", "command"),
    [
        (
            "Install it: /p/.venv/bin/python -m pip install ipykernel",
            "/p/.venv/bin/python -m pip install ipykernel",
        ),
        (
            "Recreate the environment: `python3 -m venv --clear /p/.venv`, then install your "
            "packages and ipykernel",
            "python3 -m venv --clear /p/.venv",
        ),
        (
            "Its owner runs `chmod -R g-w /p/.venv`. If everyone in 'lab' may run code as you, "
            "an administrator adds 'lab' to c.ProjectKernels.trusted_groups.",
            "chmod -R g-w /p/.venv",
        ),
    ],
)
def test_the_copy_button_gets_the_command_a_fix_names(fix: str, command: str) -> None:
    assert fix_command(fix) == command


def test_a_fix_that_names_no_command_gets_no_copy_button() -> None:
    assert fix_command("Make it readable to you, or create your own environment here.") is None
