"""`keel keys`: create, list and revoke gateway API keys (the gateway's admin API)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from keel_client.cli.connect import gateway_client, gateway_options
from keel_client.cli.render import console, ts


@click.group()
def keys() -> None:
    """Create, list and revoke gateway API keys (needs a key with the admin scope)."""


def _limit(value: int) -> str:
    return "default" if value == 0 else "unlimited" if value < 0 else str(value)


@keys.command("create")
@click.option("--tenant", default=None, help="default: the tenant of the key used")
@click.option(
    "--scopes", default="inference", show_default=True, help="comma-separated: inference,training,admin"
)
@click.option("--name", default="", help="a label for people")
@click.option(
    "--rpm", type=click.IntRange(min=-1), default=0, help="requests/minute (0 = default, -1 = unlimited)"
)
@click.option(
    "--tpm", type=click.IntRange(min=-1), default=0, help="tokens/minute (0 = default, -1 = unlimited)"
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=-1),
    default=0,
    help="in-flight requests (0 = default, -1 = unlimited)",
)
@click.option("--json", "as_json", is_flag=True, help="print the whole record, key included, as JSON")
@gateway_options
def keys_create(
    tenant: str | None,
    scopes: str,
    name: str,
    rpm: int,
    tpm: int,
    concurrency: int,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Create an API key; the secret is shown this once only."""
    scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
    with gateway_client(gateway_url, api_key) as gw:
        rec = gw.create_key(tenant, scope_list, name, rpm, tpm, concurrency)
    if as_json:
        click.echo(json.dumps(rec))
        return
    console.print(
        f"created key [bold]{rec['id']}[/bold] for tenant [bold]{rec['tenant']}[/bold] "
        f"(scopes {', '.join(rec['scopes'])}); this is the only time it is shown:",
        highlight=False,
    )
    click.echo(rec["key"])


@keys.command("list")
@click.option("--tenant", default=None, help="default: the tenant of the key used (the operator: any)")
@gateway_options
def keys_list(tenant: str | None, gateway_url: str | None, api_key: str | None) -> None:
    """List API keys (never their secrets), revoked ones included."""
    with gateway_client(gateway_url, api_key) as gw:
        found = gw.list_keys(tenant)
    table = Table(title="API keys")
    for col in ("id", "tenant", "name", "scopes", "rpm", "tpm", "concurrency", "created", "revoked"):
        table.add_column(col)
    for k in found:
        limits = k.get("limits") or {}
        table.add_row(
            k["id"],
            k["tenant"],
            k.get("name", ""),
            ",".join(k.get("scopes", ())),
            *(_limit(int(limits.get(n, 0))) for n in ("rpm", "tpm", "concurrency")),
            ts(k.get("created_at")),
            f"[red]{ts(k['revoked_at'])}[/red]" if k.get("revoked_at") else "",
        )
    console.print(table)


@keys.command("revoke")
@click.argument("key_id")
@gateway_options
def keys_revoke(key_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """Revoke KEY_ID; every gateway replica refuses it within a second."""
    with gateway_client(gateway_url, api_key) as gw:
        rec = gw.revoke_key(key_id)
    console.print(f"revoked {rec['id']} (tenant {rec['tenant']})", highlight=False)
