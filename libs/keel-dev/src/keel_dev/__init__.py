"""keel-dev: the whole Keel platform on one machine, for development and demos.

``keel up`` starts an embedded Valkey and each service as a supervised child process
(``local.LocalPlatform``, ``supervisor.Supervisor``): a component that crashes is restarted
on the same port with exponential backoff, and only one that keeps crashing stops the
platform. ``keel status`` reads the state file it writes; ``keel demo`` narrates the main
loop on it.

How the commands reach ``keel``: this package registers them under the ``keel.commands``
entry point group (see its pyproject), and keel-client's root group loads whatever is
registered there. keel-client never imports this package, so ``pip install keel-client``
stays a slim SDK + CLI, and without keel-dev ``keel up`` says which package it needs.
"""
