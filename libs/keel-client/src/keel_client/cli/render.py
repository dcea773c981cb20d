"""How the CLI shows things: the two consoles, timestamps and sizes, the registry tables and a
failed call as one readable line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel.registry.v1 import registry_pb2 as pb
from keel_client.gateway import GatewayError
from keel_client.registry import KeelApiError, status_name
from keel_common.errors import KeelError
from keel_common.protoenum import enum_name

# Wide enough for the tables when output is piped (CI logs, make demo | tee).
console = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True)


def when(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S") if ts.seconds else "-"


def ts(value: Any) -> str:
    """A Unix time from the gateway's JSON, or ``-``."""
    return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def gateway_error(exc: GatewayError) -> None:
    err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
    if exc.status == 429 and exc.retry_after:
        err.print(f"[dim]retry after {escape(exc.retry_after)} s[/dim]")


def show_error(exc: KeelError) -> None:
    """One line on stderr for a failed call: the registry's status name, the gateway's message."""
    if isinstance(exc, GatewayError):
        gateway_error(exc)
    elif isinstance(exc, KeelApiError):
        err.print(f"[red]error[/red] {exc.code.name}: {exc.message}")
    else:
        err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)


def versions_table(title: str, versions: list[pb.ModelVersion]) -> Table:
    table = Table(title=title)
    for col in ("ref", "status", "aliases", "base model", "metrics", "tags", "dataset", "job", "created"):
        table.add_column(col)
    for v in versions:
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        dataset = f"{v.lineage.dataset_id}@{v.lineage.dataset_version}" if v.lineage.dataset_id else ""
        table.add_row(
            f"{v.model}/{v.version}",
            status_name(v.status),
            ", ".join(v.aliases),
            v.base_model,
            metrics,
            ", ".join(v.tags),
            dataset,
            v.lineage.training_job_id,
            when(v.created_at),
        )
    return table


def history_table(name: str, events: list[pb.AliasEvent]) -> Table:
    table = Table(title=f"alias history of {name}")
    for col in ("when", "alias", "action", "from", "to", "actor", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(
            when(e.at),
            e.alias,
            enum_name(pb.AliasAction, e.action),
            str(e.from_version or "-"),
            str(e.to_version or "-"),
            e.actor,
            e.reason,
        )
    return table
