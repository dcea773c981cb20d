"""`keel docs`: upload documents (files, folders, globs) for datasets to be built from, and list,
show and delete them."""

from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_options
from keel_client.cli.live import Bar, pairs, training_client
from keel_client.cli.render import console, size, ts
from keel_client.datasets import SUPPORTED_EXTENSIONS
from keel_client.gateway import GatewayError, GatewayUnreachable


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
