"""Warm kernels: an environment's next kernel started before its notebook asks for it.

Opt-in (``c.ProjectKernels.warm_kernels``). One more way of carrying out a launch plan,
next to jupyter_client's own launch: :mod:`.pool` decides which warm kernel may stand in
for a start, :mod:`.kernel` runs one, :mod:`.launcher` is what runs in it,
:mod:`.spec` and :mod:`.fingerprint` say when two starts are interchangeable.

Nothing is imported here: the configuration reads :mod:`.settings` without the pool.
"""
