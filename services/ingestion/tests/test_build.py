"""A dataset build through the core's stages (the inline queue runs the tasks in order; the
worker tests run the same stages on real Celery workers): chunks trace back to their document
and characters, quality and PII decisions are recorded, duplicates across documents are removed
with what they duplicated, the split is grouped by document, the Parquet files load with
``datasets``, the same fingerprint returns the same version, and cancelled or retried tasks
leave nothing behind twice."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Sequence
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from keel_common.errors import AlreadyExists, FailedPrecondition, NotFound
from keel_ingestion.core.build import load_extracted
from keel_ingestion.core.recipe import Recipe, Synthesis
from keel_ingestion.core.synth import Messages
from keel_ingestion.testing import corrupt_pdf, multi_page_pdf

TOPICS = ["valves", "seals", "bolts", "pumps", "filters", "gaskets"]


VERBS = ["inspect", "clean", "tighten", "replace", "lubricate", "calibrate", "photograph", "label"]
PLACES = ["north hall", "boiler room", "loading dock", "roof deck", "east annex", "pump house", "yard", "lab"]
TOOLS = ["torque wrench", "feeler gauge", "multimeter", "borescope", "grease gun", "clipboard", "tablet"]


def manual(topic: str, n: int = 6) -> bytes:
    """A small handbook whose paragraphs say different things (real prose repeats little; the
    quality filter drops text that repeats its own phrases)."""
    rnd = random.Random(topic)
    paras = []
    for i in range(n):
        verb, place, tool = rnd.choice(VERBS), rnd.choice(PLACES), rnd.choice(TOOLS)
        paras.append(
            f"Section {i} on {topic}: {verb} the {topic} in the {place} every {100 + 7 * i} hours "
            f"with a {tool}. Crew {rnd.randint(2, 99)} signs card {rnd.randint(1000, 9999)} once "
            f"shift {i % 3 + 1} has ended."
        )
    return (f"# {topic.title()} handbook\n\n" + "\n\n".join(paras)).encode()


def upload(core: SimpleNamespace, tenant: str, items: Sequence[tuple[str, bytes]]) -> list[str]:
    return [core.documents.upload(tenant, name, data)[0].id for name, data in items]


def rows(core: SimpleNamespace, version, split: str) -> list[dict]:
    f = version.file(split)
    return pq.read_table(io.BytesIO(core.store.get_bytes(f["uri"], f["sha256"]))).to_pylist()


def test_text_build_traces_every_example_to_its_document(core: SimpleNamespace) -> None:
    ids = upload(core, "acme", [(f"{t}.md", manual(t)) for t in TOPICS])
    pages = [
        f"Page {p} covers pressure step {p}. Open valve {p} slowly, wait for the gauge to settle near "
        f"{p * 2} bar, then note the time, the operator's initials and the tank level in the site log."
        for p in (1, 2, 3)
    ]
    pdf = core.documents.upload("acme", "field.pdf", multi_page_pdf(pages))[0]
    op = core.datasets.create("acme", "handbooks", Recipe(chunk_tokens=64, overlap_tokens=8), [*ids, pdf.id])
    assert op.status == "PENDING" and op.dataset_version == 1
    core.queue.drain()
    done = core.datasets.operation(op.id, "acme", events=True)
    assert done.status == "SUCCEEDED" and done.fraction == 1.0, done.error
    version = done.result
    assert version is not None and version.status == "READY" and version.ref == f"{op.dataset_id}@1"
    stages = [stage for _, stage, _ in done.events]
    assert stages.index("prepare") < stages.index("dedup") < stages.index("finalize")
    train, val = rows(core, version, "train"), rows(core, version, "validation")
    assert train and val
    # grouped by document: no document in both splits
    assert not {r["document_id"] for r in train} & {r["document_id"] for r in val}
    texts = {
        d: load_extracted(core.store.get_bytes(core.documents.get(d).extracted_uri)).text
        for d in [*ids, pdf.id]
    }
    for r in train + val:
        assert r["text"] == texts[r["document_id"]][r["char_start"] : r["char_end"]]
        assert '"words"' in r["quality"]
    pdf_rows = [r for r in train + val if r["document_id"] == pdf.id]
    assert {r["page"] for r in pdf_rows} == {1, 2, 3}
    assert all(f"Page {r['page']} covers" in r["text"] for r in pdf_rows)
    m = version.manifest
    assert [i["document_id"] for i in m["inputs"]] == [*ids, pdf.id] and len(m["fingerprint"]) == 64
    assert m["counts"]["documents"] == 7 and m["counts"]["examples"]["train"] == len(train)
    assert "keel-ingestion" in m["code_version"] and m["recipe"]["chunk_tokens"] == 64


def test_same_fingerprint_returns_the_existing_version(core: SimpleNamespace) -> None:
    ids = upload(core, "acme", [("a.md", manual("valves")), ("b.md", manual("seals"))])
    first = core.datasets.create("acme", "ds", Recipe(chunk_tokens=64), ids)
    core.queue.drain()
    again = core.datasets.create_version(first.dataset_id, "acme", Recipe(chunk_tokens=64), ids)
    assert again.id == first.id and again.result is not None and again.result.version == 1
    assert core.queue.tasks == []  # nothing was queued
    other = core.datasets.create_version(first.dataset_id, "acme", Recipe(chunk_tokens=96), ids)
    assert other.dataset_version == 2
    core.queue.drain()
    assert [x.version for x in core.datasets.versions(first.dataset_id, "acme")[0]] == [2, 1]
    assert core.datasets.get(first.dataset_id).latest_ready_version == 2
    with pytest.raises(AlreadyExists):
        core.datasets.create("acme", "ds", Recipe(), ids)


def test_duplicates_across_documents_are_removed_with_what_they_duplicate(core: SimpleNamespace) -> None:
    base = manual("valves", n=4)
    near = base.replace(b"Section 2 on valves", b"Section 2 on the valves").replace(
        b" hours", b" operating hours", 1
    )
    ids = upload(core, "acme", [("orig.md", base), ("copy.md", base + b"\n\n"), ("near.md", near)])
    op = core.datasets.create("acme", "dups", Recipe(chunk_tokens=400, overlap_tokens=0), ids)
    core.queue.drain()
    version = core.datasets.operation(op.id).result
    counts = version.manifest["counts"]
    assert counts["duplicates"].get("exact", 0) >= 1 and counts["duplicates"].get("near", 0) >= 1
    kept = rows(core, version, "train") + rows(core, version, "validation")
    assert {r["document_id"] for r in kept} == {ids[0]}  # the first occurrence wins


def test_pii_is_redacted_or_drops_the_example_by_kind(core: SimpleNamespace) -> None:
    doc = (
        b"# Contacts\n\nFor warranty claims write to claims.team@example.com and quote the serial "
        b"number of the unit, the purchase date and the dealer's name.\n\nThe escalation desk "
        b"answers on +44 20 7946 0958 from Monday to Friday, nine to five, for every open warranty case."
    )
    ids = upload(core, "acme", [("contacts.md", doc)])
    op = core.datasets.create(
        "acme", "pii", Recipe(chunk_tokens=48, overlap_tokens=0, pii={"phone": "drop"}), ids
    )
    core.queue.drain()
    version = core.datasets.operation(op.id).result
    texts = [r["text"] for r in rows(core, version, "train") + rows(core, version, "validation")]
    assert any("[REDACTED:EMAIL]" in t for t in texts) and not any("example.com" in t for t in texts)
    assert not any("7946" in t for t in texts)  # the phone's example was dropped
    counts = version.manifest["counts"]
    assert counts["pii"] == {"email": 1, "phone": 1} and counts["dropped"]["pii"] == 1


def test_low_quality_chunks_are_dropped_with_their_reason(core: SimpleNamespace) -> None:
    junk = "\n\n".join(["$$$ ### %%% @@@ !!! *** ((( ))) +++ === ~~~ ^^^ &&& |||"] * 3)
    ids = upload(core, "acme", [("good.md", manual("pumps")), ("junk.txt", junk.encode())])
    op = core.datasets.create("acme", "q", Recipe(chunk_tokens=64, overlap_tokens=0), ids)
    core.queue.drain()
    counts = core.datasets.operation(op.id).result.manifest["counts"]
    assert counts["dropped"].get("mostly_symbols", 0) + counts["dropped"].get("too_short", 0) >= 1


class Written:
    """Completions written here, standing in for the model in these core tests so the grounding
    rules are exercised exactly (the real model writes them in the worker and e2e tests)."""

    def __init__(self, answer_for: dict[str, str]) -> None:
        self.answer_for = answer_for
        self.batches: list[int] = []

    def generate(self, conversations: Sequence[Messages], max_tokens: int, temperature: float) -> list[str]:
        self.batches.append(len(conversations))
        out = []
        for conv in conversations:
            passage = conv[-1]["content"]
            topic = next(t for t in TOPICS if t in passage)
            out.append(
                f"Q: How often are the {topic} inspected?\nA: {self.answer_for[topic]}\n"
                "Q: Which section comes first?\nA: Section 0"
            )
        return out


def test_qa_synthesis_keeps_grounded_pairs_and_dedups_questions(core: SimpleNamespace) -> None:
    core.generator = Written({"valves": "every 100 hours", "seals": "once a decade by the moon council"})
    ids = upload(core, "acme", [("valves.md", manual("valves", n=2)), ("seals.md", manual("seals", n=2))])
    recipe = Recipe(
        chunk_tokens=400, overlap_tokens=0, format="qa_with_context", synthesis=Synthesis(pairs_per_chunk=2),
        validation_fraction=0.5,
    )  # fmt: skip
    op = core.datasets.create("acme", "qa", recipe, ids)
    core.queue.drain()
    version = core.datasets.operation(op.id).result
    assert version is not None, core.datasets.operation(op.id).error
    counts = version.manifest["counts"]
    assert counts["qa_passages"] == 2 and counts["qa_proposed"] == 4
    # the invented answer about seals is not in its passage; the duplicate question goes once
    assert counts["qa_kept"] == 3 and counts["question_duplicates"] == 1
    examples = rows(core, version, "train") + rows(core, version, "validation")
    assert len(examples) == 2
    for r in examples:
        system, _user, assistant = r["messages"]
        assert system["role"] == "system" and r["document_id"] in ids
        assert assistant["content"].lower() in system["content"].lower()
    # the same rows in OpenAI's fine-tuning format, what training reads
    jsonl = [
        json.loads(line)
        for split in ("train", "validation")
        for line in core.store.get_bytes(version.file(f"{split}.jsonl")["uri"]).decode().splitlines()
    ]
    assert [j["messages"] for j in jsonl] == [r["messages"] for r in examples]
    assert core.generator.batches == [2]  # both passages in one batched call (one synthesis shard)


def test_cancel_stops_the_build_and_fails_the_version(core: SimpleNamespace) -> None:
    ids = upload(core, "acme", [(f"{t}.md", manual(t)) for t in TOPICS])
    op = core.datasets.create("acme", "c", Recipe(), ids)
    core.queue.drain(limit=2)  # start, and the first shard
    assert core.datasets.cancel(op.id, "acme").status in ("PENDING", "RUNNING")
    core.queue.drain()
    done = core.datasets.operation(op.id)
    assert done.status == "CANCELLED" and done.finished_at is not None
    assert core.datasets.version(op.dataset_id, 1).status == "FAILED"
    assert core.datasets.cancel(op.id).status == "CANCELLED"  # a finished build stays as it is


def test_a_retried_task_does_not_duplicate_output(core: SimpleNamespace) -> None:
    ids = upload(core, "acme", [(f"{t}.md", manual(t)) for t in TOPICS[:4]])
    op = core.datasets.create("acme", "r", Recipe(validation_fraction=0), ids)
    core.queue.drain(limit=2)
    # a worker lost after its task finished: the broker delivers the same task again
    core.queue.tasks.insert(0, (op.id, "prepare", 0))
    core.queue.drain()
    version = core.datasets.operation(op.id).result
    train = rows(core, version, "train")
    assert len({r["id"] for r in train}) == len(train)
    assert version.manifest["counts"]["examples"]["train"] == len(train)


def test_inputs_must_be_the_tenants_ready_documents(core: SimpleNamespace) -> None:
    good = upload(core, "acme", [("a.md", manual("valves"))])
    bad = core.documents.upload("acme", "broken.pdf", corrupt_pdf())[0]
    theirs = upload(core, "globex", [("b.md", manual("seals"))])
    with pytest.raises(FailedPrecondition) as err:
        core.datasets.create("acme", "x", Recipe(), [*good, bad.id])
    assert err.value.field == "document_ids[1]" and "broken.pdf" in err.value.message
    with pytest.raises(NotFound) as nf:
        core.datasets.create("acme", "x", Recipe(), [*good, *theirs])
    assert nf.value.field == "document_ids[1]"
    with pytest.raises(NotFound):
        core.datasets.get(core.datasets.create("acme", "x", Recipe(), good).dataset_id, "globex")


def test_a_build_whose_worker_died_is_sent_again(core: SimpleNamespace) -> None:
    ids = upload(core, "acme", [(f"{t}.md", manual(t)) for t in TOPICS[:4]])
    op = core.datasets.create("acme", "lost", Recipe(validation_fraction=0), ids)
    core.queue.drain(limit=2)  # start, then one prepare shard...
    lost = list(core.queue.tasks)
    core.queue.tasks.clear()  # ...and the worker holding the other one died with it
    assert core.builds.lost(stale_after_s=3600) == []  # touched just now: not lost
    again = core.builds.lost(stale_after_s=0)
    assert [(o, st, sh) for o, st, sh in again] == lost and all(o == op.id for o, _, _ in again)
    core.queue.tasks += again
    core.queue.drain()
    done = core.datasets.operation(op.id, events=True)
    assert done.status == "SUCCEEDED"
    assert any("sent 1 prepare task(s) again" in msg for _, _, msg in done.events)


def test_pii_actions_per_kind() -> None:
    from keel_ingestion.core.prepare import scrub

    text = "Mail ann@example.com or call +44 20 7946 0958."
    redacted, found, drop = scrub(text, Recipe())
    assert redacted == "Mail [REDACTED:EMAIL] or call [REDACTED:PHONE]." and found == {"email": 1, "phone": 1}
    assert not drop
    kept, _, drop = scrub(text, Recipe(pii={"email": "keep", "phone": "keep"}))
    assert kept == text and not drop
    _, _, drop = scrub(text, Recipe(pii={"email": "keep", "phone": "drop"}))
    assert drop
