"""`keel datasets`: build datasets from uploaded documents (a recipe: chunking, quality filters,
dedup, PII handling, plain text or synthesised QA pairs, the validation split), follow a build,
then list, inspect, preview and compare versions. A version's reference ``ds_…@N`` is what
`keel jobs create --dataset` trains on."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from keel_client.cli.connect import gateway_options
from keel_client.cli.live import count_lines, finished, follow, pairs, ref_of, training_client
from keel_client.cli.render import console, err, size, ts
from keel_client.datasets import FINISHED, Version, version_spec
from keel_client.gateway import GatewayClient

FORMATS = ("text", "qa_with_context", "qa_closed_book")
PII_ACTIONS = ("redact", "drop", "keep")
CLIP = 600  # characters of an example's text shown per part on a terminal (--full: all)


@click.group()
def datasets() -> None:
    """Datasets built from documents (`keel docs upload`): each build is an immutable version
    ds_…@N that `keel jobs create --dataset` trains on (a key with the training scope)."""


def _number(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def recipe_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--doc", "docs", multiple=True, metavar="ID", help="a document; repeatable"),
        click.option("--all-docs", is_flag=True, help="every ready document of the tenant"),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                     help="plain text, or QA pairs synthesised from each chunk (with it as context or not)"),
        click.option("--base-model", default=None, help="whose tokenizer counts the chunks' tokens"),
        click.option("--chunk-tokens", type=click.IntRange(16, 32768), default=None, help="tokens a chunk"),
        click.option("--overlap", type=click.IntRange(0, 16384), default=None, help="tokens shared"),
        click.option("--dedup/--no-dedup", default=None, help="drop exact and near duplicate chunks [on]"),
        click.option("--near-threshold", type=click.FloatRange(0.5, 1), default=None,
                     help="similarity from which chunks are near duplicates"),
        click.option("--quality", multiple=True, metavar="KEY=VALUE",
                     help="a quality filter (min_words=5, max_symbol_ratio=0.3, ...); repeatable"),
        click.option("--pii", multiple=True, metavar="KIND=ACTION",
                     help="redact | drop | keep a PII kind (email, phone, iban, credit_card, national_id, "
                     "ip_address, secret; unnamed kinds are redacted); repeatable"),
        click.option("--synthesis-model", default=None, help="the model writing the QA pairs (qa_* formats)"),
        click.option("--pairs", type=click.IntRange(1, 8), default=None, help="QA pairs asked per chunk"),
        click.option("--validation-fraction", type=click.FloatRange(0, 1, max_open=True), default=None),
        click.option("--seed", type=click.IntRange(min=0), default=None, help="of the split"),
        click.option("--follow", is_flag=True, help="show the build live; exit 1 unless it succeeds"),
        click.option("--json", "as_json", is_flag=True, help="the operation as JSON (--follow: each change)"),
    ]  # fmt: skip
    fn = gateway_options(fn)
    for option in reversed(options):
        fn = option(fn)
    return fn


def build_spec(o: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The build spec the recipe options ask for, over ``base`` (an earlier version's)."""
    spec = copy.deepcopy(base or {})

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            spec.setdefault(section, {})[key] = value

    if o["base_model"]:
        spec["base_model"] = o["base_model"]
    put("chunking", "max_tokens", o["chunk_tokens"])
    put("chunking", "overlap_tokens", o["overlap"])
    put("dedup", "enabled", o["dedup"])
    put("dedup", "near_threshold", o["near_threshold"])
    put("split", "validation_fraction", o["validation_fraction"])
    put("split", "seed", o["seed"])
    for key, value in pairs(o["quality"], "--quality").items():
        put("quality", key, _number(value))
    for kind, action in pairs(o["pii"], "--pii").items():
        if action not in PII_ACTIONS:
            raise click.BadParameter(
                f"{kind}: the action is one of {', '.join(PII_ACTIONS)}", param_hint="--pii"
            )
        put("pii", kind, action)
    if o["fmt"]:
        spec["format"] = o["fmt"]
    qa = spec.get("format", "text") != "text"
    if not qa:
        spec.pop("qa_synthesis", None)
        if o["synthesis_model"] or o["pairs"]:
            raise click.UsageError(
                "--synthesis-model and --pairs need --format qa_with_context or qa_closed_book"
            )
    else:
        spec.setdefault("qa_synthesis", {})  # the format needs it; {} is the server's defaults
        put("qa_synthesis", "model", o["synthesis_model"])
        put("qa_synthesis", "pairs_per_chunk", o["pairs"])
    return spec


def _documents(gw: GatewayClient, docs: tuple[str, ...], all_docs: bool) -> list[str]:
    if docs and all_docs:
        raise click.UsageError("--doc and --all-docs are mutually exclusive")
    if not all_docs:
        return list(docs)
    found = [d["id"] for d in gw.list_documents(None, status="ready")]
    if not found:
        raise click.UsageError("there is no ready document: upload some with `keel docs upload`")
    return found


def _version(value: str, hint: str) -> Version:
    if value == "latest":
        return "latest"
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"{value!r} is not a version number or 'latest'", param_hint=hint)
    return int(value)


def _started(gw: GatewayClient, op: dict[str, Any], o: dict[str, Any], note: str = "") -> None:
    if o["as_json"] and not o["follow"]:
        click.echo(json.dumps(op))
        return
    if not o["as_json"]:
        console.print(
            note or f"building {ref_of(op)} (operation {op['id']}, {op['status']})", highlight=False
        )
    if o["follow"]:
        sys.exit(follow(gw, op["id"], o["as_json"]))
    if op["status"] in FINISHED:
        finished(op)
    else:
        console.print(f"follow it: keel datasets follow {op['id']}", highlight=False)


@datasets.command("create")
@click.argument("name")
@click.option("--description", default=None)
@recipe_options
def datasets_create(name: str, description: str | None, **o: Any) -> None:
    """Create dataset NAME from documents and build its version 1.

    NAME: lower-case letters, digits, '.', '_' and '-'. The documents: --doc ID (repeatable) or
    --all-docs. Recipe options not given take the server's defaults."""
    if not o["docs"] and not o["all_docs"]:
        raise click.UsageError("name the documents: --doc ID (repeatable) or --all-docs")
    spec = build_spec(o)
    with training_client(o["gateway_url"], o["api_key"]) as gw:
        op = gw.create_dataset(name, _documents(gw, o["docs"], o["all_docs"]), description, **spec)
        _started(gw, op, o)


@datasets.command("version")
@click.argument("dataset")
@click.option(
    "--fresh", is_flag=True, help="start from the server's defaults, not the newest version's recipe"
)
@recipe_options
def datasets_version(dataset: str, fresh: bool, **o: Any) -> None:
    """Build the next version of a dataset (with changes).

    DATASET is an id (ds_…) or a name. The build starts from the newest version's documents and
    recipe (that of the latest ready version while the newest has not finished; --fresh: the
    server's defaults) with the options given changed; --doc / --all-docs replace the documents.
    When a version already has that recipe over those documents, it is the answer and nothing is
    rebuilt."""
    with training_client(o["gateway_url"], o["api_key"]) as gw:
        ds_id = gw.resolve_dataset(dataset)
        d = gw.get_dataset(ds_id)
        newest, ready = int(d.get("latest_version") or 0), int(d.get("latest_ready_version") or 0)
        base = gw.get_dataset_version(ds_id, newest) if newest else {}
        documents = _documents(gw, o["docs"], o["all_docs"]) or list(base.get("documents") or ())
        if not documents:
            raise click.UsageError("name the documents: --doc ID (repeatable) or --all-docs")
        if not base.get("recipe") and ready and not fresh:  # a version's recipe comes when it is built
            base = gw.get_dataset_version(ds_id, ready)
        if not base.get("recipe") and not fresh:
            err.print("no version has finished yet: the recipe is the server's defaults and your options")
        op = gw.create_dataset_version(
            ds_id, documents, **build_spec(o, None if fresh else version_spec(base))
        )
        note = ""
        if int(op.get("version") or 0) <= newest:
            note = f"{ref_of(op)} already has this recipe over these documents ({op['id']}, {op['status']})"
        _started(gw, op, o, note)


@datasets.command("follow")
@click.argument("operation_id")
@click.option("--json", "as_json", is_flag=True, help="the operation as JSON, a line each time it changes")
@gateway_options
def datasets_follow(operation_id: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """Show a build live (its stage's progress and its events) to the end; exit 1 unless it succeeds."""
    with training_client(gateway_url, api_key) as gw:
        code = follow(gw, operation_id, as_json)
    sys.exit(code)


@datasets.command("cancel")
@click.argument("operation_id")
@gateway_options
def datasets_cancel(operation_id: str, gateway_url: str | None, api_key: str | None) -> None:
    """Cancel a build: a pending one never runs, a running one stops at its next step."""
    with training_client(gateway_url, api_key) as gw:
        op = gw.cancel_operation(operation_id)
    if op["status"] == "cancelled":
        console.print(f"cancelled {op['id']} ({ref_of(op)})", highlight=False)
    else:
        console.print(f"cancel requested for {op['id']} ({ref_of(op)}, {op['status']})", highlight=False)


@datasets.command("list")
@click.option("--query", "-q", default=None, help="only datasets whose name contains this")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def datasets_list(
    query: str | None, limit: int, as_json: bool, gateway_url: str | None, api_key: str | None
) -> None:
    """The tenant's datasets, newest first."""
    with training_client(gateway_url, api_key) as gw:
        found = gw.list_datasets(limit, query)
    if as_json:
        click.echo(json.dumps(found))
        return
    table = Table(title="datasets")
    table.add_column("id", no_wrap=True)
    for col in ("name", "versions", "latest ready", "description", "updated"):
        table.add_column(col, overflow="fold")
    for d in found:
        ready = d.get("latest_ready_version")
        latest = f"{d['id']}@{ready}" if ready else "-"
        table.add_row(
            d["id"], escape(d["name"]), str(d.get("latest_version") or 0), latest,
            escape(d.get("description") or ""), ts(d.get("updated_at")),
        )  # fmt: skip
    console.print(table)


@datasets.command("show")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="the dataset and its latest ready version as JSON")
@gateway_options
def datasets_show(dataset: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """A dataset (id or name) and its latest ready version: recipe, counts at each stage, files."""
    with training_client(gateway_url, api_key) as gw:
        d = gw.get_dataset(gw.resolve_dataset(dataset))
        ready = gw.get_dataset_version(d["id"]) if d.get("latest_ready_version") else None
        newest = d.get("latest_version") or 0
        pending = (
            gw.get_dataset_version(d["id"], newest)
            if newest and newest != (ready or {}).get("version")
            else None
        )
    if as_json:
        click.echo(json.dumps({"dataset": d, "latest_ready": ready, "newest": pending}))
        return
    table = Table(title=f"dataset {d['id']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    rows = [("name", d["name"]), ("description", d.get("description") or "-"), ("versions", str(newest))]
    if pending:
        details = f": {pending['status_details']}" if pending.get("status_details") else ""
        rows.append(("newest", f"{pending['id']} {pending['status']}{details}"))
    if ready:
        recipe = ready.get("recipe") or {}
        rows += [
            (
                "latest ready",
                f"{ready['id']} ({ready.get('format')}, {len(ready.get('documents') or ())} documents)",
            ),
            ("counts", "\n".join(count_lines(ready.get("counts") or {}))),
            ("recipe", "\n".join(f"{k} = {json.dumps(v)}" for k, v in sorted(recipe.items())) or "-"),
        ]
    rows += [("created", ts(d.get("created_at"))), ("updated", ts(d.get("updated_at")))]
    for name, value in rows:
        table.add_row(name, escape(value))
    console.print(table)
    if not ready:
        console.print("no ready version yet", highlight=False)
        return
    files = Table(title=f"files of {ready['id']}")
    for col in ("split", "examples", "size", "sha256"):
        files.add_column(col)
    files.add_column("uri", overflow="fold")
    for split, f in sorted((ready.get("files") or {}).items()):
        sha = str(f.get("sha256") or "")[:16]
        files.add_row(
            escape(split), str(f.get("examples")), size(int(f.get("bytes") or 0)), sha, escape(f["uri"])
        )
    console.print(files)


@datasets.command("versions")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def datasets_versions(dataset: str, as_json: bool, gateway_url: str | None, api_key: str | None) -> None:
    """A dataset's versions (id or name), newest first."""
    with training_client(gateway_url, api_key) as gw:
        found = gw.list_dataset_versions(gw.resolve_dataset(dataset))
    if as_json:
        click.echo(json.dumps(found))
        return
    table = Table(title=f"versions of {escape(dataset)}")
    table.add_column("ref", no_wrap=True)
    for col in ("status", "format", "documents", "train", "validation", "chunks", "created", "operation"):
        table.add_column(col, overflow="fold")
    for v in found:
        c = v.get("counts") or {}
        ex = c.get("examples") or {}
        status = v["status"] + (f": {v['status_details']}" if v.get("status_details") else "")
        table.add_row(
            v["id"], escape(status), v.get("format") or "", str(len(v.get("documents") or ())),
            str(ex.get("train", "-")), str(ex.get("validation", "-")), str(c.get("chunks", "-")),
            ts(v.get("created_at")), v.get("operation_id") or "",
        )  # fmt: skip
    console.print(table)


def _clip(text: str, full: bool) -> str:
    if full or not console.is_terminal or len(text) <= CLIP:
        return text
    return f"{text[:CLIP].rstrip()} … (+{len(text) - CLIP} characters; --full shows all)"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines() or [""])


def where(src: dict[str, Any]) -> str:
    """An example's source: file, page(s), characters, heading."""
    parts = [str(src.get("filename") or src.get("document_id") or "?")]
    page, end = src.get("page"), src.get("page_end")
    if page:
        parts.append(f"pages {page}-{end}" if end and end != page else f"page {page}")
    parts.append(f"characters {src.get('char_start', 0)}-{src.get('char_end', 0)}")
    if src.get("heading"):
        parts.append(f"“{src['heading']}”")
    return " · ".join(parts)


@datasets.command("preview")
@click.argument("ref", metavar="DATASET[@N]")
@click.option("--split", type=click.Choice(["train", "validation"]), default="train", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--full", is_flag=True, help="whole texts (a terminal shows the first characters of each)")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def datasets_preview(
    ref: str, split: str, limit: int, offset: int, full: bool, as_json: bool, gateway_url: str | None,
    api_key: str | None,
) -> None:  # fmt: skip
    """Examples of a version (DATASET is an id or name; @N a version, default the latest ready)
    with their source: file, page, characters and heading, then the text or the messages."""
    name, _, number = ref.partition("@")
    version = _version(number, "DATASET[@N]") if number else "latest"
    with training_client(gateway_url, api_key) as gw:
        ds_id = gw.resolve_dataset(name)
        page = gw.preview_dataset(ds_id, version, split, limit, offset)  # type: ignore[arg-type]  # Choice
    if as_json:
        click.echo(json.dumps(page))
        return
    data, total = page.get("data") or [], page.get("total", 0)
    console.print(f"{escape(ds_id)}@{version}: {split} examples {offset + 1}-{offset + len(data)} of {total}",
                  highlight=False)  # fmt: skip
    for n, ex in enumerate(data, offset + 1):
        console.print(
            f"\n[bold]#{n}[/bold] [dim]{escape(where(ex.get('source') or {}))}[/dim]", highlight=False
        )
        if ex.get("text"):
            console.print(escape(_indent(_clip(ex["text"], full))), highlight=False)
        colours = {"system": "magenta", "user": "cyan", "assistant": "green"}
        for m in ex.get("messages") or ():
            role = str(m.get("role"))
            console.print(f"  [bold {colours.get(role, 'white')}]{escape(role)}[/]", highlight=False)
            console.print(escape(_indent(_clip(str(m.get("content") or ""), full))), highlight=False)


def _label(version: Any) -> str:
    return f"v{version}" if version and version != "latest" else "latest"


def stage_rows(c: dict[str, Any]) -> dict[str, int]:
    rows = {"documents": c.get("documents", 0), "chunks": c.get("chunks", 0)}
    rows.update({f"dropped: {k}": v for k, v in sorted((c.get("dropped") or {}).items())})
    rows.update({f"duplicates: {k}": v for k, v in (c.get("duplicates") or {}).items()})
    rows.update({f"pii: {k}": v for k, v in sorted((c.get("pii") or {}).items())})
    for key in ("qa_passages", "qa_proposed", "qa_kept", "question_duplicates"):
        rows[key.replace("_", " ")] = c.get(key, 0)
    rows.update({f"examples: {k}": v for k, v in (c.get("examples") or {}).items()})
    return rows


@datasets.command("diff")
@click.argument("dataset")
@click.argument("from_version", metavar="FROM")
@click.argument("to_version", metavar="[TO]", default="latest")
@click.option("--json", "as_json", is_flag=True)
@gateway_options
def datasets_diff(
    dataset: str,
    from_version: str,
    to_version: str,
    as_json: bool,
    gateway_url: str | None,
    api_key: str | None,
) -> None:
    """What changed from version FROM to TO (default: the latest ready): documents, examples, the
    counts at each stage side by side, and the recipe."""
    a, b = _version(from_version, "FROM"), _version(to_version, "TO")
    with training_client(gateway_url, api_key) as gw:
        d = gw.diff_dataset(gw.resolve_dataset(dataset), a, b)
    if as_json:
        click.echo(json.dumps(d))
        return
    name = _label(d.get("from", a)), _label(d.get("to", b))
    console.print(f"[bold]{escape(d['dataset_id'])}[/bold]: {name[0]} → {name[1]}", highlight=False)
    added, removed = d.get("documents_added") or [], d.get("documents_removed") or []
    console.print(f"documents: +{len(added)} {' '.join(added)}".rstrip(), highlight=False, soft_wrap=True)
    console.print(f"           -{len(removed)} {' '.join(removed)}".rstrip(), highlight=False, soft_wrap=True)
    console.print(
        f"examples: +{d.get('examples_added', 0)} added, -{d.get('examples_removed', 0)} removed, "
        f"{d.get('examples_unchanged', 0)} unchanged",
        highlight=False,
    )
    before, after = (
        stage_rows(d.get("from_counts") or {}),
        stage_rows(d.get("to_counts") or {}),
    )
    table = Table(title="counts at each stage")
    for col, justify in (("stage", "left"), (name[0], "right"), (name[1], "right"), ("change", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in [*before, *(k for k in after if k not in before)]:
        x, y = before.get(row, 0), after.get(row, 0)
        table.add_row(escape(row), str(x), str(y), f"{y - x:+d}" if y != x else "")
    console.print(table)
    changes = d.get("recipe_changes") or []
    console.print("recipe changes:" if changes else "recipe: unchanged", highlight=False)
    for change in changes:
        console.print(f"  {escape(change)}", highlight=False, soft_wrap=True)
