"""Where each tool keeps a project's environment, worked out from files alone.

One module per tool (poetry, pipenv, pdm, hatch, pyenv, conda, pixi). Each has
a ``locate(level, context)`` generator that proposes the environment its tool
would use for the project in one directory, following the tool's own naming
rules and configuration files, without the tool being installed. The order in
which they are asked is :data:`project_kernels.locators.PRECEDENCE`.
"""
