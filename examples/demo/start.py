"""Open the demo project in JupyterLab with project-kernels enabled.

Creates ``analysis/.venv`` (with ipykernel and a package the server does not have)
on first use, then starts JupyterLab on the demo notebook. Run from anywhere:
``python examples/demo/start.py``; extra arguments go to ``jupyter lab``.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

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
    print("Starting JupyterLab; the notebook's kernel runs from", ENV, flush=True)
    raise SystemExit(subprocess.call(command))


if __name__ == "__main__":
    main()
