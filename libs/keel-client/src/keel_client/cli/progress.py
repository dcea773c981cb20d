"""A fine-tuning job followed live: its events as they arrive under a progress bar, reconnecting
when the stream breaks, and what became of the job at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
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

from keel_client.cli.render import console, err
from keel_client.gateway import GatewayClient, GatewayError, GatewayUnreachable

FINAL = ("succeeded", "failed", "cancelled")


def progress_of(job: dict[str, Any]) -> dict[str, Any]:
    return dict((job.get("keel") or {}).get("progress") or {})


def final_line(job: dict[str, Any]) -> tuple[str, bool]:
    """What became of a job, and whether that is a success."""
    status, jid = job["status"], job["id"]
    took = ""
    if job.get("finished_at") and job.get("created_at"):
        took = f" in {int(job['finished_at']) - int(job['created_at'])} s"
    if status == "succeeded":
        extra = job.get("keel") or {}
        registry = f" (registry version {extra['registry_version']})" if extra.get("registry_version") else ""
        tokens = f", {job['trained_tokens']} tokens trained" if job.get("trained_tokens") else ""
        ev = extra.get("promotion_evaluation_id")
        gated = f"\npromotion through the gate: keel eval show {ev}" if ev else ""
        return (
            f"[green]job {jid} succeeded[/green]{took}{escape(tokens)}\n"
            f"fine-tuned model [bold]{escape(job.get('fine_tuned_model') or '?')}[/bold]{escape(registry)}"
            + escape(gated),
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


def event_order(ev: dict[str, Any]) -> tuple[int, int]:
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
    text, ok = final_line(job)
    if job["status"] not in FINAL:
        text += f"; the event stream ended early, follow again with `keel jobs events {job_id} --follow`"
    console.print(text, highlight=False, soft_wrap=True)
    if ok:
        model = job.get("fine_tuned_model") or ""
        console.print(
            f'chat with it: keel chat --model {escape(model)} -m "..."', highlight=False, soft_wrap=True
        )
    return 0 if ok else 1
