"""The per-document stage of a build (run per shard, in parallel): chunk with the base model's
tokenizer, score quality, scrub PII. Every chunk comes out as a ``Candidate``, dropped ones too,
with the reason, so the manifest can count each stage and a trainer can see why."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from keel_common import pii
from keel_ingestion.core.chunk import Chunker
from keel_ingestion.core.extract import Extracted
from keel_ingestion.core.quality import scores, verdict
from keel_ingestion.core.recipe import Recipe


@dataclass
class Candidate:
    document_id: str
    char_start: int
    char_end: int
    page: int | None
    page_end: int | None
    heading: str
    text: str  # after PII scrubbing
    tokens: int
    quality: dict[str, float] = field(default_factory=dict)
    pii: dict[str, int] = field(default_factory=dict)  # kind -> spans found
    dropped: str | None = None  # the stage's reason: a quality rule, "pii", later "duplicate"
    # JSONL chat documents pass their examples through unchanged.
    messages: list[dict[str, str]] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Candidate:
        raw: dict[str, Any] = json.loads(line)
        return cls(**raw)


def scrub(text: str, recipe: Recipe) -> tuple[str, dict[str, int], bool]:
    """(text with the redacted kinds replaced, spans found per kind, whether a 'drop' kind was
    found)."""
    spans = pii.find(text)
    found = Counter(s.kind for s in spans)
    drop = any(recipe.pii_action(s.kind) == "drop" for s in spans)
    redact = [s for s in spans if recipe.pii_action(s.kind) == "redact"]
    return (pii.redact(text, redact) if redact else text), dict(found), drop


def prepare(document_id: str, doc: Extracted, chunker: Chunker, recipe: Recipe) -> list[Candidate]:
    if doc.content_type == "application/jsonl":
        return _chat_examples(document_id, doc, recipe)
    out = []
    for ch in chunker.chunks(doc):
        s = scores(ch.text)
        reason = verdict(s, recipe.quality)
        text, found, drop = scrub(ch.text, recipe)
        if reason is None and drop:
            reason = "pii"
        out.append(
            Candidate(
                document_id,
                ch.start,
                ch.end,
                ch.page,
                ch.page_end,
                ch.heading,
                text,
                ch.tokens,
                s,
                found,
                reason,
            )
        )
    return out


def _chat_examples(document_id: str, doc: Extracted, recipe: Recipe) -> list[Candidate]:
    out = []
    for b in doc.blocks:
        row = json.loads(doc.text[b.start : b.end])
        messages, found, drop = [], Counter[str](), False
        for m in row["messages"]:
            content, f, d = scrub(m["content"], recipe)
            messages.append({"role": m["role"], "content": content})
            found.update(f)
            drop = drop or d
        text = "\n".join(m["content"] for m in messages)
        out.append(
            Candidate(
                document_id, b.start, b.end, None, None, "", text, 0, {}, dict(found),
                "pii" if drop else None, messages,
            )
        )  # fmt: skip
    return out
