"""Steps 1 and 2 of the demo: upload the handbook (a four-page PDF) and the support team's
question sheet, then build the training set with grounded QA synthesis and the evaluation set,
and show examples with the page they come from."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.table import Table

from keel_client.cli.live import count_lines, follow
from keel_client.errors import GatewayError
from keel_dev.demo_handbook import MARKDOWN, PDF, Fact, chat_line, data_path, write_sheets
from keel_dev.demo_run import Answer, DemoRun

TRAIN_SET = "corvane-handbook"
EVAL_SET = "corvane-eval"
# Short passages and few new tokens keep synthesis to seconds on a CPU: SmolLM2-135M writes the
# questions, about one kept pair per passage (measured on the handbook: 14 passages, 23 proposed,
# 16-18 kept in 10-40 s on two cores).
SYNTHESIS = {"pairs_per_chunk": 2, "max_tokens": 96}
CHUNKING = {"max_tokens": 32, "overlap_tokens": 0}


def upload(run: DemoRun, sheet: list[Fact]) -> None:
    pdf = data_path(PDF)
    train_file, eval_file = write_sheets(sheet, run.work)
    run.say(
        f"the handbook: [bold]{PDF}[/bold] ({pdf.stat().st_size:,} bytes, made from {MARKDOWN}), "
        f"an invented product: {len(sheet)} facts no model knows"
    )
    run.say(
        f"the support team's question sheet: {len(sheet)} facts x {len(sheet[0].train)} phrasings to learn "
        f"from ({train_file.name}), 1 held-out phrasing each to evaluate on ({eval_file.name})"
    )
    for path, meta in (
        (pdf, {"source": "keel-demo", "kind": "handbook"}),
        (train_file, {"source": "keel-demo", "kind": "qa-sheet"}),
        (eval_file, {"source": "keel-demo", "kind": "qa-eval"}),
    ):
        doc = run.gw.upload_document(path, metadata=meta)
        run.found.documents[path.name] = doc
        if doc.get("status") != "ready":
            raise RuntimeError(
                f"{path.name} could not be used: {doc.get('status_details') or doc.get('status')}"
            )
        more = f", {doc.get('pages')} pages" if path.suffix == ".pdf" else f", {doc.get('bytes'):,} bytes"
        again = " (already uploaded)" if doc.get("already_existed") else ""
        run.say(f"  uploaded {escape(path.name):26} → {doc['id']}  {doc.get('status')}{more}{again}")


def build(run: DemoRun, name: str, files: list[str], note: str, show: bool = True) -> dict[str, Any]:
    """One dataset version, followed live (``show``) or quietly; its ready version."""
    ids = [run.found.documents[f]["id"] for f in files]
    recipe: dict[str, Any] = {
        "format": "qa_closed_book",  # question → answer with no passage: the model must learn the fact
        "chunking": CHUNKING,
        "qa_synthesis": SYNTHESIS,
        "split": {"validation_fraction": 0.0},  # the held-out questions are their own set
        # The sheet states each answer five times on purpose; near-duplicate removal would thin it.
        "dedup": {"enabled": False},
    }
    try:
        op = run.gw.create_dataset(name, ids, description=note, **recipe)
    except GatewayError as exc:
        if exc.status != 409:  # a demo run on a kept --data-dir: the next version of the dataset
            raise
        op = run.gw.create_dataset_version(run.gw.resolve_dataset(name), ids, **recipe)
    if show and follow(run.gw, op["id"]) != 0:
        raise RuntimeError(f"building {name} failed")
    done = list(run.gw.follow_operation(op["id"], events=False))[-1]
    if done.get("status") != "succeeded":
        raise RuntimeError(f"building {name} {done.get('status')}: {done.get('error')}")
    version: dict[str, Any] = done["result"]
    return version


def examples(run: DemoRun, ref: str) -> list[dict[str, Any]]:
    """Every training example of a dataset version, with its source."""
    dataset_id, _, number = ref.partition("@")
    rows: list[dict[str, Any]] = []
    while True:
        page = run.gw.preview_dataset(dataset_id, int(number), limit=100, offset=len(rows))
        data = page.get("data") or []
        rows += data
        if not data or len(rows) >= int(page.get("total") or 0):
            return rows


def datasets(run: DemoRun, sheet: list[Fact]) -> None:
    run.say(
        f"[bold]{TRAIN_SET}[/bold]: the handbook cut into ~{CHUNKING['max_tokens']}-token passages; "
        "SmolLM2 (through the inference service) writes questions for each, and only pairs whose answer the "
        "passage supports are kept; the question sheet's examples join them"
    )
    t0 = time.monotonic()
    train = build(run, TRAIN_SET, [PDF, "corvane-qa-train.jsonl"], "the Corvane handbook, for training")
    run.found.synthesis_s = round(time.monotonic() - t0, 1)
    ev = build(
        run, EVAL_SET, ["corvane-qa-eval.jsonl"], "held-out questions about the Corvane handbook", show=False
    )
    run.found.datasets = {"train": train["id"], "eval": ev["id"]}
    run.found.dataset_counts = {"train": train.get("counts") or {}, "eval": ev.get("counts") or {}}
    counts = train.get("counts") or {}
    synthesized = int(counts.get("qa_kept") or 0)
    run.say(
        f"synthesis kept [bold]{synthesized}[/bold] of {counts.get('qa_proposed', 0)} proposed pairs from "
        f"{counts.get('qa_passages', 0)} passages in {run.found.synthesis_s:.1f} s (the whole build)"
    )
    rows = examples(run, train["id"])
    from_pages = [r for r in rows if (r.get("source") or {}).get("page")]
    for fact in sheet:  # where an example states the fact, for the lineage in the summary
        for r in from_pages:
            if fact.known_by(r["messages"][-1]["content"]):
                run.found.pages.setdefault(fact.key, int(r["source"]["page"]))
    table = Table(title=f"{train['id']}: synthesized examples with their source", title_justify="left")
    for col in ("page", "question (written by SmolLM2)", "answer (supported by the passage)"):
        table.add_column(col)
    per_page: dict[int, int] = {}
    for r in from_pages:  # two from each page
        page = int(r["source"]["page"])
        per_page[page] = per_page.get(page, 0) + 1
        if per_page[page] > 2:
            continue
        msgs = r["messages"]
        table.add_row(str(r["source"]["page"]), escape(msgs[-2]["content"]), escape(msgs[-1]["content"]))
    run.console.print(table)
    right = sum(1 for r in from_pages if any(f.known_by(r["messages"][-1]["content"]) for f in sheet))
    sheet_rows = len(rows) - len(from_pages)
    run.say(
        f"{len(from_pages)} synthesized examples; {right} of their answers hold one of the sheet's facts, "
        f"but SmolLM2-135M's questions are often loose or wrong (above), so the sheet's {sheet_rows} "
        "examples carry most of what the model learns"
    )
    for line in count_lines(run.found.dataset_counts["eval"]):
        if line.startswith(("0 train", "dropped", "duplicates", "PII")):
            continue
        run.note(f"{ev['id']} ({EVAL_SET}): {line}")
    run.note(f"{ev['id']} ({EVAL_SET}): {len(sheet)} held-out questions, never trained on")


def grow_eval_set(run: DemoRun, sheet: list[Fact], reported: list[Answer]) -> str:
    """The evaluation set's next version: the held-out questions plus every question users got a
    wrong answer to, with the right one (a regression suite grows with each reported failure);
    its reference ds_…@N."""
    path = run.work / "corvane-qa-eval-2.jsonl"
    lines = [chat_line(f.eval, f.answer) for f in sheet]
    lines += [chat_line(a.question, a.fact.answer) for a in reported if a.fact is not None]
    path.write_text("".join(line + "\n" for line in lines))
    doc = run.gw.upload_document(path, metadata={"source": "keel-demo", "kind": "qa-eval"})
    run.found.documents[path.name] = doc
    note = "held-out questions + the questions users reported"
    version = build(run, EVAL_SET, [path.name], note, show=False)
    run.found.datasets["eval_grown"] = version["id"]
    run.found.dataset_counts["eval_grown"] = version.get("counts") or {}
    run.say(
        f"the evaluation set grows: [bold]{version['id']}[/bold] ({EVAL_SET}) = the {len(sheet)} held-out "
        f"questions + the {len(lines) - len(sheet)} users reported; the next gate asks all {len(lines)}"
    )
    return str(version["id"])
