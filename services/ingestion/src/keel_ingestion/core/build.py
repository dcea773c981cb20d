"""A dataset version's build as stages over the artifact store, each a plain function a Celery
task calls (``keel_ingestion.worker``) and a test can call directly:

1. ``prepare_shard`` (per shard of documents, in parallel): chunk, score, scrub.
2. ``dedup`` (once): exact and near duplicates across the whole version, first occurrence kept;
   the kept chunks are cut into synthesis shards.
3. ``synthesize_shard`` (per shard, in parallel; only for QA formats): grounded QA pairs.
4. ``finalize`` (once): question dedup, the split grouped by document, Parquet, the manifest.

Each stage writes its output under ``builds/<build>/`` at a key fixed by its inputs, so a stage
retried after a lost worker overwrites its own output and never duplicates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from keel_common.artifacts import ArtifactRef, ArtifactStore
from keel_ingestion.core import examples as ex
from keel_ingestion.core.chunk import Chunker
from keel_ingestion.core.dedup import Deduper
from keel_ingestion.core.extract import Block, Extracted
from keel_ingestion.core.prepare import Candidate, prepare
from keel_ingestion.core.recipe import Recipe
from keel_ingestion.core.synth import Generator, normalise, synthesize
from keel_ingestion.core.tokens import TokenCounter


@dataclass(frozen=True)
class DocInput:
    document_id: str
    sha256: str
    extracted_uri: str  # the Extracted JSON written at upload


def dump_extracted(doc: Extracted) -> bytes:
    return json.dumps(asdict(doc), separators=(",", ":")).encode()


def load_extracted(data: bytes) -> Extracted:
    raw: dict[str, Any] = json.loads(data)
    raw["blocks"] = tuple(Block(**b) for b in raw["blocks"])
    return Extracted(**raw)


def shards(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _jsonl(cands: Sequence[Candidate]) -> bytes:
    return "".join(c.to_json() + "\n" for c in cands).encode()


def _candidates(data: bytes) -> list[Candidate]:
    return [Candidate.from_json(line) for line in data.decode().splitlines() if line]


@dataclass
class StageCounts:
    """What each stage kept and dropped: the manifest's counts and the build's metrics."""

    documents: int = 0
    chunks: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> chunks
    pii: dict[str, int] = field(default_factory=dict)  # kind -> spans found
    duplicates: dict[str, int] = field(default_factory=dict)  # exact / near
    qa_passages: int = 0
    qa_proposed: int = 0
    qa_kept: int = 0
    question_duplicates: int = 0
    examples: dict[str, int] = field(default_factory=dict)  # split -> examples

    def merge(self, other: dict[str, Any]) -> None:
        for k, v in other.items():
            if isinstance(v, dict):
                mine = getattr(self, k)
                for kk, vv in v.items():
                    mine[kk] = mine.get(kk, 0) + vv
            else:
                setattr(self, k, getattr(self, k) + v)


def prepare_shard(
    store: ArtifactStore, build: str, index: int, docs: Sequence[DocInput], recipe: Recipe,
    counter: TokenCounter,
    progress: Callable[[int], None] = lambda _: None,
) -> ArtifactRef:  # fmt: skip
    chunker = Chunker(counter, recipe.chunk_tokens, recipe.overlap_tokens)
    out: list[Candidate] = []
    for n, d in enumerate(docs, 1):
        doc = load_extracted(store.get_bytes(d.extracted_uri))
        out.extend(prepare(d.document_id, doc, chunker, recipe))
        progress(n)
    return store.put_bytes(f"builds/{build}/prepare-{index:05d}.jsonl", _jsonl(out))


def dedup(
    store: ArtifactStore, build: str, prepared: Sequence[str], recipe: Recipe, shard_size: int
) -> tuple[list[ArtifactRef], StageCounts]:
    """Reads the prepared shards in order, marks duplicates, writes the kept candidates as
    synthesis shards of ``shard_size`` chunks (one shard when there is no synthesis)."""
    counts = StageCounts()
    kept: list[Candidate] = []
    deduper = Deduper(threshold=recipe.near_dup_threshold) if recipe.dedup else None
    docs: set[str] = set()
    for uri in prepared:
        for c in _candidates(store.get_bytes(uri)):
            docs.add(c.document_id)
            counts.chunks += 1
            for kind, n in c.pii.items():
                counts.pii[kind] = counts.pii.get(kind, 0) + n
            if c.dropped is None and deduper is not None:
                dup = deduper.add(f"{c.document_id}:{c.char_start}:{c.char_end}", c.text)
                if dup is not None:
                    c.dropped = f"duplicate:{dup.kind}:{dup.of}:{dup.similarity:.3f}"
                    counts.duplicates[dup.kind] = counts.duplicates.get(dup.kind, 0) + 1
            if c.dropped is not None:
                reason = c.dropped.split(":", 1)[0]
                counts.dropped[reason] = counts.dropped.get(reason, 0) + 1
            else:
                kept.append(c)
    counts.documents = len(docs)
    size = shard_size if recipe.synthesis is not None else max(1, len(kept))
    refs = [
        store.put_bytes(f"builds/{build}/kept-{i:05d}.jsonl", _jsonl(part))
        for i, part in enumerate(shards(kept, size) or [[]])
    ]
    return refs, counts


def synthesize_shard(
    store: ArtifactStore, build: str, index: int, kept_uri: str, recipe: Recipe, gen: Generator
) -> tuple[ArtifactRef, StageCounts]:
    """QA pairs for the shard's passages; JSONL chat examples pass through untouched."""
    assert recipe.synthesis is not None
    syn = recipe.synthesis
    cands = _candidates(store.get_bytes(kept_uri))
    passages = [c for c in cands if c.messages is None]
    results = synthesize(
        [c.text for c in passages], gen, pairs=syn.pairs_per_chunk, max_tokens=syn.max_tokens,
        temperature=syn.temperature, min_support=syn.min_support,
    )  # fmt: skip
    counts = StageCounts(qa_passages=len(passages))
    rows = [{"candidate": json.loads(c.to_json()), "question": "", "answer": ""} for c in cands if c.messages]
    for c, (pairs, proposed) in zip(passages, results, strict=True):
        counts.qa_proposed += proposed
        counts.qa_kept += len(pairs)
        rows += [
            {"candidate": json.loads(c.to_json()), "question": p.question, "answer": p.answer} for p in pairs
        ]
    data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode()
    return store.put_bytes(f"builds/{build}/qa-{index:05d}.jsonl", data), counts


def _example(c: Candidate, question: str = "", answer: str = "") -> ex.Example:
    return ex.Example(
        c.document_id, c.char_start, c.char_end, c.page, c.page_end, c.heading, c.text, question, answer,
        c.quality, c.messages,
    )  # fmt: skip


def finalize(
    store: ArtifactStore, key: str, parts: Sequence[str], recipe: Recipe, counts: StageCounts
) -> dict[str, ArtifactRef]:
    """The version's files under ``key``: per split a Parquet file (the dataset, with lineage
    columns) and a JSONL file in OpenAI's fine-tuning format (what training reads);
    ``parts`` are the kept shards (text) or the QA shards, in order."""
    examples: list[ex.Example] = []
    seen_questions: set[str] = set()
    for uri in parts:
        for line in store.get_bytes(uri).decode().splitlines():
            if not line:
                continue
            if recipe.synthesis is None:
                c = Candidate.from_json(line)
                if c.messages is None:  # (chat examples have no place in a text dataset)
                    examples.append(_example(c))
                continue
            row = json.loads(line)
            c = Candidate(**row["candidate"])
            if c.messages is None:
                q = normalise(row["question"])
                if q in seen_questions:
                    counts.question_duplicates += 1
                    continue
                seen_questions.add(q)
            examples.append(_example(c, row["question"], row["answer"]))
    splits = ex.assign_splits([e.document_id for e in examples], recipe.validation_fraction, recipe.seed)
    by_split: dict[str, list[ex.Example]] = {s: [] for s in ex.SPLITS}
    for e in examples:
        by_split[splits[e.document_id]].append(e)
    counts.examples = {s: len(v) for s, v in by_split.items()}
    out: dict[str, ArtifactRef] = {}
    for s, v in by_split.items():
        out[s] = store.put_bytes(f"{key}/{s}.parquet", ex.to_parquet(v, recipe.format))
        out[f"{s}.jsonl"] = store.put_bytes(f"{key}/{s}.jsonl", ex.to_jsonl(v, recipe.format))
    return out
