"""`keel models alias`: set, delete, roll back and audit aliases (name@alias → version)."""

from __future__ import annotations

import click

from keel_client.cli.connect import client_of
from keel_client.cli.render import console, history_table


@click.group()
def alias() -> None:
    """Set, delete, list and roll back aliases."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=int)
@click.option("--reason", default="")
@click.pass_context
def alias_set(ctx: click.Context, name: str, alias_name: str, version: int, reason: str) -> None:
    """Point NAME@ALIAS at VERSION."""
    with client_of(ctx) as c:
        a = c.set_alias(name, alias_name, version, reason)
    console.print(f"{a.model}@{a.alias} → {a.version}")


@alias.command("delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.pass_context
def alias_delete(ctx: click.Context, name: str, alias_name: str) -> None:
    """Remove NAME@ALIAS."""
    with client_of(ctx) as c:
        prev = c.delete_alias(name, alias_name)
    console.print(f"deleted {name}@{alias_name} (was {prev})")


@alias.command("rollback")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="")
@click.pass_context
def alias_rollback(ctx: click.Context, name: str, alias_name: str, reason: str) -> None:
    """Move NAME@ALIAS back to where it pointed before its latest move."""
    with client_of(ctx) as c:
        a = c.rollback_alias(name, alias_name, reason)
    console.print(f"{a.model}@{a.alias} rolled back → {a.version}")


@alias.command("history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS", required=False, default="")
@click.pass_context
def alias_history(ctx: click.Context, name: str, alias_name: str) -> None:
    """The audit trail of alias moves, newest first."""
    with client_of(ctx) as c:
        events = c.alias_history(name, alias_name)
    console.print(history_table(name, events))
