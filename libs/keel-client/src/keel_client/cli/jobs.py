"""`keel jobs`: upload a JSONL file (or name a dataset version built by `keel datasets`) and
fine-tune on it, then follow, list, inspect and cancel jobs through the gateway's
OpenAI-compatible fine-tuning API."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_client, gateway_options
from keel_client.cli.progress import event_order, follow_job, progress_of
from keel_client.cli.render import console, err, size, ts
from keel_client.gateway import GatewayClient, GatewayError
from keel_common.contract import DEFAULT_BASE_MODEL


@click.group()
def jobs() -> None:
    """Fine-tune: upload a JSONL file, create, follow, list and cancel jobs (a key with the
    training scope; `keel up`'s admin key has it)."""


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
        f"({examples} examples, {size(int(f.get('bytes') or 0))})",
        highlight=False,
    )
    return f


def _value(text: str) -> Any:
    """A --hp value: JSON when it parses (numbers, lists, booleans), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


_DATASET_REF = re.compile(r"^ds_[0-9a-z]+(@\d+)?$")


def dataset_ref(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not _DATASET_REF.match(value):
        raise click.BadParameter(f"{value!r} is not a dataset version: ds_…@N (`keel datasets versions`)")
    return value


@jobs.command("create")
@click.option(
    "--file",
    "-f",
    "training_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSONL, one {"messages": [...]} chat example a line',
)
@click.option(
    "--dataset",
    default=None,
    callback=dataset_ref,
    help="instead of --file: a dataset version ds_…@N (ds_… alone: its latest ready one), not uploaded",
)
@click.option(
    "--validation-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSONL like --file; with --dataset it replaces the dataset's own validation split",
)
@click.option("--model", "-m", default=DEFAULT_BASE_MODEL, show_default=True, help="the base model")
@click.option("--suffix", default=None, help="part of the fine-tuned model's name")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="n_epochs")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--lr-multiplier", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--lora-r", type=click.IntRange(min=1), default=None, help="LoRA rank")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="stop after this many steps")
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option(
    "--method",
    type=click.Choice(["supervised", "dpo"]),
    default="supervised",
    show_default=True,
    help="supervised (chat examples) or dpo (preference pairs)",
)
@click.option("--beta", type=click.FloatRange(min=0, min_open=True), default=None, help="DPO's beta")
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
@click.option(
    "--auto-promote",
    "promote_alias",
    default=None,
    metavar="ALIAS",
    help="when the job succeeds, promote its version to ALIAS through the evaluation gate (its "
    "dataset's questions; a job on --file has none)",
)
@click.option(
    "--gate-metric", default=None, help="with --auto-promote: the metric compared [default: eval_f1]"
)
@click.option(
    "--gate-margin", type=click.FloatRange(0, 1), default=None, help="with --auto-promote [default: 0]"
)
@click.option(
    "--gate-min-examples",
    type=click.IntRange(min=1),
    default=None,
    help="with --auto-promote: fewer questions refuse [default: 10]",
)
@click.option("--follow", is_flag=True, help="show the job live until it ends; exit 1 unless it succeeds")
@click.option("--json", "as_json", is_flag=True, help="print the created job as JSON")
@gateway_options
def jobs_create(
    training_file: Path | None,
    dataset: str | None,
    validation_file: Path | None,
    model: str,
    suffix: str | None,
    epochs: int | None,
    batch_size: int | None,
    lr_multiplier: float | None,
    lora_r: int | None,
    max_steps: int | None,
    seed: int | None,
    method: str,
    beta: float | None,
    extra_hp: tuple[str, ...],
    idempotency_key: str | None,
    promote_alias: str | None,
    gate_metric: str | None,
    gate_margin: float | None,
    gate_min_examples: int | None,
    follow: bool,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Create a LoRA fine-tuning job on --file (uploaded and checked line by line) or on a
    --dataset version (exactly one of them)."""
    if (training_file is None) == (dataset is None):
        raise click.UsageError("give exactly one of --file and --dataset")
    gate = {"metric": gate_metric, "margin": gate_margin, "min_examples": gate_min_examples}
    auto_promote: dict[str, Any] | None = None
    if promote_alias is not None:
        auto_promote = {"alias": promote_alias, **{k: v for k, v in gate.items() if v is not None}}
    elif any(v is not None for v in gate.values()):
        raise click.UsageError("--gate-metric, --gate-margin and --gate-min-examples go with --auto-promote")
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
    if beta is not None and method != "dpo":
        raise click.UsageError("--beta is a DPO hyperparameter: add --method dpo")
    chosen: dict[str, Any] | None = None
    if method == "dpo":  # OpenAI's shape: the hyperparameters go under the method
        chosen = {
            "type": "dpo",
            "dpo": {"hyperparameters": hp | ({"beta": beta} if beta is not None else {})},
        }
        hp = {}
    with gateway_client(gateway_url, api_key) as gw:
        if training_file is not None:
            train_id = _upload(gw, training_file, "training")["id"]
            uploaded = [train_id]
        else:
            train_id, uploaded = str(dataset), []
            if not as_json:
                console.print(f"training on dataset {escape(train_id)}", highlight=False)
        try:
            valid = _upload(gw, validation_file, "validation") if validation_file else None
            if valid:
                uploaded.append(valid["id"])
            job = gw.create_job(
                model,
                train_id,
                validation_file=valid["id"] if valid else None,
                suffix=suffix,
                hyperparameters=hp or None,
                idempotency_key=idempotency_key,
                seed=seed,
                method=chosen,
                auto_promote=auto_promote,
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
            steps = progress_of(job).get("total_steps")
            console.print(
                f"created job [bold]{job['id']}[/bold] ({job['status']}): {escape(job['model'])}, "
                f"{chosen.get('n_epochs')} epoch(s), batch size {chosen.get('batch_size')}"
                + (f", {steps} steps" if steps else ""),
                highlight=False,
            )
            promotion = (job.get("keel") or {}).get("auto_promote")
            if promotion:
                console.print(
                    f"when it succeeds, it is promoted to {escape(promotion['alias'])} through the gate "
                    f"({escape(promotion['metric'])}, margin {promotion['margin']:g}, at least "
                    f"{promotion['min_examples']} questions)",
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
        p = progress_of(j)
        colour = colours.get(j["status"], "")
        table.add_row(
            j["id"],
            f"[{colour}]{j['status']}[/{colour}]" if colour else j["status"],
            escape(j["model"]),
            f"{p.get('step', 0)}/{p.get('total_steps', 0)}",
            escape(j.get("fine_tuned_model") or ""),
            ts(j.get("created_at")),
            ts(j.get("finished_at")),
        )
    console.print(table)


@jobs.command("get")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="the whole job object as JSON")
@gateway_options
def jobs_get(job_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """One job: status, progress, hyperparameters, result or error."""
    with gateway_client(gateway_url, api_key) as gw:
        j = gw.get_job(job_id)
    if as_json:
        click.echo(json.dumps(j))
        return
    extra = j.get("keel") or {}
    p = progress_of(j)
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
        ("auto promote", _auto_promote(extra)),
        ("error", f"{error.get('code')}: {error.get('message')}" if error else "-"),
        ("attempt", str(extra.get("attempt", "-"))),
        ("created", ts(j.get("created_at"))),
        ("finished", ts(j.get("finished_at"))),
    ]
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    console.print(table)


def _auto_promote(extra: dict[str, Any]) -> str:
    gate = extra.get("auto_promote")
    if not gate:
        return "-"
    text = (
        f"to {gate['alias']} through the gate: {gate['metric']}, margin {gate['margin']:g}, "
        f"at least {gate['min_examples']} questions"
    )
    ev = extra.get("promotion_evaluation_id")
    return text + (f"\nevaluation {ev} (keel eval show {ev})" if ev else "")


@jobs.command("cancel")
@click.argument("job_id")
@gateway_options
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
def jobs_events(job_id: str, limit: int, follow: bool, gateway_url: str | None, api_key: str | None) -> None:
    """The job's latest events, oldest of them first; --follow shows it live to the end (exit 1
    unless it succeeds)."""
    with gateway_client(gateway_url, api_key) as gw:
        if follow:
            code = follow_job(gw, job_id)
        else:
            for ev in sorted(gw.job_events(job_id, limit), key=event_order):
                stamp = ts(ev.get("created_at"))
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
            ts(c.get("created_at")),
            escape(c.get("fine_tuned_model_checkpoint") or ""),
        )
    console.print(table)
