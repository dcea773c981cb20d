"""`keel feedback`: rate or correct an answer by its completion id, work through the stored
answers (unrated first, say), and see quality per model version."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_options
from keel_client.cli.live import training_client
from keel_client.cli.render import console, ts
from keel_client.feedback import score_of

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@click.group()
def feedback() -> None:
    """Ratings and corrections on answers the gateway served, and quality per model version."""


def _since(value: str | None) -> int | None:
    """'24h', '7d', '30m' ago, or Unix seconds."""
    if value is None:
        return None
    m = _DURATION.fullmatch(value)
    if m:
        return int(time.time()) - int(m.group(1)) * _UNIT[m.group(2)]
    if value.isdigit():
        return int(value)
    raise click.BadParameter("a duration such as 30m, 24h or 7d, or Unix seconds", param_hint="--since")


def _rating(value: str | None) -> tuple[float | None, tuple[float, float]]:
    """'4/5' (on 1..5), '7/10' (on 1..10) or '0.8' (on 0..1)."""
    if value is None:
        return None, (1, 5)
    try:
        if "/" in value:
            v, top = value.split("/", 1)
            return float(v), (1, float(top))
        return float(value), (0, 1)
    except ValueError:
        raise click.BadParameter("like 4/5, 7/10 or 0.8", param_hint="--rating") from None


@feedback.command("submit")
@click.argument("completion_id")
@click.option("--up", "thumbs", flag_value="up", default=None, help="thumbs up")
@click.option("--down", "thumbs", flag_value="down", help="thumbs down")
@click.option("--rating", default=None, help="a rating with its scale: 4/5, 7/10, or 0.8 on 0..1")
@click.option("--category", default=None, help="a label, e.g. wrong_facts")
@click.option("--text", default=None, help="free text about the answer")
@click.option("--correction", default=None, help="the answer that was wanted")
@click.option("--correction-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--comment", default=None)
@click.option(
    "--source", type=click.Choice(["end_user", "annotator", "judge"]), default="end_user", show_default=True
)
@click.option("--rater", default=None, help="who rated (default: the API key)")
@click.option("--client-id", default=None, help="an idempotency key: sending it again changes nothing")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def submit(
    completion_id: str,
    thumbs: str | None,
    rating: str | None,
    category: str | None,
    text: str | None,
    correction: str | None,
    correction_file: Path | None,
    comment: str | None,
    source: str,
    rater: str | None,
    client_id: str | None,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Rate and/or correct the answer COMPLETION_ID (the `id` of a chat completion)."""
    value, scale = _rating(rating)
    try:
        score_of(thumbs, value, scale, category, text)  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if correction_file is not None:
        correction = correction_file.read_text()
    with training_client(gateway_url, api_key) as gw:
        # Choices click has checked already: the SDK's Literal types hold.
        fields: dict[str, Any] = {
            "thumbs": thumbs,
            "rating": value,
            "scale": scale,
            "category": category,
            "text": text,
            "correction": correction,
            "comment": comment,
            "source": source,
            "rater": rater,
            "client_id": client_id,
        }
        fb = gw.submit_feedback(completion_id, **fields)
    if as_json:
        console.print_json(json.dumps(fb))
        return
    state = "recorded" if fb["created"] else "already recorded (same client id)"
    wait = "" if fb["interaction_received"] else "; the answer itself is still on its way to the store"
    console.print(f"{fb['id']} {state} on {completion_id}{wait}", highlight=False)


def _summary(fb: list[dict[str, Any]]) -> str:
    parts = []
    for f in fb:
        s = f.get("score") or {}
        if s.get("type") == "thumbs":
            parts.append("👍" if s["value"] == "up" else "👎")
        elif s.get("type") == "rating":
            parts.append(f"{s['value']:g}/{s['scale']['max']:g}")
        elif s.get("type"):
            parts.append(str(s["value"])[:20])
        if f.get("correction"):
            parts.append("corrected")
    return " ".join(parts)


@feedback.command("list")
@click.option("--model", default=None, help="registry model name")
@click.option("--version", type=click.IntRange(min=1), default=None)
@click.option("--rated", "rated", flag_value="rated", default=None, help="only rated answers")
@click.option("--unrated", "rated", flag_value="unrated", help="only answers without feedback")
@click.option("--corrected", "rated", flag_value="corrected", help="only answers with a correction")
@click.option("--thumbs", type=click.Choice(["up", "down"]), default=None)
@click.option(
    "--verdict", type=click.Choice(["blocked", "flagged", "clean"]), default=None, help="guardrails"
)
@click.option("--since", default=None, help="30m, 24h, 7d or Unix seconds")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def list_(
    model: str | None,
    version: int | None,
    rated: str | None,
    thumbs: str | None,
    verdict: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Stored answers, newest first (a key with the training scope)."""
    with training_client(gateway_url, api_key) as gw:
        filters: dict[str, Any] = {
            "model": model,
            "version": version,
            "rated": rated,
            "thumbs": thumbs,
            "verdict": verdict,
            "since": _since(since),
            "limit": limit,
        }
        rows = gw.list_interactions(**filters)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} interaction(s)")
    for col in ("id", "when", "model", "question", "answer", "feedback"):
        table.add_column(col, overflow="fold" if col == "id" else "ellipsis", no_wrap=col != "id")
    for r in rows:
        question = next((m["content"] for m in reversed(r.get("messages") or []) if m["role"] == "user"), "")
        model_name = r.get("model") or ""
        if r.get("model_version"):
            model_name = f"{r['registry_model']}/{r['model_version']}"
        table.add_row(
            r["id"],
            ts(r.get("created_at")),
            escape(model_name),
            escape((question or r.get("prompt") or "")[:60]),
            escape((r.get("completion") or "")[:60]),
            _summary(r.get("feedback") or []),
        )
    console.print(table)


@feedback.command("show")
@click.argument("completion_id")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def show(completion_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """One answer with its conversation, guardrail verdicts and every feedback on it."""
    with training_client(gateway_url, api_key) as gw:
        r = gw.get_interaction(completion_id)
    if as_json:
        console.print_json(json.dumps(r))
        return
    if not r["received"]:
        console.print(f"{completion_id}: feedback stored; the answer has not reached the store yet")
    else:
        console.print(f"[bold]{r['id']}[/bold]  {ts(r['created_at'])}  {escape(r['model'])}", highlight=False)
        for m in r.get("messages") or []:
            console.print(f"[dim]{m['role']}:[/dim] {escape(m['content'])}", highlight=False)
        console.print(f"[dim]answer:[/dim] {escape(r.get('completion') or '(not stored)')}", highlight=False)
        for g in r.get("guardrails") or []:
            console.print(
                f"[dim]guardrail[/dim] {g['rail']} {g['stage']}: {g['action']} {g.get('reason') or ''}"
            )
    for f in r["feedback"]:
        line = f"{f['id']} {ts(f['created_at'])} {f['source']} {_summary([f])}"
        if f.get("correction"):
            line += f"\n  correction: {escape(f['correction'])}"
        if f.get("comment"):
            line += f"\n  comment: {escape(f['comment'])}"
        console.print(line, highlight=False)


@feedback.command("export")
@click.option(
    "--kind",
    type=click.Choice(["sft", "dpo", "kto"]),
    required=True,
    help="chat examples, preference pairs (DPO) or labelled answers (KTO)",
)
@click.option("--dataset", required=True, help="a dataset name (created when missing) or ds_… id")
@click.option("--model", default=None, help="only answers of this registry model")
@click.option("--version", type=click.IntRange(min=1), default=None)
@click.option("--since", default=None, help="30m, 24h, 7d or Unix seconds")
@click.option("--min-rating", type=click.FloatRange(0, 1), default=None, help="on 0..1 [0.5: thumbs up]")
@click.option("--min-ratings", type=click.IntRange(min=1), default=None, help="ratings an answer needs [1]")
@click.option("--corrections/--no-corrections", default=None, help="use corrections [yes]")
@click.option(
    "--exclude-dataset", default=None, metavar="ds_…@N", help="leave out this evaluation set's prompts"
)
@click.option("--validation-fraction", type=click.FloatRange(0, 1, max_open=True), default=None)
@click.option("--seed", type=click.IntRange(min=0), default=None)
@click.option("--max-examples", type=click.IntRange(min=1), default=None)
@click.option("--dry-run", is_flag=True, help="count only; register nothing")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def export(
    kind: str,
    dataset: str,
    model: str | None,
    version: int | None,
    since: str | None,
    min_rating: float | None,
    min_ratings: int | None,
    corrections: bool | None,
    exclude_dataset: str | None,
    validation_fraction: float | None,
    seed: int | None,
    max_examples: int | None,
    dry_run: bool,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """The next training set from rated answers, as a dataset version to fine-tune on."""
    options: dict[str, Any] = {
        "model": model,
        "version": version,
        "since": _since(since),
        "min_rating": min_rating,
        "min_ratings": min_ratings,
        "include_corrections": corrections,
        "exclude_dataset": exclude_dataset,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "max_examples": max_examples,
        "dry_run": dry_run,
    }
    with training_client(gateway_url, api_key) as gw:
        done = gw.export_feedback(kind, dataset, **options)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps(done))
        return
    ex = done["examples"]
    skipped = {k: v for k, v in done["counts"].get("skipped", {}).items() if v}
    line = f"{kind} export: {ex['train']} train, {ex['validation']} validation examples"
    line += f" from {done['counts'].get('interactions', 0)} rated answers"
    if skipped:
        line += (
            " (skipped: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(skipped.items())) + ")"
        )
    console.print(line, highlight=False)
    if done["training_file"]:
        method = " --method dpo" if kind == "dpo" else ""
        console.print(
            f"registered as [bold]{done['training_file']}[/bold]; train on it: "
            f"keel jobs create --dataset {done['training_file']}{method}",
            highlight=False,
        )


@feedback.command("stats")
@click.option("--model", default=None)
@click.option("--version", type=click.IntRange(min=1), default=None)
@click.option("--since", default=None, help="30m, 24h, 7d or Unix seconds")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def stats(
    model: str | None,
    version: int | None,
    since: str | None,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Quality per model version: answers, rated, thumbs-up rate, mean rating, corrections, blocks."""
    with training_client(gateway_url, api_key) as gw:
        rows = gw.feedback_stats(model=model, version=version, since=_since(since))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title="quality per model version")
    for col in ("model", "answers", "rated", "👍 rate", "mean rating", "corrected", "blocked", "latency ms"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for q in rows:
        name = f"{q['model']}/{q['version']}" if q.get("model") else q["base_model"] or "(unrouted)"
        table.add_row(
            escape(name),
            str(q["interactions"]),
            str(q["rated"]),
            f"{q['thumbs_up_rate']:.0%}",
            f"{q['mean_rating']:.2f}",
            f"{q['correction_rate']:.0%}",
            f"{q['guardrail_block_rate']:.0%}",
            f"{q['mean_latency_ms']:.0f}",
        )
    console.print(table)


list_.name = "list"
