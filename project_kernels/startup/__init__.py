"""Files that interpreters of project environments run at start (see :mod:`..pipless`).

They run under the environment's Python, whatever its version: plain code, no imports
from project_kernels.
"""
