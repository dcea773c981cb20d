"""Step 8 of the demo: one page on what happened — the final answer's lineage back to the handbook
page, the dataset versions, the jobs, the registry's versions and aliases, the scores before and
after, and where each component's Prometheus metrics are."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from keel_client.errors import GatewayError
from keel_dev.demo_eval import fmt
from keel_dev.demo_handbook import PDF, Fact
from keel_dev.demo_run import DemoRun


def _version(run: DemoRun, ref: str) -> dict[str, Any]:
    name, _, number = ref.rpartition("/")
    if not name or not number.isdigit():
        return {}
    try:
        return run.gw.get_model_version(name, int(number))
    except GatewayError:
        return {}


def _page(run: DemoRun, fact: Fact | None) -> str:
    """Where the handbook states ``fact``: the page an example of the training set has it from."""
    if fact is None or not fact.page:
        return ""
    page = run.found.pages.get(fact.key, fact.page)
    doc = run.found.documents.get(PDF, {}).get("id", "")
    return f"{PDF} ({doc}) page {page}: “{fact.answer}”"


def lineage(run: DemoRun) -> list[str]:
    """From the last answer back to the document page, one hop a line."""
    final = run.found.final or (run.found.answers[0] if run.found.answers else None)
    if final is None:
        return []
    lines = [
        f'answer "{final.text}"',
        f"  ← completion {final.completion_id} (request id {final.request_id})",
    ]
    ref, seen = final.served_by, set()
    while ref and ref not in seen:
        seen.add(ref)
        v = _version(run, ref)
        if not v:
            lines.append(f"  ← {ref} (the base model)")
            break
        lin = v.get("lineage") or {}
        aliases = ", ".join(v.get("aliases") or []) or "no alias"
        lines.append(
            f"  ← registry version {ref} ({aliases}), trained by job {lin.get('training_job_id')} on"
        )
        dataset = lin.get("dataset") or ""
        if dataset == run.found.datasets.get("feedback_sft"):
            c = run.found.corrected
            lines.append(f"      dataset version {dataset}: answers rated through /v1/feedback")
            if c is not None and c.fact is not None:
                lines.append(f"      among them the correction of {c.completion_id}: “{c.fact.answer}”")
                if page := _page(run, c.fact):
                    lines.append(f"      ← {page}")
        elif dataset == run.found.datasets.get("train"):
            lines.append(
                f"      dataset version {dataset}: QA synthesized from the handbook + the question sheet"
            )
            if page := _page(run, final.fact):
                lines.append(f"      ← {page}")
        else:
            lines.append(f"      dataset version {dataset or '?'}")
        ref = lin.get("parent_version") or v.get("base_model") or ""
    return lines


def stored_scores(version: dict[str, Any]) -> str:
    """The eval_f1 scores an evaluation stored on a version (keyed eval_f1:ds_…:N:split)."""
    out = []
    for key, score in sorted((version.get("metrics") or {}).items()):
        metric, _, rest = key.partition(":")
        if metric == "eval_f1" and rest:
            dataset, number, _split = rest.rsplit(":", 2)
            out.append(f"{dataset}@{number} {score:.3f}")
    return ", ".join(out) or "—"


def short_auto(auto: str) -> str:
    """ "epochs 3 (auto: 98 examples); batch_size 4 (…" → "epochs 3, batch_size 4, …"."""
    return ", ".join(part.split(" (")[0].strip() for part in auto.split(";") if part.strip())


def summary(run: DemoRun) -> None:
    f = run.found
    run.say("[bold]lineage of the last answer[/bold]")
    for line in lineage(run):
        run.note("  " + line)

    table = Table(title="dataset versions", title_justify="left")
    for col in ("role", "version", "examples", "from"):
        table.add_column(col)
    what = {
        "train": "the handbook PDF (QA synthesis) + the question sheet",
        "eval": "the held-out questions",
        "eval_grown": "the held-out questions + those users reported",
        "feedback_sft": "rated answers: corrections and thumbs-up",
        "feedback_dpo": "corrections preferred over the answers they correct (not trained on here)",
    }
    for role, ref in f.datasets.items():
        counts = f.dataset_counts.get(role, {}).get("examples") or {}
        table.add_row(role, ref, str(counts.get("train", "")), what.get(role, ""))
    run.console.print(table)

    table = Table(title="fine-tuning jobs", title_justify="left")
    for col in (
        "job",
        "started from",
        "trained on",
        "registered",
        "tokens",
        "seconds",
        "chosen by the service",
    ):
        table.add_column(col, overflow="fold")
    for j in f.jobs:
        table.add_row(
            j.id, j.starting_model, j.training_file, j.registry_version, f"{j.trained_tokens:,}",
            f"{j.seconds:.0f}", escape(short_auto(j.auto)),
        )  # fmt: skip
    run.console.print(table)

    if f.model:
        versions = run.gw.list_model_versions(f.model)
        table = Table(title=f"registry: {f.model}", title_justify="left")
        for col in ("version", "aliases", "status", "eval_f1 stored on it, per question set", "training job"):
            table.add_column(col)
        for v in versions:
            table.add_row(
                v["id"], ", ".join(v.get("aliases") or []), v.get("status", ""), stored_scores(v),
                (v.get("lineage") or {}).get("training_job_id") or "",
            )  # fmt: skip
        run.console.print(table)
        for move in run.gw.alias_history(f.model, "production", limit=5):
            moved = f"{move.get('from_version')} → {move.get('to_version')}"
            run.note(f"  production: {moved} by {move.get('actor')}: {move.get('reason')}")

    held_out, grown = f.datasets.get("eval", ""), f.datasets.get("eval_grown", "")
    table = Table(title="scores, asked closed book (F1 decides the gate)", title_justify="left")
    for col in ("model", "version", "questions", "F1", "exact match", "similarity"):
        table.add_column(col, justify="right" if col in ("F1", "exact match", "similarity") else "left")
    for label in ("base", "tuned", "retrained", "tuned@grown", "retrained@grown"):
        if label not in f.scores:
            continue
        s = f.scores.get(label) or {}
        questions = f"{grown} (+ reported)" if label.endswith("@grown") else f"{held_out} (held out)"
        table.add_row(
            label.split("@")[0], f.eval_refs.get(label, "?"), questions, fmt(s.get("eval_f1")),
            fmt(s.get("eval_exact_match")), fmt(s.get("eval_similarity")),
        )  # fmt: skip
    run.console.print(table)

    if run.platform is not None:
        run.say(
            "[bold]Prometheus metrics[/bold] (scrape while the platform runs; `keel up` keeps it running)"
        )
        for comp in run.platform.state.components.values():
            if comp.http:
                run.note(f"  {comp.name:17} {comp.http}/metrics")
