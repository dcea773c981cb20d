"""`keel docs`: upload documents (files, folders, globs) for datasets to be built from, and list,
show and delete them. Also what `keel datasets` shares with it: the client whose refusals name
the field at fault, the progress bar, and a dataset build followed live to its summary."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from keel_client.cli.connect import gateway_client, gateway_options
from keel_client.cli.render import console, err, size, ts
from keel_client.datasets import FINISHED, SUPPORTED_EXTENSIONS
from keel_client.gateway import GatewayClient, GatewayError, GatewayUnreachable

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


@click.group()
def docs() -> None:
    """Documents to build datasets from: PDF, HTML, Markdown, text, DOCX, JSONL chat (a key with
    the training scope). The same bytes uploaded twice are one document."""


def _hidden(path: Path, top: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(top).parts)


def _walk(folder: Path) -> list[Path]:
    """The supported files under ``folder``, at any depth (hidden ones skipped), in name order."""
    return sorted(
        f
        for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in SUPPORTED_EXTENSIONS and not _hidden(f, folder)
    )


def collect(args: tuple[str, ...]) -> list[Path]:
    """The files to upload, each once: files as named, folders walked, globs expanded (their
    folders walked too). A name that matches nothing is refused before anything is sent."""
    found: list[Path] = []
    seen: set[Path] = set()
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            files = _walk(path)
        elif path.is_file():
            files = [path]
        elif glob.has_magic(arg):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(arg), recursive=True))]
            if not matches:
                raise click.BadParameter(f"no file matches {arg!r}", param_hint="PATHS")
            files = [f for m in matches for f in (_walk(m) if m.is_dir() else [m] if m.is_file() else [])]
        else:
            raise click.BadParameter(f"{arg!r}: no such file or folder", param_hint="PATHS")
        for f in files:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                found.append(f)
    if not found:
        supported = " ".join(SUPPORTED_EXTENSIONS)
        raise click.BadParameter(f"no documents to upload (supported: {supported})", param_hint="PATHS")
    return found


def _outcome(doc: dict[str, Any] | None, exc: GatewayError | None) -> tuple[str, bool]:
    """The status column of one file, and whether it went well."""
    if exc is not None:
        return f"[red]refused ({exc.status or 'no answer'})[/red]: {escape(exc.message)}", False
    assert doc is not None
    if doc.get("status") == "failed":
        why = doc.get("status_details") or "no text could be extracted"
        again = " (already uploaded)" if doc.get("already_existed") else ""
        return f"[red]failed[/red]{again}: {escape(why)}", False
    if doc.get("already_existed"):
        return "[yellow]already uploaded[/yellow]", True
    return f"[green]{escape(str(doc.get('status')))}[/green]", True


@docs.command("upload")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--metadata", "meta", multiple=True, metavar="KEY=VALUE", help="kept with each document; repeatable"
)
@click.option("--json", "as_json", is_flag=True, help="one JSON line per file (the document, or its error)")
@gateway_options
def docs_upload(
    paths: tuple[str, ...], meta: tuple[str, ...], as_json: bool, gateway_url: str | None, api_key: str | None
) -> None:
    """Upload PATHS: files, folders (every supported file in them, at any depth) and globs (quoted
    or not). Each file's outcome is in the table; exit 1 when any failed or was refused."""
    metadata = pairs(meta, "--metadata")
    files = collect(paths)
    results: list[tuple[Path, dict[str, Any] | None, GatewayError | None]] = []
    with training_client(gateway_url, api_key) as gw, Bar(shown=not as_json) as bar:
        for n, path in enumerate(files):
            bar.update("uploading", n, len(files), f"{n}/{len(files)} {path.name}")
            try:
                doc, exc = gw.upload_document(path, metadata or None), None
            except GatewayError as error:
                if isinstance(error, GatewayUnreachable) or error.status in (401, 403):
                    raise  # every other file would fail the same way
                doc, exc = None, error
            results.append((path, doc, exc))
            if as_json:
                error_body = {"status": exc.status, "message": exc.message, "code": exc.code} if exc else None
                click.echo(json.dumps({"file": str(path), **({"error": error_body} if exc else doc or {})}))
        bar.update("uploading", len(files), len(files), f"{len(files)}/{len(files)}")
    outcomes = [_outcome(doc, exc) for _, doc, exc in results]
    bad = sum(not ok for _, ok in outcomes)
    if not as_json:
        table = Table(title="uploaded documents")
        table.add_column("file", overflow="fold")
        table.add_column("document", no_wrap=True)
        table.add_column("status", overflow="fold")
        table.add_column("pages", justify="right")
        table.add_column("size", justify="right")
        for (path, doc, _), (status, _) in zip(results, outcomes, strict=True):
            d = doc or {}
            pages = str(d["pages"]) if d.get("pages") else "-"
            table.add_row(
                escape(str(path)),
                d.get("id") or "-",
                status,
                pages,
                size(int(d.get("bytes") or path.stat().st_size)),
            )
        console.print(table)
        console.print(f"{len(files) - bad} of {len(files)} uploaded" + (f", {bad} failed" if bad else ""))
    sys.exit(1 if bad else 0)


@docs.command("list")
@click.option("--query", "-q", default=None, help="only documents whose file name contains this")
@click.option("--status", type=click.Choice(["ready", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="the documents as JSON")
@gateway_options
def docs_list(
    query: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """The tenant's documents, newest first."""
    with training_client(gateway_url, api_key) as gw:
        found = gw.list_documents(limit, query, status)  # type: ignore[arg-type]  # click.Choice
    if as_json:
        click.echo(json.dumps(found))
        return
    table = Table(title="documents")
    table.add_column("id", no_wrap=True)
    table.add_column("file", overflow="fold")
    for col in ("status", "pages", "characters", "size", "created"):
        table.add_column(col)
    for d in found:
        failed = d.get("status") == "failed"
        table.add_row(
            d["id"],
            escape(d.get("filename") or ""),
            "[red]failed[/red]: " + escape(d.get("status_details") or "") if failed else escape(d["status"]),
            str(d.get("pages") or "-"),
            str(d.get("text_chars") or 0),
            size(int(d.get("bytes") or 0)),
            ts(d.get("created_at")),
        )
    console.print(table)


@docs.command("show")
@click.argument("document_id")
@click.option("--json", "as_json", is_flag=True, help="the document as JSON")
@gateway_options
def docs_show(document_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """One document: file, type, size, pages, extracted characters, status, metadata."""
    with training_client(gateway_url, api_key) as gw:
        d = gw.get_document(document_id)
    if as_json:
        click.echo(json.dumps(d))
        return
    table = Table(title=f"document {d['id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    status = d["status"] + (f": {d['status_details']}" if d.get("status_details") else "")
    rows = [
        ("file", d.get("filename")),
        ("status", status),
        ("type", d.get("content_type")),
        ("size", size(int(d.get("bytes") or 0))),
        ("pages", d.get("pages") or "-"),
        ("characters", d.get("text_chars")),
        ("sha256", d.get("sha256")),
        ("metadata", "\n".join(f"{k} = {v}" for k, v in sorted((d.get("metadata") or {}).items())) or "-"),
        ("created", ts(d.get("created_at"))),
    ]
    for name, value in rows:
        table.add_row(name, escape(str(value)))
    console.print(table)


@docs.command("delete")
@click.argument("document_id")
@gateway_options
def docs_delete(document_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """Delete DOCUMENT_ID (versions already built from it keep their examples)."""
    with training_client(gateway_url, api_key) as gw:
        gw.delete_document(document_id)
    console.print(f"deleted {escape(document_id)}", highlight=False)


# --- a dataset build followed live (`keel datasets create/version/follow`) -----------------------
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
