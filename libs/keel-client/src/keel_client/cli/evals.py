"""`keel eval`: evaluation by generation through the gateway (a key with the training scope).
Base models and registry refs answer the same questions of a dataset version; a training worker
scores them (exact match, token F1, embedding similarity, and closed book for questions asked
with a passage). `run` waits and prints one row per model and a few answers; `show` prints one.

The table, the samples, the gate's verdict and the wait are shared with `keel models promote
--gate` (``keel_client.cli.models``)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_client, gateway_options
from keel_client.cli.jobs import dataset_ref
from keel_client.cli.render import console, ts
from keel_client.gateway import GatewayClient

# (column, metric) in the order the table shows them.
COLUMNS = (
    ("EM", "eval_exact_match"),
    ("F1", "eval_f1"),
    ("similarity", "eval_similarity"),
    ("closed-book EM", "closed_book_exact_match"),
    ("closed-book F1", "closed_book_f1"),
    ("closed-book sim.", "closed_book_similarity"),
)
SAMPLES = 3
POLL_S = 1.0


@click.group("eval")
def evals() -> None:
    """Evaluate models by generation on a dataset version's questions (EM, F1, similarity,
    closed book) and compare them."""


def _state(ev: dict[str, Any]) -> str:
    message = str(ev.get("status_message") or "")
    status = str(ev.get("status") or "?")
    return status + (f" — {message}" if message and message != status else "")


def _name(result: dict[str, Any]) -> str:
    model, ref = str(result.get("model") or ""), str(result.get("ref") or "")
    return model if model == ref or not ref else f"{model} ({ref})"


def scores_table(ev: dict[str, Any]) -> Table:
    """One row per model: its scores (blank where the evaluation has none) and the questions."""
    where = f"{ev.get('dataset') or '?'} ({ev.get('split') or 'validation'})"
    table = Table(title=f"evaluation {ev['id']} on {where}: {ev.get('status')}")
    table.add_column("model")
    for column, _ in COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("questions", justify="right")
    for r in ev.get("results") or ():
        metrics = r.get("metrics") or {}
        cells = [f"{float(metrics[m]):.3f}" if m in metrics else "" for _, m in COLUMNS]
        asked = str(ev.get("examples") or "") if metrics else ""
        table.add_row(escape(_name(r)), *cells, asked)
    return table


def print_samples(ev: dict[str, Any], n: int = SAMPLES) -> None:
    """The first ``n`` questions, each with its reference and every model's answer."""
    results = [r for r in ev.get("results") or () if r.get("answers")]
    if not results:
        return
    console.print("[bold]sample answers[/bold]")
    for i, first in enumerate(results[0]["answers"][:n]):
        console.print(f"Q{i + 1}: {escape(first['question'])}", highlight=False, soft_wrap=True)
        console.print(
            f"  [dim]reference:[/dim] {escape(first['reference'])}", highlight=False, soft_wrap=True
        )
        for r in results:
            answers = r["answers"]
            if i >= len(answers):
                continue
            a = answers[i]
            console.print(f"  {escape(r['ref'])}: {escape(a['answer'])}", highlight=False, soft_wrap=True)
            if a.get("closed_book_answer"):
                console.print(
                    f"  {escape(r['ref'])} [dim](closed book):[/dim] {escape(a['closed_book_answer'])}",
                    highlight=False,
                    soft_wrap=True,
                )


def gate_line(ev: dict[str, Any]) -> str | None:
    """The gate's verdict with both scores (rich markup), or None before it is decided."""
    gate, outcome = ev.get("gate"), ev.get("gate_outcome")
    if not gate or not outcome:
        return None
    results = ev.get("results") or []
    current = outcome.get("current_ref") or (results[1]["ref"] if len(results) > 1 else "the base model")
    candidate = f"{gate['model']}/{gate['version']}"
    verdict = "[green]passed[/green]" if outcome["passed"] else "[red]refused[/red]"
    return (
        f"gate {escape(gate['metric'])} (margin {gate['margin']:g}, at least {gate['min_examples']} "
        f"questions): {escape(candidate)} {outcome['candidate_score']:.3f} vs {escape(gate['alias'])}'s "
        f"{escape(current)} {outcome['current_score']:.3f} → {verdict}\n"
        f"[dim]{escape(outcome['message'])}[/dim]"
    )


def show(ev: dict[str, Any]) -> None:
    console.print(scores_table(ev))
    if ev.get("status") == "failed":
        console.print(f"[red]evaluation {ev['id']} failed[/red]: {escape(_state(ev))}", soft_wrap=True)
    elif ev.get("status") != "succeeded":
        console.print(f"evaluation {ev['id']} is {escape(_state(ev))}", highlight=False, soft_wrap=True)
    print_samples(ev)
    line = gate_line(ev)
    if line:
        console.print(line, highlight=False, soft_wrap=True)


def wait(
    gw: GatewayClient, ev: dict[str, Any], timeout: float, poll: float, quiet: bool = False
) -> dict[str, Any]:
    """Poll the evaluation to its end, showing its status as it goes (a spinner on a terminal,
    a line per change otherwise; nothing when ``quiet``)."""
    eid = ev["id"]
    if quiet:
        return gw.wait_evaluation(eid, timeout=timeout, poll=poll)
    started = time.monotonic()
    if console.is_terminal and not console.is_dumb_terminal:
        with console.status(f"evaluation {eid}: {escape(_state(ev))}") as status:

            def update(e: dict[str, Any]) -> None:
                took = int(time.monotonic() - started)
                status.update(f"evaluation {eid}: {escape(_state(e))} [dim]({took} s)[/dim]")

            return gw.wait_evaluation(eid, timeout=timeout, poll=poll, on_update=update)
    seen = [_state(ev)]

    def line(e: dict[str, Any]) -> None:
        if _state(e) != seen[-1]:
            seen.append(_state(e))
            took = int(time.monotonic() - started)
            console.print(f"evaluation {eid}: {escape(seen[-1])} ({took} s)", highlight=False, soft_wrap=True)

    return gw.wait_evaluation(eid, timeout=timeout, poll=poll, on_update=line)


def _json(ev: dict[str, Any]) -> None:
    click.echo(json.dumps(ev))


@evals.command("run")
@click.argument("models", nargs=-1, required=True, metavar="MODEL_REF...")
@click.option("--dataset", required=True, callback=dataset_ref, help="the questions: ds_…@N (ds_…: latest)")
@click.option(
    "--split", type=click.Choice(["validation", "train"]), default=None, help="[default: validation]"
)
@click.option("--limit", type=click.IntRange(1, 1000), default=None, help="questions per model [default: 64]")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=3600.0, show_default=True, help="seconds to wait"
)
@click.option("--poll", type=click.FloatRange(min=0.01), default=POLL_S, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="print the finished evaluation as JSON")
@gateway_options
def eval_run(
    models: tuple[str, ...],
    dataset: str,
    split: str | None,
    limit: int | None,
    timeout: float,
    poll: float,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """Evaluate MODEL_REF... (base model ids, NAME, NAME@ALIAS, NAME/N, ft:…) on the same
    questions and print their scores side by side; exit 1 if the evaluation fails."""
    with gateway_client(gateway_url, api_key) as gw:
        ev = gw.create_evaluation(list(models), dataset, split, limit)
        if not as_json:
            refs = ", ".join(r["ref"] for r in ev.get("results") or ())
            console.print(
                f"evaluation [bold]{ev['id']}[/bold]: {escape(refs)} on {escape(str(ev.get('dataset')))} "
                f"({ev.get('split')}, up to {ev.get('limit')} questions each)",
                highlight=False,
                soft_wrap=True,
            )
        ev = wait(gw, ev, timeout, poll, quiet=as_json)
    if as_json:
        _json(ev)
    else:
        show(ev)
    sys.exit(1 if ev.get("status") == "failed" else 0)


@evals.command("show")
@click.argument("evaluation_id")
@click.option("--json", "as_json", is_flag=True, help="the whole evaluation as JSON")
@gateway_options
def eval_show(evaluation_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """One evaluation: its status, each model's scores, a few answers and a gate's verdict
    (exit 1 if it failed)."""
    with gateway_client(gateway_url, api_key) as gw:
        ev = gw.get_evaluation(evaluation_id)
    if as_json:
        _json(ev)
    else:
        show(ev)
        started, finished = ts(ev.get("created_at")), ts(ev.get("finished_at"))
        extra = f", job {ev['job_id']}" if ev.get("job_id") else ""
        console.print(f"[dim]created {started}, finished {finished}{escape(extra)}[/dim]", highlight=False)
    sys.exit(1 if ev.get("status") == "failed" else 0)
