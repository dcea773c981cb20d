"""`keel models alias`: set, delete, roll back, list and audit aliases (name@alias → version),
through the gateway with an API key, or over the registry's gRPC API with ``--registry``."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_options, registry_of
from keel_client.cli.render import console, ts


@click.group()
def alias() -> None:
    """Set, delete, list and roll back aliases, and show their history."""


def history_table(name: str, events: list[dict[str, Any]]) -> Table:
    table = Table(title=f"alias history of {name}")
    for col in ("when", "alias", "action", "from", "to", "actor", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(
            ts(e["created_at"]),
            e["alias"],
            str(e["action"]).upper(),
            str(e["from_version"] or "-"),
            str(e["to_version"] or "-"),
            escape(e["actor"]),
            escape(e["reason"]),
        )
    return table


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=int)
@click.option("--reason", default="")
@gateway_options
@click.pass_context
def alias_set(
    ctx: click.Context,
    name: str,
    alias_name: str,
    version: int,
    reason: str,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Point NAME@ALIAS at VERSION."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        a = reg.set_alias(name, alias_name, version, reason)
    console.print(f"{a['model']}@{a['alias']} → {a['version']}", highlight=False)


@alias.command("delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="")
@gateway_options
@click.pass_context
def alias_delete(
    ctx: click.Context, name: str, alias_name: str, reason: str, gateway_url: str | None, api_key: str | None
) -> None:
    """Remove NAME@ALIAS."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        gone = reg.delete_alias(name, alias_name, reason)
    console.print(f"deleted {name}@{alias_name} (was {gone['previous_version']})", highlight=False)


@alias.command("rollback")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.option("--reason", default="")
@gateway_options
@click.pass_context
def alias_rollback(
    ctx: click.Context, name: str, alias_name: str, reason: str, gateway_url: str | None, api_key: str | None
) -> None:
    """Move NAME@ALIAS back to where it pointed before its latest move."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        a = reg.rollback_alias(name, alias_name, reason)
    console.print(f"{a['model']}@{a['alias']} rolled back → {a['version']}", highlight=False)


@alias.command("list")
@click.argument("name")
@gateway_options
@click.pass_context
def alias_list(ctx: click.Context, name: str, gateway_url: str | None, api_key: str | None) -> None:
    """NAME's aliases, where they point, who moved them last and when."""
    table = Table(title=f"aliases of {name}")
    for col in ("alias", "version", "updated by", "updated"):
        table.add_column(col)
    with registry_of(ctx, gateway_url, api_key) as reg:
        for a in reg.list_aliases(name):
            table.add_row(a["alias"], str(a["version"]), escape(a["updated_by"]), ts(a["updated_at"]))
    console.print(table)


@alias.command("history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS", required=False, default="")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="the newest N moves only")
@gateway_options
@click.pass_context
def alias_history(
    ctx: click.Context,
    name: str,
    alias_name: str,
    limit: int | None,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """The audit trail of alias moves, newest first."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        events = reg.alias_history(name, alias_name or None, limit)
    console.print(history_table(name, events))
