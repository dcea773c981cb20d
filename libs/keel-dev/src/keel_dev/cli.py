"""`keel up`, `keel status` and `keel demo`: the local platform on this machine."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.render import console, err
from keel_client.state import Component, PlatformState, admin_key_path, default_data_dir
from keel_common.contract import OPERATOR_TENANT
from keel_dev.health import component_health
from keel_dev.local import ADMIN_SCOPES, LocalPlatform
from keel_dev.supervisor import Event, RestartPolicy


@click.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="default: $KEEL_DATA_DIR or ~/.keel"
)
@click.option("--registry-port", default=50051, show_default=True)
@click.option("--inference-port", default=50052, show_default=True)
@click.option("--gateway-port", default=8080, show_default=True, help="the gateway's HTTP port")
@click.option("--training-port", default=50053, show_default=True, help="the training API's gRPC port")
@click.option("--ingestion-port", default=50054, show_default=True, help="the ingestion API's gRPC port")
@click.option("--feedback-port", default=50055, show_default=True, help="the feedback service's gRPC port")
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
@click.option(
    "--ingestion/--no-ingestion",
    default=True,
    show_default=True,
    help="run the ingestion API (documents to datasets) and one build worker (Celery, queue ingest)",
)
@click.option(
    "--feedback/--no-feedback",
    default=True,
    show_default=True,
    help="run the feedback service (stores every interaction, joins ratings and corrections)",
)
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=RestartPolicy.max_restarts,
    show_default=True,
    help=f"restarts of a crashed component within {RestartPolicy.window:.0f} s (backoff "
    f"{RestartPolicy.backoff:g} s, doubling up to {RestartPolicy.max_backoff:g} s) before it stops the "
    "platform; 0: the first crash stops it",
)
def up(
    data_dir: Path | None,
    registry_port: int,
    inference_port: int,
    gateway_port: int,
    training_port: int,
    ingestion_port: int,
    feedback_port: int,
    inference: bool,
    gateway: bool,
    training: bool,
    ingestion: bool,
    feedback: bool,
    max_restarts: int,
) -> None:
    """Run the whole platform locally until Ctrl-C (or SIGTERM); a component that crashes is
    restarted on the same port."""

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
        ingestion=ingestion,
        ingestion_port=ingestion_port,
        feedback=feedback,
        feedback_port=feedback_port,
        restart_policy=RestartPolicy(max_restarts=max_restarts),
    )
    died = None
    parts = "embedded Valkey, registry"
    parts += ", inference (Ray Serve; the first start converts the model)" if inference else ""
    parts += ", ingestion API + 1 build worker" if ingestion else ""
    parts += ", training API + 1 CPU worker" if training else ""
    parts += ", feedback" if feedback else ""
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
            show_gateway_usage(platform, inference, training, ingestion, feedback)
        console.print(f"data in [bold]{state.data_dir}[/bold]; press Ctrl-C to stop")
        died = platform.supervise(show_event)
        if died is not None:
            err.print(f"[red]{escape(died.describe())}[/red]; stopping the platform", highlight=False)
            log = state.components[died.name].log
            err.print(f"--- last lines of {log} ---", highlight=False, soft_wrap=True)
            for line in died.tail:
                err.print(escape(line), highlight=False, soft_wrap=True)
    except KeyboardInterrupt:
        note = f" (a running fine-tuning job gets up to {LocalPlatform.GRACE['training-worker']:.0f} s)"
        console.print("stopping ..." + (note if training else ""), highlight=False)
    finally:
        # A second SIGTERM (a supervisor repeating itself) must not cut the orderly stop short:
        # the children run in their own sessions and would be left behind.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in platform.stop():
            grace = LocalPlatform.GRACE.get(name, 10.0)
            err.print(f"[yellow]{name} did not stop within {grace:.0f} s and was killed[/yellow]")
    console.print("stopped")
    sys.exit(1 if died else 0)


def show_event(event: Event) -> None:
    """A restart as it happens, on stderr (the give-up is shown by the caller)."""
    if event.kind != "gave_up":
        colour = "yellow" if event.kind == "restarting" else "green"
        err.print(f"[{colour}]{escape(event.describe())}[/{colour}]", highlight=False)


def show_gateway_usage(
    platform: LocalPlatform,
    inference: bool,
    training: bool = False,
    ingestion: bool = False,
    feedback: bool = False,
) -> None:
    url = f"{platform.gateway_url}/v1"
    key = platform.admin_key
    note = "" if inference else " [yellow](no inference: chat requests fail until it runs)[/yellow]"
    lines = [
        f"gateway   [bold]{url}[/bold]  (OpenAI-compatible){note}",
        f"admin key [bold]{key}[/bold]",
        f"          tenant {OPERATOR_TENANT}, scopes {ADMIN_SCOPES}; "
        f"kept in {admin_key_path(platform.data_dir)}",
        "use it:",
        f"  export OPENAI_BASE_URL={url} OPENAI_API_KEY={key}",
        '  keel chat -m "Hello!"                                  # or any OpenAI client',
        "  keel keys create --tenant acme --scopes inference --name my-app",
    ]
    if ingestion:
        lines.append("  keel docs upload manual.pdf wiki/                       # documents for datasets")
    if training:
        lines.append(
            "  keel jobs create --file data.jsonl --follow            # LoRA fine-tuning on the CPU worker"
        )
    if feedback:
        lines.append("  keel feedback submit <completion id> --up                 # rate an answer")
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def address(comp: Component) -> str:
    if comp.name == "gateway":
        return f"{comp.http}/v1"
    if comp.queues:  # a Celery worker: it listens on queues, not on a port
        return f"queue {comp.queues}"
    return str(comp.grpc or comp.url)


def restarts(comp: Component) -> str:
    if not comp.restarts:
        return "0"
    return f"{comp.restarts}, last exit {comp.last_exit}"


def show_components(state: PlatformState, check: bool) -> bool:
    table = Table(title="Keel components")
    # The restarts column only once the supervisor has restarted something.
    restarted = any(c.restarts or c.state != "running" for c in state.components.values())
    cols = (
        "component",
        "status",
        *(("restarts",) if restarted else ()),
        "address",
        "metrics / health",
        "log",
    )
    for col in cols:
        table.add_column(col, no_wrap=col == "restarts")
    healthy = True
    for comp in state.components.values():
        if comp.state == "restarting":  # waiting out its backoff: nothing to probe
            status, detail = "RESTARTING", f"after exit {comp.last_exit}"
        else:
            status, detail = component_health(comp) if check else ("-", "")
        # LIVE: the process serves but a dependency is missing; that dependency has its own row
        # (or was left out on purpose, as with --no-inference).
        healthy &= status in ("SERVING", "LIVE")
        colour = {"SERVING": "green", "LIVE": "yellow", "RESTARTING": "yellow"}.get(status, "red")
        table.add_row(
            comp.name,
            f"[{colour}]{status}[/{colour}] {escape(detail)}",
            *((restarts(comp),) if restarted else ()),
            address(comp),
            f"{comp.http}/metrics" if comp.http else "",
            comp.log,
        )
    console.print(table)
    return healthy


@click.command()
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


@click.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None, help="default: a fresh temporary directory"
)
def demo(data_dir: Path | None) -> None:
    """Run Keel's whole loop on this machine: handbook, dataset, fine-tune, gate, guarded chat,
    feedback, retrain."""
    from keel_dev.demo import run_demo

    sys.exit(run_demo(console, data_dir))
