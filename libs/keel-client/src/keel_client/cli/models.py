"""`keel models`: registered models, their versions with metrics and lineage, how a ref
resolves, aliases and promotion (directly, or through the evaluation gate: `promote --gate`) —
through the gateway with an API key (the training scope; the key's tenant's models), or straight
to the registry's gRPC API when ``--registry`` (or ``$KEEL_REGISTRY_ADDR``) names one, as
operators inside the cluster do. Creating a model and registering an artifact are the
registry's alone (gRPC)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import grpc
from rich.markup import escape
from rich.table import Table

from keel_client.cli.aliases import alias
from keel_client.cli.connect import client_of, gateway_client, gateway_options, named_registry, registry_of
from keel_client.cli.evals import POLL_S, gate_line, scores_table, wait
from keel_client.cli.jobs import dataset_ref
from keel_client.cli.render import console, ts
from keel_client.evaluations import gate_of
from keel_client.registry import KeelApiError, RegistryJson, status_name
from keel_common.contract import OPERATOR_TENANT

GATE_REFUSED = 3  # the exit code of a promotion the gate refused


@click.group()
def models() -> None:
    """Registered models, versions, lineage, aliases and promotion."""


models.add_command(alias)


def _status(v: dict[str, Any]) -> str:
    return str(v.get("status") or "").upper()


def _dataset(v: dict[str, Any]) -> str:
    return str((v.get("lineage") or {}).get("dataset") or "")


def versions_table(title: str, versions: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("ref", "status", "aliases", "base model", "metrics", "tags", "dataset", "job", "created"):
        table.add_column(col)
    for v in versions:
        metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v["metrics"].items()))
        cells = (
            v["id"],
            _status(v),
            ", ".join(v["aliases"]),
            v["base_model"],
            metrics,
            ", ".join(v["tags"]),
            _dataset(v),
            (v.get("lineage") or {}).get("training_job_id") or "",
            ts(v.get("created_at")),
        )
        table.add_row(*(escape(str(cell)) for cell in cells))
    return table


def version_table(v: dict[str, Any], via: str) -> Table:
    """One version with its lineage, metrics and params."""
    table = Table(title=f"{v['id']}  (via {via})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    lin = v.get("lineage") or {}
    art = v.get("artifact")
    artifact = "-"
    if art:
        where = f"{art['uri']}\n" if art.get("uri") else ""
        artifact = f"{where}sha256 {art['sha256']}  ({art['bytes']} bytes)"
    dataset = (
        f"{lin['dataset_id']} version {lin.get('dataset_version') or '-'}" if lin.get("dataset_id") else "-"
    )
    rows = [
        ("status", _status(v) + (f" — {v['status_details']}" if v.get("status_details") else "")),
        ("aliases", ", ".join(v["aliases"]) or "-"),
        ("base model", v["base_model"]),
        ("artifact", artifact),
        ("lineage: training job", lin.get("training_job_id") or "-"),
        ("lineage: dataset", dataset),
        ("lineage: source", lin.get("source") or "-"),
        ("lineage: parent", lin.get("parent_version") or "-"),
        ("metrics", "\n".join(f"{k} = {val:.6g}" for k, val in sorted(v["metrics"].items())) or "-"),
        ("params", "\n".join(f"{k} = {val}" for k, val in sorted(v["params"].items())) or "-"),
        ("tags", ", ".join(v["tags"]) or "-"),
        ("created", f"{ts(v.get('created_at'))} by {v.get('created_by') or '-'}"),
        ("description", v.get("description") or "-"),
    ]
    for row in rows:
        table.add_row(*(escape(str(cell)) for cell in row))
    return table


def _via(res: dict[str, Any]) -> str:
    """How a ref was resolved: "alias production", "version" or "latest"."""
    return f"alias {res['alias']}" if res["resolved_via"] == "alias" else str(res["resolved_via"])


@models.command("list")
@click.option("--tenant", default=None, help="with --registry only: one tenant's models")
@click.option("--query", "-q", default=None, help="substring of the name")
@gateway_options
@click.pass_context
def models_list(
    ctx: click.Context, tenant: str | None, query: str | None, gateway_url: str | None, api_key: str | None
) -> None:
    """List registered models (through the gateway: the key's tenant's)."""
    table = Table(title="models")
    for col in ("name", "latest", "aliases", "tenant", "created", "description"):
        table.add_column(col)
    with registry_of(ctx, gateway_url, api_key) as reg:
        if isinstance(reg, RegistryJson):
            found = reg.list_registry_models(query, tenant=tenant or "")
        elif tenant:
            raise click.UsageError("--tenant needs --registry; through the gateway a key sees its own tenant")
        else:
            found = reg.list_registry_models(query)
    for m in found:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m["aliases"].items()))
        table.add_row(
            m["name"], str(m["latest_version"]), aliases, m["owned_by"], ts(m["created_at"]), m["description"]
        )
    console.print(table)


TENANT_HELP = (
    f"the tenant that owns the model: its keys see it through the gateway [default: {OPERATOR_TENANT}, "
    "the operator's, whose key `keel up` saves]"
)


@models.command("create")
@click.argument("name")
@click.option("--description", "-d", default="")
@click.option("--tenant", default=OPERATOR_TENANT, help=TENANT_HELP)
@click.pass_context
def models_create(ctx: click.Context, name: str, description: str, tenant: str) -> None:
    """Register a new model NAME (the registry's gRPC API)."""
    with client_of(ctx) as c:
        m = c.create_model(name, description, tenant)
    console.print(f"created model [bold]{m.name}[/bold]")


@models.command("versions")
@click.argument("name", required=False, default="")
@click.option("--tag", default=None)
@click.option("--status", type=click.Choice(["pending", "ready", "failed", "archived"]), default=None)
@click.option("--base-model", default=None)
@click.option("--limit", default=100, show_default=True)
@gateway_options
@click.pass_context
def models_versions(
    ctx: click.Context,
    name: str,
    tag: str | None,
    status: str | None,
    base_model: str | None,
    limit: int,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """List versions of NAME (with --registry: of every model when NAME is left out), newest
    first, with filters."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        if not name and not isinstance(reg, RegistryJson):
            raise click.UsageError("NAME is required through the gateway (--registry lists every model's)")
        found = reg.list_model_versions(name, status, tag, base_model, limit)
    console.print(versions_table(f"versions of {name}" if name else "versions", found))


@models.command("show")
@click.argument("ref")
@gateway_options
@click.pass_context
def models_show(ctx: click.Context, ref: str, gateway_url: str | None, api_key: str | None) -> None:
    """Show one version (REF is name, name@alias or name/N) with its metrics, params and lineage."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        res = reg.resolve_model(ref)
    console.print(version_table(res["version"], _via(res)))


@models.command("promote")
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--alias", "alias_name", default="production", show_default=True, help="the alias to move")
@click.option("--reason", default=None, help="recorded in the alias history (not with --gate)")
@click.option(
    "--gate",
    "gate_metric",
    default=None,
    metavar="METRIC",
    help="move the alias only if VERSION scores at least as well on METRIC (eval_f1, eval_exact_match, "
    "eval_similarity, closed_book_f1, …) as what the alias serves now, on the same questions; "
    "waits for the evaluation (exit 3 when the gate refuses)",
)
@click.option("--margin", type=click.FloatRange(0, 1), default=None, help="with --gate [default: 0]")
@click.option(
    "--min-examples",
    type=click.IntRange(min=1),
    default=None,
    help="with --gate: fewer questions refuse [10]",
)
@click.option(
    "--dataset",
    default=None,
    callback=dataset_ref,
    help="with --gate: the questions, ds_…@N [default: the dataset VERSION was trained on]",
)
@click.option("--split", type=click.Choice(["validation", "train"]), default=None, help="with --gate")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=None, help="with --gate: questions per model [64]"
)
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True, help="with --gate"
)
@click.option("--poll", type=click.FloatRange(min=0.01), default=POLL_S, hidden=True)
@gateway_options
@click.pass_context
def models_promote(
    ctx: click.Context,
    name: str,
    version: int,
    alias_name: str,
    reason: str | None,
    gate_metric: str | None,
    margin: float | None,
    min_examples: int | None,
    dataset: str | None,
    split: str | None,
    limit: int | None,
    timeout: float,
    poll: float,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Promote NAME/VERSION: move an alias (production by default) to it; chat requests for NAME
    (or NAME@ALIAS) are served by it at once. With --gate, only if it scores at least as well as
    what the alias serves now."""
    gated = {"--margin": margin, "--min-examples": min_examples, "--dataset": dataset, "--split": split}
    gated["--limit"] = limit
    if gate_metric is None:
        if any(v is not None for v in gated.values()):
            given = ", ".join(k for k, v in gated.items() if v is not None)
            raise click.UsageError(f"{given}: only with --gate")
        with registry_of(ctx, gateway_url, api_key) as reg:
            p = reg.promote(name, version, alias_name, reason)
        before = f"was {p['previous_version']}" if p["previous_version"] else "new alias"
        if p["moved"]:
            console.print(f"promoted {p['model']}/{p['version']} to {p['alias']} ({before})", highlight=False)
        else:
            console.print(
                f"{p['model']}@{p['alias']} already → {p['version']}; nothing moved", highlight=False
            )
        return
    if named_registry(ctx):
        raise click.UsageError(
            "--gate goes through the gateway (a training worker evaluates): drop --registry"
        )
    if reason:
        raise click.UsageError(
            "--reason does not go with --gate: the alias history records the gate's scores"
        )
    gate = gate_of(gate_metric, margin, min_examples, dataset, split, limit)
    with gateway_client(gateway_url, api_key) as gw:
        p = gw.promote(name, version, alias_name, gate=gate)
        ev = p["evaluation"]
        against = ev["models"][1] if len(ev.get("models") or ()) > 1 else "?"
        console.print(
            f"gating {name}/{version} for {p['alias']}: evaluation [bold]{ev['id']}[/bold] compares it with "
            f"{escape(against)} on {escape(str(ev.get('dataset')))} ({ev.get('split')})",
            highlight=False,
            soft_wrap=True,
        )
        ev = wait(gw, ev, timeout, poll)
    sys.exit(_gated(ev, p))


def _gated(ev: dict[str, Any], p: dict[str, Any]) -> int:
    """Show how a gated promotion ended; the exit code (0 moved or already there, 1 the
    evaluation failed, 3 the gate refused)."""
    console.print(scores_table(ev))
    if ev.get("status") == "failed":
        console.print(f"[red]evaluation {ev['id']} failed[/red]: {escape(str(ev.get('status_message')))}")
        return 1
    outcome = ev.get("gate_outcome")
    line = gate_line(ev)
    if not outcome or not line:
        console.print(f"evaluation {ev['id']} has no gate outcome; the alias did not move")
        return 1
    console.print(line, highlight=False, soft_wrap=True)
    target = f"{p['model']}/{p['version']}"
    before = f"was {p['previous_version']}" if p.get("previous_version") else "new alias"
    if outcome["promoted"]:
        console.print(f"[green]promoted {target} to {p['alias']}[/green] ({before})", highlight=False)
        return 0
    if outcome["passed"]:
        console.print(f"{p['model']}@{p['alias']} already → {p['version']}; nothing moved", highlight=False)
        return 0
    still = f"stays at {p['previous_version']}" if p.get("previous_version") else "was not created"
    console.print(f"[red]not promoted[/red]: {p['model']}@{p['alias']} {still}", highlight=False)
    return GATE_REFUSED


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
@click.option("--tenant", default=OPERATOR_TENANT, help=f"when NAME is new: {TENANT_HELP}")
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
    tenant: str,
) -> None:
    """Upload ARTIFACT (a file or an adapter directory) and register it as a new version of NAME
    (the registry's gRPC API; NAME is created when it does not exist yet)."""

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
            c.create_model(name, tenant=tenant)
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
            tenant=tenant,
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
@gateway_options
@click.pass_context
def models_resolve(ctx: click.Context, ref: str, gateway_url: str | None, api_key: str | None) -> None:
    """Resolve REF (name, name@alias, name/N) to one concrete version."""
    with registry_of(ctx, gateway_url, api_key) as reg:
        res = reg.resolve_model(ref)
    v = res["version"]
    where = (v.get("artifact") or {}).get("uri") or ""
    console.print(f"{ref} → [bold]{v['id']}[/bold] (via {_via(res)}) {where}".rstrip())
