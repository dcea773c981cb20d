"""The ``keel`` command line: work with the registry, manage API keys, chat and fine-tune
through the gateway, and (with the keel-dev package) run the platform locally.

One module per command group (``models``, ``aliases``, ``keys``, ``chat``, ``jobs``, ``docs``,
``datasets``, ``feedback``, ``evals`` for ``keel eval``); how things are shown lives in
``render``, the live job view in ``progress`` and the upload bar and live dataset build in
``docs``. A failed call is shown once, here in the root group, for every command: one readable
line and exit code 1, never a traceback.

``keel up``, ``keel status`` and ``keel demo`` belong to the local runner, which starts every
service and so depends on all of them: they come from the keel-dev package through the
``keel.commands`` entry point group, so this package never imports it (a slim SDK + CLI).
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from keel_client.cli.chat import chat
from keel_client.cli.datasets import datasets
from keel_client.cli.docs import docs
from keel_client.cli.evals import evals
from keel_client.cli.feedback import feedback
from keel_client.cli.jobs import jobs
from keel_client.cli.keys import keys
from keel_client.cli.models import models
from keel_client.cli.render import err, show_error
from keel_common.errors import KeelError

PLUGIN_GROUP = "keel.commands"
# Shown (and explained) even where keel-dev is not installed.
LOCAL_COMMANDS = {
    "up": "Run the whole platform locally (needs keel-dev).",
    "status": "Show the health of the local platform (needs keel-dev).",
    "demo": "Narrate the main loop on a local platform (needs keel-dev).",
}


def missing(name: str) -> click.Command:
    """A stand-in for a keel-dev command when that package is not installed."""

    def fail() -> None:
        err.print(f"keel {name} needs the keel-dev package: pip install keel-dev")
        sys.exit(1)

    return click.Command(
        name,
        callback=fail,
        help=LOCAL_COMMANDS[name],
        # `keel up --no-inference` still gets the message above, not "no such option".
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


class KeelGroup(click.Group):
    """The root group: adds the commands other packages register, and shows a failed registry
    or gateway call as one line with exit code 1."""

    def _plugins(self) -> dict[str, Any]:
        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins(), *LOCAL_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        plugin = self._plugins().get(cmd_name)
        if plugin is not None:
            command = plugin.load()
            if isinstance(command, click.Command):
                return command
        return missing(cmd_name) if cmd_name in LOCAL_COMMANDS else None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeelError as exc:
            show_error(exc)
            sys.exit(1)


@click.group(cls=KeelGroup)
@click.option("--registry", envvar="KEEL_REGISTRY_ADDR", help="registry gRPC address (host:port)")
@click.pass_context
def main(ctx: click.Context, registry: str | None) -> None:
    """Keel: fine-tune, serve, guard and improve LLMs."""
    ctx.ensure_object(dict)
    ctx.obj["registry"] = registry


for command in (models, keys, chat, jobs, docs, datasets, feedback, evals):
    main.add_command(command)
