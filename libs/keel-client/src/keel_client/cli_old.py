"""The ``keel`` command line: run the local platform, work with the registry, manage API keys,
chat and fine-tune through the gateway."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
import grpc
import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from keel.registry.v1 import registry_pb2 as pb
from keel_client.gateway import DEFAULT_URL, ChatResult, GatewayClient, GatewayError, GatewayUnreachable
from keel_client.local import (
    LocalPlatform,
    PlatformState,
    admin_key_path,
    default_data_dir,
    read_secret,
)
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
        except GatewayError as exc:
            gateway_error(exc)
            sys.exit(1)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


# --- the gateway ------------------------------------------------------------------------
def gateway_url(explicit: str | None) -> str:
    """--gateway-url, else $KEEL_GATEWAY_URL, else the running `keel up`, else the default port."""
    if explicit:  # the option, which also reads $KEEL_GATEWAY_URL
        return explicit
    state = PlatformState.load(default_data_dir())
    if state and "gateway" in state.components:
        return state.components["gateway"].http
    return DEFAULT_URL


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(explicit: str | None, url: str) -> str:
    """--api-key, else $KEEL_API_KEY, else the admin key `keel up` saved, which is only ever sent
    to a gateway on this machine."""
    if explicit:
        return explicit
    path = admin_key_path(default_data_dir())
    saved = read_secret(path)
    if saved and _loopback(url):
        return saved
    hint = f" (`keel up` saves an admin key in {path} for a gateway on this machine)"
    raise click.UsageError("no API key: pass --api-key or set KEEL_API_KEY" + hint)


def gateway_options(fn: F) -> F:
    fn = click.option(
        "--api-key",
        envvar="KEEL_API_KEY",
        default=None,
        help="gateway API key [env KEEL_API_KEY; default: the admin key of the local `keel up`]",
    )(fn)
    return click.option(
        "--gateway-url",
        envvar="KEEL_GATEWAY_URL",
        default=None,
        help=f"gateway root URL [env KEEL_GATEWAY_URL; default: the local `keel up`'s, else {DEFAULT_URL}]",
    )(fn)


def gateway_client(url: str | None, key: str | None) -> GatewayClient:
    resolved = gateway_url(url)
    return GatewayClient(resolved, api_key(key, resolved))


def gateway_error(exc: GatewayError) -> None:
    err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
    if exc.status == 429 and exc.retry_after:
        err.print(f"[dim]retry after {escape(exc.retry_after)} s[/dim]")


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
@click.option("--gateway-port", default=8080, show_default=True, help="the gateway's HTTP port")
@click.option("--training-port", default=50053, show_default=True, help="the training API's gRPC port")
@click.option(
    "--inference/--no-inference",
    default=True,
    show_default=True,
    help="serve SmolLM2 with Ray Serve (local mode, tensor_parallel_size=1)",
)
@click.option(
    "--gateway/--no-gateway",
    default=True,
    show_default=True,
    help="run the OpenAI-compatible gateway (API keys, rate limits, guardrails)",
)
@click.option(
    "--training/--no-training",
    default=True,
    show_default=True,
    help="run the fine-tuning job API and one CPU training worker (Celery, queue train.cpu)",
)
def up(
    data_dir: Path | None,
    registry_port: int,
    inference_port: int,
    gateway_port: int,
    training_port: int,
    inference: bool,
    gateway: bool,
    training: bool,
) -> None:
    """Run the whole platform locally until Ctrl-C (or SIGTERM)."""

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the platform exactly like Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    platform = LocalPlatform(
        data_dir,
        registry_port=registry_port,
        inference=inference,
        inference_port=inference_port,
        gateway=gateway,
        gateway_port=gateway_port,
        training=training,
        training_port=training_port,
    )
    died = None
    parts = "embedded Valkey, registry"
    parts += ", inference (Ray Serve; the first start converts the model)" if inference else ""
    parts += ", training API + 1 CPU worker" if training else ""
    parts += ", gateway" if gateway else ""
    try:
        with console.status(f"starting Keel ({parts}) ..."):
            try:
                state = platform.start()
            except Exception as exc:
                err.print(f"[red]failed to start:[/red] {exc}")
                sys.exit(1)
        show_components(state, check=True)
        if gateway:
            show_gateway_usage(platform, inference, training)
        console.print(f"data in [bold]{state.data_dir}[/bold]; press Ctrl-C to stop")
        died = platform.wait()
        err.print(f"[red]{died} exited unexpectedly[/red]; see the logs in {state.data_dir}/logs")
    except KeyboardInterrupt:
        note = f" (a running fine-tuning job gets up to {LocalPlatform.GRACE['training-worker']:.0f} s)"
        console.print("stopping ..." + (note if training else ""), highlight=False)
    finally:
        platform.stop()
    console.print("stopped")
    sys.exit(1 if died else 0)


def show_gateway_usage(platform: LocalPlatform, inference: bool, training: bool = False) -> None:
    url = f"{platform.gateway_url}/v1"
    key = platform.admin_key
    note = "" if inference else " [yellow](no inference: chat requests fail until it runs)[/yellow]"
    lines = [
        f"gateway   [bold]{url}[/bold]  (OpenAI-compatible){note}",
        f"admin key [bold]{key}[/bold]",
        "          tenant keel, scopes admin,inference,training; "
        f"kept in {admin_key_path(platform.data_dir)}",
        "use it:",
        f"  export OPENAI_BASE_URL={url} OPENAI_API_KEY={key}",
        '  keel chat -m "Hello!"                                  # or any OpenAI client',
        "  keel keys create --tenant acme --scopes inference --name my-app",
    ]
    if training:
        lines.append(
            "  keel jobs create --file data.jsonl --follow            # LoRA fine-tuning on the CPU worker"
        )
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def _readiness(http: str) -> str:
    """``ready``, or why not, from a service's /readyz (keel_common's and the gateway's shapes)."""
    try:
        with urllib.request.urlopen(f"{http}/readyz", timeout=2):
            return "ready"
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            return f"not ready (HTTP {exc.code})"
        if "reasons" in body:
            return str(body["reasons"])
        failing = {k: v for k, v in (body.get("checks") or {}).items() if v != "ok"}
        return "not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items())
    except OSError as exc:
        return f"unreachable: {exc}"


def component_health(comp: Any) -> tuple[str, str]:
    """(status, detail) for one component of a running platform. An HTTP-only service (the
    gateway) is SERVING when /readyz passes, LIVE when only /livez does."""
    if comp.http and not comp.grpc:
        try:
            live = httpx.get(f"{comp.http}/livez", timeout=2, trust_env=False)
        except httpx.HTTPError as exc:
            return "UNREACHABLE", f"{type(exc).__name__}: {exc}"
        if live.status_code != 200:
            return "UNREACHABLE", f"/livez answered {live.status_code}"
        detail = _readiness(comp.http)
        return ("SERVING" if detail == "ready" else "LIVE"), detail
    if comp.grpc:
        with channel(comp.grpc) as ch:
            status = health_status(ch)
        return status, _readiness(comp.http) if comp.http else ""
    if comp.url:
        import redis

        try:
            redis.Redis.from_url(comp.url, socket_connect_timeout=2).ping()
            return "SERVING", ""
        except redis.RedisError as exc:
            return "UNREACHABLE", str(exc)
    return "UNKNOWN", ""


def address(comp: Any) -> str:
    if comp.name == "gateway":
        return f"{comp.http}/v1"
    if comp.queues:  # a Celery worker: it listens on queues, not on a port
        return f"queue {comp.queues}"
    return str(comp.grpc or comp.url)


def show_components(state: PlatformState, check: bool) -> bool:
    table = Table(title="Keel components")
    for col in ("component", "status", "address", "metrics / health", "log"):
        table.add_column(col)
    healthy = True
    for comp in state.components.values():
        status, detail = component_health(comp) if check else ("-", "")
        # LIVE: the process serves but a dependency is missing; that dependency has its own row
        # (or was left out on purpose, as with --no-inference).
        healthy &= status in ("SERVING", "LIVE")
        colour = {"SERVING": "green", "LIVE": "yellow"}.get(status, "red")
        table.add_row(
            comp.name,
            f"[{colour}]{status}[/{colour}] {escape(detail)}",
            address(comp),
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
    healthy = show_components(state, check=True)
    if "gateway" in state.components:
        console.print(
            f"gateway admin key in {admin_key_path(Path(state.data_dir))}; "
            "`keel chat`, `keel keys` and `keel jobs` use it",
            soft_wrap=True,
            highlight=False,
        )
    sys.exit(0 if healthy else 1)


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


# --- API keys (through the gateway's admin API) ---------------------------------------------
@main.group()
def keys() -> None:
    """Create, list and revoke gateway API keys (needs a key with the admin scope)."""


def _ts(value: Any) -> str:
    return datetime.fromtimestamp(int(value), UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


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
@handles_errors
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
@handles_errors
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
            _ts(k.get("created_at")),
            f"[red]{_ts(k['revoked_at'])}[/red]" if k.get("revoked_at") else "",
        )
    console.print(table)


@keys.command("revoke")
@click.argument("key_id")
@gateway_options
@handles_errors
def keys_revoke(key_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """Revoke KEY_ID; every gateway replica refuses it within a second."""
    with gateway_client(gateway_url, api_key) as gw:
        rec = gw.revoke_key(key_id)
    console.print(f"revoked {rec['id']} (tenant {rec['tenant']})", highlight=False)


# --- chat -------------------------------------------------------------------------------------
def _summary(result: ChatResult) -> str:
    usage = result.usage
    tokens = (
        f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tokens" if usage else "tokens ?"
    )
    finish = result.finish_reason or "?"
    if finish == "content_filter":
        finish += " (cut by a guardrail)"
    parts = (escape(result.request_id), escape(result.model), tokens, f"finish {escape(finish)}")
    return f"[dim]{' · '.join(parts)}[/dim]"


@main.command()
@click.option("--model", default=None, help="default: the first base model the gateway lists")
@click.option("--system", "system_prompt", default=None, help="a system message to start with")
@click.option("-m", "--message", default=None, help="ask this once and exit (default: interactive)")
@click.option("--stream/--no-stream", default=True, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None)
@click.option("--temperature", type=click.FloatRange(0, 2), default=None)
@gateway_options
@handles_errors
def chat(
    model: str | None,
    system_prompt: str | None,
    message: str | None,
    stream: bool,
    max_tokens: int | None,
    temperature: float | None,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Chat through the gateway: one question with -m, else a conversation (Ctrl-D or /exit ends it)."""
    history: list[dict[str, str]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    with gateway_client(gateway_url, api_key) as gw:
        if not model:
            listed = gw.models()
            if not listed:
                raise GatewayError("the gateway lists no models for this key; pass --model")
            model = str(listed[0]["id"])

        def turn(text: str) -> ChatResult:
            history.append({"role": "user", "content": text})
            shown: list[str] = []

            def show(piece: str) -> None:
                shown.append(piece)
                click.echo(piece, nl=False)
                sys.stdout.flush()

            try:
                result = gw.chat(
                    model,
                    history,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stream=stream,
                    on_text=show,
                )
            except BaseException:
                history.pop()  # a refused or interrupted turn is not part of the conversation
                raise
            finally:
                if shown:
                    click.echo()
            history.append({"role": "assistant", "content": result.text})
            console.print(_summary(result), highlight=False)
            return result

        if message is not None:
            turn(message)
            return
        console.print(
            f"[dim]chatting with {escape(model)} at {escape(gw.base_url)}; /exit or Ctrl-D ends[/dim]"
        )
        while True:
            try:
                line = input("> ")
            except (EOFError, KeyboardInterrupt):
                click.echo()
                return
            text = line.strip()
            if text in ("/exit", "/quit"):
                return
            if not text:
                continue
            try:
                turn(text)
            except GatewayError as exc:
                gateway_error(exc)
            except KeyboardInterrupt:
                err.print("[dim]interrupted[/dim]")


# --- fine-tuning jobs -------------------------------------------------------------------------
FINAL = ("succeeded", "failed", "cancelled")
BASE_MODEL = "smollm2-135m-instruct"


@main.group()
def jobs() -> None:
    """Fine-tune: upload a JSONL file, create, follow, list and cancel jobs (a key with the
    training scope; `keel up`'s admin key has it)."""


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _file_lines(message: str) -> list[str]:
    """The faults in a refused training file, one per line ("line 3: is not valid JSON")."""
    head, sep, rest = message.partition(": ")
    if not sep or head != "invalid training file":
        return [message]
    return re.split(r"; (?=line \d+: |… and \d+ more)", rest)


def _upload(gw: GatewayClient, path: Path, what: str) -> dict[str, Any]:
    try:
        f = gw.upload_file(path)
    except GatewayError as exc:
        if exc.param not in ("file", "training_file") and exc.code != "invalid_training_file":
            raise
        head = f"[red]error:[/red] {escape(str(path))} is not a valid {what} file:"
        err.print(head, highlight=False, soft_wrap=True)
        for line in _file_lines(exc.message):
            err.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    examples = (f.get("keel") or {}).get("examples")
    console.print(
        f"uploaded {escape(path.name)} as [bold]{f['id']}[/bold] "
        f"({examples} examples, {_size(int(f.get('bytes') or 0))})",
        highlight=False,
    )
    return f


def _value(text: str) -> Any:
    """A --hp value: JSON when it parses (numbers, lists, booleans), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _progress_of(job: dict[str, Any]) -> dict[str, Any]:
    return dict((job.get("keel") or {}).get("progress") or {})


def _final_line(job: dict[str, Any]) -> tuple[str, bool]:
    """What became of a job, and whether that is a success."""
    status, jid = job["status"], job["id"]
    took = ""
    if job.get("finished_at") and job.get("created_at"):
        took = f" in {int(job['finished_at']) - int(job['created_at'])} s"
    if status == "succeeded":
        extra = job.get("keel") or {}
        registry = f" (registry version {extra['registry_version']})" if extra.get("registry_version") else ""
        tokens = f", {job['trained_tokens']} tokens trained" if job.get("trained_tokens") else ""
        return (
            f"[green]job {jid} succeeded[/green]{took}{escape(tokens)}\n"
            f"fine-tuned model [bold]{escape(job.get('fine_tuned_model') or '?')}[/bold]{escape(registry)}",
            True,
        )
    if status == "failed":
        error = job.get("error") or {}
        where = f" (param {error['param']})" if error.get("param") else ""
        code = f"{error['code']}: " if error.get("code") else ""
        why = escape(f"{code}{error.get('message') or 'no reason given'}{where}")
        return f"[red]job {jid} failed[/red]{took}: {why}", False
    if status == "cancelled":
        why = (job.get("keel") or {}).get("status_message") or ""
        return f"[yellow]job {jid} cancelled[/yellow]{took}" + (f": {escape(why)}" if why else ""), False
    return f"job {jid} is {escape(status)}", False


class JobView:
    """A job's events as they arrive: a progress bar with step/total, loss and tokens/s (rich's
    live bar on a terminal, a carriage-return bar otherwise), with status changes, checkpoints,
    evaluations and the job's log lines printed above it."""

    def __init__(self, job_id: str, live: bool) -> None:
        self.job_id = job_id
        self.live = live
        self.status = "queued"
        self.step = 0
        self.total = 0
        self.stats = ""
        self._drawn = False  # the plain bar is on the current line
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )

    def __enter__(self) -> JobView:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task(self.status, total=None, stats="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._drawn:
            click.echo()
            self._drawn = False

    def line(self, text: str) -> None:
        """A line above the bar (rich markup)."""
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
            return
        if self._drawn:
            click.echo("\r" + " " * self._width() + "\r", nl=False)
            self._drawn = False
        console.print(text, highlight=False, soft_wrap=True)
        if self.total:
            self._draw()

    def _width(self) -> int:
        return len(self._bar()) + 2

    def _bar(self) -> str:
        width = 30
        done = int(width * self.step / self.total) if self.total else 0
        bar = "#" * done + "-" * (width - done)
        return f"{self.status:9} [{bar}] {self.step}/{self.total} steps  {self.stats}".rstrip()

    def _draw(self) -> None:
        click.echo("\r" + self._bar().ljust(self._width()), nl=False)
        sys.stdout.flush()
        self._drawn = True

    def _update(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=self.status,
                completed=self.step,
                total=self.total or None,
                stats=self.stats,
            )
        elif self.total:
            self._draw()

    def event(self, ev: dict[str, Any]) -> None:
        data = ev.get("data") or {}
        stamp = datetime.fromtimestamp(int(ev.get("created_at") or 0), UTC).strftime("%H:%M:%S")
        if ev.get("type") == "metrics" and "train_loss" in data:
            self.step = int(data.get("step") or 0)
            self.total = int(data.get("total_steps") or 0)
            parts = [f"loss {float(data['train_loss']):.4f}"]
            if data.get("tokens_per_second"):
                parts.append(f"{float(data['tokens_per_second']):.0f} tok/s")
            if data.get("epoch") is not None:
                parts.append(f"epoch {float(data['epoch']):.2f}")
            self.stats = "  ".join(parts)
            self._update()
            return
        if "status" in data and ev.get("type") != "metrics":
            self.status = str(data["status"])
            if self._progress is not None:
                self._update()
        colour = {"error": "red", "warn": "yellow"}.get(str(ev.get("level")), "")
        message = escape(str(ev.get("message") or ""))
        self.line(f"[dim]{stamp}[/dim] " + (f"[{colour}]{message}[/{colour}]" if colour else message))


def _event_order(ev: dict[str, Any]) -> tuple[int, int]:
    """Events in the order they happened: by the sequence that ends their id
    (``ftevent-<job>-<n>``), else by time."""
    tail = str(ev.get("id") or "").rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0, int(ev.get("created_at") or 0)


def follow_events(gw: GatewayClient, job_id: str, retries: int = 5) -> Iterator[dict[str, Any]]:
    """The job's events from its first to its end, reconnecting from the last event seen when
    the stream breaks (a gateway restart, a dropped connection)."""
    last: str | None = None
    failures = 0
    while True:
        try:
            for ev in gw.follow_job(job_id, after=last):
                last, failures = ev.get("id") or last, 0
                yield ev
            return
        except GatewayError as exc:
            broke = exc.status in (0, 200) and not (isinstance(exc, GatewayUnreachable) and last is None)
            failures += 1
            if not broke or failures > retries:
                raise
            err.print(f"[dim]event stream interrupted ({escape(exc.message)}); reconnecting ...[/dim]")
            time.sleep(min(2.0, 0.25 * 2**failures))


def follow_job(gw: GatewayClient, job_id: str) -> int:
    """Show the job live until it ends; the exit code: 0 when it succeeded."""
    live = console.is_terminal and not console.is_dumb_terminal
    try:
        with JobView(job_id, live) as view:
            for ev in follow_events(gw, job_id):
                view.event(ev)
    except KeyboardInterrupt:
        err.print(
            f"stopped following {job_id}; the job goes on: `keel jobs events {job_id} --follow` "
            f"resumes, `keel jobs cancel {job_id}` stops it",
            highlight=False,
            soft_wrap=True,
        )
        return 130
    job = gw.get_job(job_id)
    text, ok = _final_line(job)
    if job["status"] not in FINAL:
        text += f"; the event stream ended early, follow again with `keel jobs events {job_id} --follow`"
    console.print(text, highlight=False, soft_wrap=True)
    if ok:
        model = job.get("fine_tuned_model") or ""
        console.print(
            f'chat with it: keel chat --model {escape(model)} -m "..."', highlight=False, soft_wrap=True
        )
    return 0 if ok else 1


@jobs.command("create")
@click.option(
    "--file",
    "-f",
    "training_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSONL, one {"messages": [...]} chat example a line',
)
@click.option("--validation-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--model", "-m", default=BASE_MODEL, show_default=True, help="the base model")
@click.option("--suffix", default=None, help="part of the fine-tuned model's name")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="n_epochs")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--lr-multiplier", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--lora-r", type=click.IntRange(min=1), default=None, help="LoRA rank")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="stop after this many steps")
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option(
    "--hp",
    "extra_hp",
    multiple=True,
    metavar="KEY=VALUE",
    help="any other hyperparameter (lora_alpha=32, save_steps=50, "
    'lora_target_modules=\'["q_proj","v_proj"]\'); repeatable',
)
@click.option(
    "--idempotency-key", default=None, help="a retried create with the same key makes no second job"
)
@click.option("--follow", is_flag=True, help="show the job live until it ends; exit 1 unless it succeeds")
@click.option("--json", "as_json", is_flag=True, help="print the created job as JSON")
@gateway_options
@handles_errors
def jobs_create(
    training_file: Path,
    validation_file: Path | None,
    model: str,
    suffix: str | None,
    epochs: int | None,
    batch_size: int | None,
    lr_multiplier: float | None,
    lora_r: int | None,
    max_steps: int | None,
    seed: int | None,
    extra_hp: tuple[str, ...],
    idempotency_key: str | None,
    follow: bool,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Upload --file (checked line by line) and create a LoRA fine-tuning job on it."""
    hp: dict[str, Any] = {}
    for item in extra_hp:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--hp")
        hp[key.strip()] = _value(value)
    named = {
        "n_epochs": epochs,
        "batch_size": batch_size,
        "learning_rate_multiplier": lr_multiplier,
        "lora_r": lora_r,
        "max_steps": max_steps,
    }
    hp.update({k: v for k, v in named.items() if v is not None})
    with gateway_client(gateway_url, api_key) as gw:
        train = _upload(gw, training_file, "training")
        uploaded = [train["id"]]
        try:
            valid = _upload(gw, validation_file, "validation") if validation_file else None
            if valid:
                uploaded.append(valid["id"])
            job = gw.create_job(
                model,
                train["id"],
                validation_file=valid["id"] if valid else None,
                suffix=suffix,
                hyperparameters=hp or None,
                idempotency_key=idempotency_key,
                seed=seed,
            )
        except (GatewayError, SystemExit) as exc:
            for file_id in uploaded:  # no job uses them: do not leave them behind
                with contextlib.suppress(GatewayError):
                    gw.delete_file(file_id)
            if isinstance(exc, GatewayError) and exc.param and exc.param not in exc.message:
                exc.message = f"{exc.param}: {exc.message}"
            raise
        if as_json:
            click.echo(json.dumps(job))
        else:
            chosen = job.get("hyperparameters") or {}
            steps = _progress_of(job).get("total_steps")
            console.print(
                f"created job [bold]{job['id']}[/bold] ({job['status']}): {escape(job['model'])}, "
                f"{chosen.get('n_epochs')} epoch(s), batch size {chosen.get('batch_size')}"
                + (f", {steps} steps" if steps else ""),
                highlight=False,
            )
        if not follow:
            if not as_json:
                console.print(f"follow it: keel jobs events {job['id']} --follow", highlight=False)
            return
        code = follow_job(gw, job["id"])
    sys.exit(code)


@jobs.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@gateway_options
@handles_errors
def jobs_list(limit: int, gateway_url: str | None, api_key: str | None) -> None:
    """The tenant's fine-tuning jobs, newest first."""
    with gateway_client(gateway_url, api_key) as gw:
        found = gw.list_jobs(limit)
    table = Table(title="fine-tuning jobs")
    table.add_column("id", no_wrap=True, min_width=max((len(j["id"]) for j in found), default=2))
    for col in ("status", "model", "progress"):
        table.add_column(col)
    table.add_column("fine-tuned model", overflow="fold")
    for col in ("created", "finished"):
        table.add_column(col)
    colours = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
    for j in found:
        p = _progress_of(j)
        colour = colours.get(j["status"], "")
        table.add_row(
            j["id"],
            f"[{colour}]{j['status']}[/{colour}]" if colour else j["status"],
            escape(j["model"]),
            f"{p.get('step', 0)}/{p.get('total_steps', 0)}",
            escape(j.get("fine_tuned_model") or ""),
            _ts(j.get("created_at")),
            _ts(j.get("finished_at")),
        )
    console.print(table)


@jobs.command("get")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="the whole job object as JSON")
@gateway_options
@handles_errors
def jobs_get(job_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """One job: status, progress, hyperparameters, result or error."""
    with gateway_client(gateway_url, api_key) as gw:
        j = gw.get_job(job_id)
    if as_json:
        click.echo(json.dumps(j))
        return
    extra = j.get("keel") or {}
    p = _progress_of(j)
    hp = {**(j.get("hyperparameters") or {}), **(extra.get("hyperparameters") or {})}
    error = j.get("error") or {}
    table = Table(title=f"fine-tuning job {j['id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("status", j["status"] + (f" — {extra['status_message']}" if extra.get("status_message") else "")),
        ("model", j["model"]),
        ("training file", j.get("training_file") or "-"),
        ("validation file", j.get("validation_file") or "-"),
        (
            "progress",
            f"step {p.get('step', 0)}/{p.get('total_steps', 0)}, epoch {p.get('epoch', 0)}, "
            f"{p.get('trained_tokens', 0)} tokens",
        ),
        ("metrics", "\n".join(f"{k} = {v:.6g}" for k, v in sorted((p.get("metrics") or {}).items())) or "-"),
        ("hyperparameters", "\n".join(f"{k} = {v}" for k, v in hp.items()) or "-"),
        ("fine-tuned model", j.get("fine_tuned_model") or "-"),
        ("registry version", extra.get("registry_version") or "-"),
        ("error", f"{error.get('code')}: {error.get('message')}" if error else "-"),
        ("attempt", str(extra.get("attempt", "-"))),
        ("created", _ts(j.get("created_at"))),
        ("finished", _ts(j.get("finished_at"))),
    ]
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    console.print(table)


@jobs.command("cancel")
@click.argument("job_id")
@gateway_options
@handles_errors
def jobs_cancel(job_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """Cancel JOB_ID: a queued job never runs, a running one stops at its next step."""
    with gateway_client(gateway_url, api_key) as gw:
        j = gw.cancel_job(job_id)
    if j["status"] == "cancelled":
        console.print(f"cancelled {j['id']}", highlight=False)
    else:
        console.print(
            f"cancel requested for {j['id']} ({j['status']}); it stops at its next step", highlight=False
        )


@jobs.command("events")
@click.argument("job_id")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--follow", is_flag=True, help="every event, then live ones until the job ends (progress bar)")
@gateway_options
@handles_errors
def jobs_events(job_id: str, limit: int, follow: bool, gateway_url: str | None, api_key: str | None) -> None:
    """The job's latest events, oldest of them first; --follow shows it live to the end (exit 1
    unless it succeeds)."""
    with gateway_client(gateway_url, api_key) as gw:
        if follow:
            code = follow_job(gw, job_id)
        else:
            for ev in sorted(gw.job_events(job_id, limit), key=_event_order):
                stamp = _ts(ev.get("created_at"))
                level = str(ev.get("level") or "info")
                colour = {"error": "red", "warn": "yellow"}.get(level, "dim")
                console.print(
                    f"[dim]{stamp}[/dim] [{colour}]{level:5}[/{colour}] {escape(str(ev.get('message')))}",
                    highlight=False,
                    soft_wrap=True,
                )
            return
    sys.exit(code)


@jobs.command("checkpoints")
@click.argument("job_id")
@gateway_options
@handles_errors
def jobs_checkpoints(job_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """The job's checkpoints, newest first (the finished adapter itself is the registry version)."""
    with gateway_client(gateway_url, api_key) as gw:
        found = gw.job_checkpoints(job_id)
    table = Table(title=f"checkpoints of {job_id}")
    table.add_column("step")
    table.add_column("id", no_wrap=True, min_width=max((len(c["id"]) for c in found), default=2))
    for col in ("metrics", "created"):
        table.add_column(col)
    table.add_column("checkpoint model", overflow="fold")
    for c in found:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted((c.get("metrics") or {}).items()))
        table.add_row(
            str(c.get("step_number")),
            c["id"],
            metrics,
            _ts(c.get("created_at")),
            escape(c.get("fine_tuned_model_checkpoint") or ""),
        )
    console.print(table)


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
