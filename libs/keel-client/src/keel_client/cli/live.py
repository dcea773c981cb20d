"""What `keel docs` and `keel datasets` share: the client whose refusals name the field at
fault, the progress bar (rich's on a terminal, a plain line otherwise), and a dataset build
followed live to its summary."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from keel_client.cli.connect import gateway_client
from keel_client.cli.render import console, err
from keel_client.datasets import FINISHED
from keel_client.gateway import GatewayClient, GatewayError

POLL_S = 0.5  # how often a followed dataset build is asked about


@contextlib.contextmanager
def training_client(url: str | None, key: str | None) -> Iterator[GatewayClient]:
    """The gateway client, its refusals naming the field at fault ("documents[1]: …")."""
    with gateway_client(url, key) as gw:
        try:
            yield gw
        except GatewayError as exc:
            if exc.param and exc.param not in exc.message:
                exc.message = f"{exc.param}: {exc.message}"
            raise


def live() -> bool:
    return console.is_terminal and not console.is_dumb_terminal


def pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    """KEY=VALUE options as a dict."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = value.strip()
    return out


class Bar:
    """A progress bar with lines printed above it: rich's live bar on a terminal, a carriage-return
    one otherwise (redrawn only when it changes); nothing at all when not ``shown``."""

    def __init__(self, shown: bool = True) -> None:
        self.shown = shown
        self._plain = ""  # the plain bar on the current line
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if shown and live():
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[text]}"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("", total=None, text="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._plain:
            click.echo()
            self._plain = ""

    def update(self, label: str, done: float, total: float | None, text: str = "") -> None:
        """The bar at ``done`` of ``total``, with ``label`` before it and ``text`` after."""
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=escape(label),
                completed=done,
                total=total,
                text=escape(text),
                refresh=True,
            )
            return
        if not self.shown:
            return
        filled = int(30 * min(1.0, done / total)) if total else 0
        bar = f"{label:10} [{'#' * filled}{'-' * (30 - filled)}] {text}".rstrip()
        if bar != self._plain:
            click.echo("\r" + bar.ljust(len(self._plain)), nl=False)
            sys.stdout.flush()
            self._plain = bar

    def line(self, text: str) -> None:
        """A line above the bar (rich markup); the plain bar comes back at the next update."""
        if not self.shown:
            return
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
            return
        if self._plain:
            click.echo("\r" + " " * len(self._plain) + "\r", nl=False)
            self._plain = ""
        console.print(text, highlight=False, soft_wrap=True)


def _clock(at: Any) -> str:
    return datetime.fromtimestamp(int(at or 0), UTC).strftime("%H:%M:%S")


def ref_of(op: dict[str, Any]) -> str:
    return f"{op.get('dataset_id')}@{op.get('version')}"


def _mapping(d: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((d or {}).items()))


def count_lines(c: dict[str, Any]) -> list[str]:
    """A version's counts at each stage, in a few lines."""
    ex, dups = c.get("examples") or {}, c.get("duplicates") or {}
    lines = [
        f"{ex.get('train', 0)} train + {ex.get('validation', 0)} validation examples, from "
        f"{c.get('chunks', 0)} chunks of {c.get('documents', 0)} documents",
        f"dropped: {_mapping(c.get('dropped')) or 'none'}",
        f"duplicates: {dups.get('exact', 0)} exact, {dups.get('near', 0)} near",
        f"PII found: {_mapping(c.get('pii')) or 'none'}",
    ]
    if c.get("qa_proposed") or c.get("qa_passages"):
        again = f", {c['question_duplicates']} duplicate questions" if c.get("question_duplicates") else ""
        lines.append(
            f"QA pairs: {c.get('qa_kept', 0)} kept of {c.get('qa_proposed', 0)} proposed from "
            f"{c.get('qa_passages', 0)} passages{again}"
        )
    return lines


def finished(op: dict[str, Any]) -> None:
    """What became of a build."""
    ref, status = ref_of(op), op["status"]
    if status == "succeeded":
        version = op.get("result") or {}
        console.print(f"[green]{ref} is ready[/green] (operation {op['id']})", highlight=False)
        for line in count_lines(version.get("counts") or {}):
            console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
        if version.get("format", "text") != "text":
            console.print(f"train on it: keel jobs create --dataset {ref}", highlight=False)
        return
    colour = "red" if status == "failed" else "yellow"
    why = escape(op.get("error") or "no reason given")
    console.print(f"[{colour}]{ref} {status}[/{colour}] (operation {op['id']}): {why}", soft_wrap=True)


def follow(gw: GatewayClient, op_id: str, as_json: bool = False) -> int:
    """Show a build live until it ends; the exit code: 0 when it succeeded."""
    last: dict[str, Any] | None = None
    seen = 0
    try:
        with Bar(shown=not as_json) as bar:
            for op in gw.follow_operation(op_id, poll_s=POLL_S):
                last = op
                if as_json:
                    click.echo(json.dumps(op))
                    continue
                events = op.get("events") or []
                for ev in events[seen:]:
                    stage = f"{ev.get('stage') or '':10}"
                    bar.line(
                        f"[dim]{_clock(ev.get('at'))}[/dim] {escape(stage)} {escape(str(ev.get('message')))}"
                    )
                seen = len(events)
                p = op.get("progress") or {}
                fraction = float(p.get("fraction") or 0)
                counted = f"  {p.get('done')}/{p['total']}" if p.get("total") else ""
                bar.update(str(op.get("stage") or op["status"]), fraction, 1.0, f"{fraction:4.0%}{counted}")
    except KeyboardInterrupt:
        err.print(
            f"stopped following {op_id}; the build goes on: `keel datasets follow {op_id}` resumes, "
            f"`keel datasets cancel {op_id}` stops it",
            highlight=False,
            soft_wrap=True,
        )
        return 130
    assert last is not None and last["status"] in FINISHED
    if not as_json:
        finished(last)
    return 0 if last["status"] == "succeeded" else 1
