"""The ``keel`` command line: run the local platform and work with the registry."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from keel.registry.v1 import registry_pb2 as pb
from keel_client.local import LocalPlatform, PlatformState, default_data_dir
from keel_client.registry import (
    DEFAULT_TARGET,
    KeelApiError,
    RegistryClient,
    describe_resolution,
    status_name,
)
from keel_common.grpc import channel
from keel_common.grpc.client import health_status

# Wide enough for the tables when output is piped (CI logs, make demo | tee).
console = Console(width=None if sys.stdout.isatty() else 150)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def when(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S") if ts.seconds else "-"


def registry_target(explicit: str | None) -> str:
    """--registry, else $KEEL_REGISTRY_ADDR, else the running `keel up`, else the default port."""
    if explicit:  # the --registry option, which also reads $KEEL_REGISTRY_ADDR
        return explicit
    state = PlatformState.load(default_data_dir())
    if state and "registry" in state.components:
        return state.components["registry"].grpc
    return DEFAULT_TARGET


def client_of(ctx: click.Context) -> RegistryClient:
    return RegistryClient(registry_target(ctx.obj.get("registry")), actor=os.environ.get("USER", ""))


def handles_errors(fn: F) -> F:
    """Show a failed call as one readable line and exit 1, never a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeelApiError as exc:
            err.print(f"[red]error[/red] {exc.code.name}: {exc.message}")
            sys.exit(1)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


@click.group()
@click.option("--registry", envvar="KEEL_REGISTRY_ADDR", help="registry gRPC address (host:port)")
@click.pass_context
def main(ctx: click.Context, registry: str | None) -> None:
    """Keel: fine-tune, serve, guard and improve LLMs."""
    ctx.ensure_object(dict)
    ctx.obj["registry"] = registry


# --- platform ---------------------------------------------------------------------------
@main.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="default: $KEEL_DATA_DIR or ~/.keel"
)
@click.option("--registry-port", default=50051, show_default=True)
@click.option("--inference-port", default=50052, show_default=True)
@click.option(
    "--inference/--no-inference",
    default=True,
    show_default=True,
    help="serve SmolLM2 with Ray Serve (local mode, tensor_parallel_size=1)",
)
def up(data_dir: Path | None, registry_port: int, inference_port: int, inference: bool) -> None:
    """Run the whole platform locally until Ctrl-C (or SIGTERM)."""

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the platform exactly like Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    platform = LocalPlatform(
        data_dir, registry_port=registry_port, inference=inference, inference_port=inference_port
    )
    died = None
    parts = "embedded Valkey, registry" + (
        ", inference (Ray Serve; the first start converts the model)" if inference else ""
    )
    try:
        with console.status(f"starting Keel ({parts}) ..."):
            try:
                state = platform.start()
            except Exception as exc:
                err.print(f"[red]failed to start:[/red] {exc}")
                sys.exit(1)
        show_components(state, check=True)
        console.print(f"data in [bold]{state.data_dir}[/bold]; press Ctrl-C to stop")
        died = platform.wait()
        err.print(f"[red]{died} exited unexpectedly[/red]; see the logs in {state.data_dir}/logs")
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        platform.stop()
    console.print("stopped")
    sys.exit(1 if died else 0)


def component_health(comp: Any) -> tuple[str, str]:
    """(status, detail) for one component of a running platform."""
    if comp.grpc:
        with channel(comp.grpc) as ch:
            status = health_status(ch)
        detail = ""
        if comp.http:
            try:
                with urllib.request.urlopen(f"{comp.http}/readyz", timeout=2):
                    detail = "ready"
            except urllib.error.HTTPError as exc:
                detail = str(json.loads(exc.read() or b"{}").get("reasons", {}))
            except OSError as exc:
                detail = f"unreachable: {exc}"
        return status, detail
    if comp.url:
        import redis

        try:
            redis.Redis.from_url(comp.url, socket_connect_timeout=2).ping()
            return "SERVING", ""
        except redis.RedisError as exc:
            return "UNREACHABLE", str(exc)
    return "UNKNOWN", ""


def show_components(state: PlatformState, check: bool) -> bool:
    table = Table(title="Keel components")
    for col in ("component", "status", "address", "metrics / health", "log"):
        table.add_column(col)
    healthy = True
    for comp in state.components.values():
        status, detail = component_health(comp) if check else ("-", "")
        healthy &= status == "SERVING"
        colour = "green" if status == "SERVING" else "red"
        table.add_row(
            comp.name,
            f"[{colour}]{status}[/{colour}] {detail}",
            comp.grpc or comp.url,
            f"{comp.http}/metrics" if comp.http else "",
            comp.log,
        )
    console.print(table)
    return healthy


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def status(data_dir: Path | None) -> None:
    """Show the health of each component of the running local platform."""
    state = PlatformState.load(data_dir or default_data_dir())
    if state is None:
        err.print("no local platform is running (start one with `keel up`)")
        sys.exit(1)
    sys.exit(0 if show_components(state, check=True) else 1)


# --- models -----------------------------------------------------------------------------
@main.group()
def models() -> None:
    """Registered models, versions, lineage and aliases."""


@models.command("list")
@click.option("--tenant", default="")
@click.option("--query", "-q", default="", help="substring of the name")
@click.pass_context
@handles_errors
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
@handles_errors
def models_create(ctx: click.Context, name: str, description: str, tenant: str) -> None:
    """Register a new model NAME."""
    with client_of(ctx) as c:
        m = c.create_model(name, description, tenant)
    console.print(f"created model [bold]{m.name}[/bold]")


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


@models.command("versions")
@click.argument("name", required=False, default="")
@click.option("--tag", default="")
@click.option("--status", type=click.Choice(["pending", "ready", "failed", "archived"]), default=None)
@click.option("--base-model", default="")
@click.option("--limit", default=100, show_default=True)
@click.pass_context
@handles_errors
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
@handles_errors
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
@handles_errors
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


@models.group()
def alias() -> None:
    """Set, delete, list and roll back aliases."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=int)
@click.option("--reason", default="")
@click.pass_context
@handles_errors
def alias_set(ctx: click.Context, name: str, alias_name: str, version: int, reason: str) -> None:
    """Point NAME@ALIAS at VERSION."""
    with client_of(ctx) as c:
        a = c.set_alias(name, alias_name, version, reason)
    console.print(f"{a.model}@{a.alias} → {a.version}")


@alias.command("delete")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.pass_context
@handles_errors
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
@handles_errors
def alias_rollback(ctx: click.Context, name: str, alias_name: str, reason: str) -> None:
    """Move NAME@ALIAS back to where it pointed before its latest move."""
    with client_of(ctx) as c:
        a = c.rollback_alias(name, alias_name, reason)
    console.print(f"{a.model}@{a.alias} rolled back → {a.version}")


@alias.command("history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS", required=False, default="")
@click.pass_context
@handles_errors
def alias_history(ctx: click.Context, name: str, alias_name: str) -> None:
    """The audit trail of alias moves, newest first."""
    with client_of(ctx) as c:
        events = c.alias_history(name, alias_name)
    console.print(history_table(name, events))


def history_table(name: str, events: list[pb.AliasEvent]) -> Table:
    table = Table(title=f"alias history of {name}")
    for col in ("when", "alias", "action", "from", "to", "actor", "reason"):
        table.add_column(col)
    for e in events:
        table.add_row(
            when(e.at),
            e.alias,
            pb.AliasAction.Name(e.action).removeprefix("ALIAS_ACTION_"),
            str(e.from_version or "-"),
            str(e.to_version or "-"),
            e.actor,
            e.reason,
        )
    return table


@models.command("resolve")
@click.argument("ref")
@click.pass_context
@handles_errors
def models_resolve(ctx: click.Context, ref: str) -> None:
    """Resolve REF (name, name@alias, name/N) to one concrete version."""
    with client_of(ctx) as c:
        res = c.resolve(ref)
    v = res.version
    console.print(
        f"{ref} → [bold]{v.model}/{v.version}[/bold] (via {describe_resolution(res)}) {v.artifact_uri}"
    )


@main.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="default: a fresh temporary directory"
)
def demo(data_dir: Path | None) -> None:
    """Start the local platform, register a model with an adapter, move an alias, resolve it."""
    from keel_client.demo import run_demo

    sys.exit(run_demo(console, data_dir))


if __name__ == "__main__":
    main()
