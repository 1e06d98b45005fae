"""``python -m project_kernels`` is the command line."""

from .cli import main

main()
