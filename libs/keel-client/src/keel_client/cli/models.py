"""`keel models`: registered models, their versions, lineage and how a ref resolves (the
registry's gRPC API)."""

from __future__ import annotations

from pathlib import Path

import click
import grpc
from rich.table import Table

from keel_client.cli.aliases import alias
from keel_client.cli.connect import client_of
from keel_client.cli.render import console, versions_table, when
from keel_client.registry import KeelApiError, describe_resolution, status_name


@click.group()
def models() -> None:
    """Registered models, versions, lineage and aliases."""


models.add_command(alias)


@models.command("list")
@click.option("--tenant", default="")
@click.option("--query", "-q", default="", help="substring of the name")
@click.pass_context
def models_list(ctx: click.Context, tenant: str, query: str) -> None:
    """List registered models."""
    table = Table(title="models")
    for col in ("name", "latest", "aliases", "tenant", "created", "description"):
        table.add_column(col)
    with client_of(ctx) as c:
        for m in c.list_models(tenant=tenant, query=query):
            aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
            table.add_row(m.name, str(m.latest_version), aliases, m.tenant, when(m.created_at), m.description)
    console.print(table)


@models.command("create")
@click.argument("name")
@click.option("--description", "-d", default="")
@click.option("--tenant", default="")
@click.pass_context
def models_create(ctx: click.Context, name: str, description: str, tenant: str) -> None:
    """Register a new model NAME."""
    with client_of(ctx) as c:
        m = c.create_model(name, description, tenant)
    console.print(f"created model [bold]{m.name}[/bold]")


@models.command("versions")
@click.argument("name", required=False, default="")
@click.option("--tag", default="")
@click.option("--status", type=click.Choice(["pending", "ready", "failed", "archived"]), default=None)
@click.option("--base-model", default="")
@click.option("--limit", default=100, show_default=True)
@click.pass_context
def models_versions(
    ctx: click.Context, name: str, tag: str, status: str | None, base_model: str, limit: int
) -> None:
    """List versions of NAME (or of every model), newest first, with filters."""
    with client_of(ctx) as c:
        found = []
        for v in c.list_versions(name, tag=tag, status=status or "", base_model=base_model):
            found.append(v)
            if len(found) >= limit:
                break
    console.print(versions_table(f"versions of {name}" if name else "versions", found))


@models.command("show")
@click.argument("ref")
@click.pass_context
def models_show(ctx: click.Context, ref: str) -> None:
    """Show one version (REF is name, name@alias or name/N) with its lineage."""
    with client_of(ctx) as c:
        res = c.resolve(ref)
    v = res.version
    table = Table(
        title=f"{v.model}/{v.version}  (via {describe_resolution(res)})",
        show_header=False,
    )
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("status", status_name(v.status) + (f" — {v.status_message}" if v.status_message else "")),
        ("aliases", ", ".join(v.aliases) or "-"),
        ("base model", v.base_model),
        ("artifact", f"{v.artifact_uri}\nsha256 {v.artifact_sha256}  ({v.artifact_size_bytes} bytes)"),
        ("lineage: training job", v.lineage.training_job_id or "-"),
        (
            "lineage: dataset",
            f"{v.lineage.dataset_id} version {v.lineage.dataset_version}" if v.lineage.dataset_id else "-",
        ),
        ("lineage: source", v.lineage.source or "-"),
        ("lineage: parent", v.lineage.parent_version or "-"),
        ("metrics", "\n".join(f"{k} = {val:.6g}" for k, val in sorted(v.metrics.items())) or "-"),
        ("params", "\n".join(f"{k} = {val}" for k, val in sorted(v.params.items())) or "-"),
        ("tags", ", ".join(v.tags) or "-"),
        ("created", f"{when(v.created_at)} by {v.creator}"),
        ("description", v.description or "-"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)


@models.command("register")
@click.argument("name")
@click.argument("artifact", type=click.Path(exists=True, path_type=Path))
@click.option("--base-model", required=True, help="base model the artifact applies to")
@click.option("--metric", "-m", multiple=True, help="key=value (repeatable)")
@click.option("--param", "-p", multiple=True, help="key=value (repeatable)")
@click.option("--tag", "-t", multiple=True)
@click.option("--dataset", default="", help="lineage: dataset_id[@version]")
@click.option("--job", default="", help="lineage: training job id")
@click.option("--description", "-d", default="")
@click.pass_context
def models_register(
    ctx: click.Context,
    name: str,
    artifact: Path,
    base_model: str,
    metric: tuple[str, ...],
    param: tuple[str, ...],
    tag: tuple[str, ...],
    dataset: str,
    job: str,
    description: str,
) -> None:
    """Upload ARTIFACT (a file or an adapter directory) and register it as a new version of NAME."""

    def pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
        out = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not key=value", param_hint=what)
            out[key] = value
        return out

    try:
        metrics = {k: float(v) for k, v in pairs(metric, "--metric").items()}
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metric") from None
    ds_id, _, ds_version = dataset.partition("@")
    with client_of(ctx) as c:
        try:
            c.get_model(name)
        except KeelApiError as exc:
            if exc.code != grpc.StatusCode.NOT_FOUND:
                raise
            c.create_model(name)
            console.print(f"created model [bold]{name}[/bold]")
        ref = c.upload_dir(name, artifact) if artifact.is_dir() else c.upload_file(name, artifact)
        v = c.create_version(
            name,
            base_model,
            artifact_uri=ref.uri,
            artifact_sha256=ref.sha256,
            metrics=metrics,
            params=pairs(param, "--param"),
            tags=list(tag),
            description=description,
            create_model=True,
            lineage={
                "dataset_id": ds_id,
                "dataset_version": ds_version,
                "training_job_id": job,
                "source": "cli",
            },
        )
    console.print(
        f"registered [bold]{v.model}/{v.version}[/bold] ({status_name(v.status)}), sha256 {v.artifact_sha256}"
    )


@models.command("resolve")
@click.argument("ref")
@click.pass_context
def models_resolve(ctx: click.Context, ref: str) -> None:
    """Resolve REF (name, name@alias, name/N) to one concrete version."""
    with client_of(ctx) as c:
        res = c.resolve(ref)
    v = res.version
    console.print(
        f"{ref} → [bold]{v.model}/{v.version}[/bold] (via {describe_resolution(res)}) {v.artifact_uri}"
    )
