"""The ``keel`` command line: run the local platform, work with the registry, manage API keys,
chat and fine-tune through the gateway.

One module per command group (``models``, ``aliases``, ``keys``, ``chat``, ``jobs``); how
things are shown lives in ``render`` and the live job view in ``progress``. A failed call is
shown once, here in the group, for every command: one readable line and exit code 1, never a
traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from keel_client.cli.chat import chat
from keel_client.cli.jobs import jobs
from keel_client.cli.keys import keys
from keel_client.cli.models import models
from keel_client.cli.platform import demo, status, up
from keel_client.cli.render import show_error
from keel_common.errors import KeelError


class KeelGroup(click.Group):
    """The root group: shows a failed registry or gateway call as one line and exits 1."""

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


for command in (models, keys, chat, jobs, up, status, demo):
    main.add_command(command)
