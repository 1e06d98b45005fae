"""Open the demo project in JupyterLab with project-kernels enabled.

Creates ``analysis/.venv`` (with ipykernel and a package the server does not have)
on first use, then starts JupyterLab on the demo notebook. Run from anywhere:
``python examples/demo/start.py``; extra arguments go to ``jupyter lab``.

Ctrl-C, SIGTERM or SIGHUP to this process stop JupyterLab the way that also stops
its kernels (SIGTERM; Jupyter's own Ctrl-C handling asks for confirmation in a
terminal and, without one, exits leaving its kernels running), and this process
waits for it. Run as root (as in a container), it passes ``--allow-root``, which
JupyterLab otherwise asks for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import venv
from pathlib import Path
from types import FrameType

HERE = Path(__file__).resolve().parent
ENV = HERE / "analysis" / ".venv"
NOTEBOOK = "analysis/2024/report.ipynb"


def main() -> None:
    if not (ENV / "bin" / "python").exists():
        print(f"Creating the demo project's environment in {ENV} ...", flush=True)
        venv.create(ENV, with_pip=True)
        subprocess.run(
            [
                str(ENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "ipykernel",
                "tabulate",
            ],
            check=True,
        )
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--config={HERE / 'jupyter_server_config.py'}",
        f"--ServerApp.root_dir={HERE}",
        f"--LabApp.default_url=/lab/tree/{NOTEBOOK}",
        *sys.argv[1:],
    ]
    if os.geteuid() == 0 and "--allow-root" not in command:
        command.append("--allow-root")
    print("Starting JupyterLab; the notebook's kernel runs from", ENV, flush=True)
    raise SystemExit(run_until_stopped(command))


def run_until_stopped(command: list[str]) -> int:
    """Run ``command`` (JupyterLab); a stop signal to this process stops it cleanly."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    stopping: list[int] = []
    for signum in signals:  # until the server exists, only remember
        signal.signal(signum, lambda received, frame: stopping.append(received))
    # Its own session: a terminal's Ctrl-C reaches only this process, which passes it on.
    server = subprocess.Popen(command, start_new_session=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.send_signal(signal.SIGTERM)

    for signum in signals:
        signal.signal(signum, stop)
    if stopping:  # stopped while it was being started
        server.send_signal(signal.SIGTERM)
    return server.wait()


if __name__ == "__main__":
    main()
