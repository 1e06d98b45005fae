"""Start an environment's interpreter to see whether it can import ipykernel.

The only place that runs an environment's Python outside a kernel launch: used
after a kernel died right after starting, and by ``project-kernels doctor --run``.
Never called for an environment that trust checks refused.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from .activation import activated
from .environments import Environment, Problem, ProblemCode

__all__ = [
    "PROBE_CODE",
    "ProbeResult",
    "probe",
    "startup_problem",
]

PROBE_CODE = "import ipykernel.kernelapp, sys; print(sys.prefix)"


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of starting the interpreter: ``ok`` and what it printed."""

    ok: bool
    returncode: int | None
    output: str


def probe(
    environment: Environment, base_env: Mapping[str, str], timeout: float = 60
) -> ProbeResult:
    """Run ``python -c 'import ipykernel.kernelapp'`` in the activated environment."""
    try:
        completed = subprocess.run(
            [str(environment.interpreter), "-c", PROBE_CODE],
            env=activated(environment, base_env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = (expired.output or b"").decode(errors="replace")
        return ProbeResult(False, None, output + f"\n(no answer within {timeout:g} seconds)")
    except OSError as error:
        return ProbeResult(False, None, f"{error.strerror}: {environment.interpreter}")
    text = completed.stdout.decode(errors="replace")
    return ProbeResult(completed.returncode == 0, completed.returncode, text)


def startup_problem(environment: Environment, result: ProbeResult, tail_lines: int = 15) -> Problem:
    """The problem to report for an interpreter that starts but cannot run a kernel."""
    tail = "\n".join(result.output.strip().splitlines()[-tail_lines:])
    return Problem(
        ProblemCode.STARTUP_FAILED,
        f"{environment.interpreter} starts but exits at once"
        + (f" (exit code {result.returncode})" if result.returncode is not None else "")
        + f". Its own error output:\n{tail}",
        "Fix the error above (a broken package, a sitecustomize.py, or a damaged ipykernel: "
        f"`{environment.interpreter} -m pip install --force-reinstall ipykernel`), then restart "
        "the kernel.",
    )
