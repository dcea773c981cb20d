"""Dataset examples, their train/validation split grouped by document, and Parquet output that
``datasets.load_dataset("parquet", data_files=...)`` reads.

Every example keeps its lineage: the document, the page range and the character span of the
passage it came from, so an answer can be traced back to a PDF page.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from keel_common.errors import InvalidArgument

FORMATS = ("qa_with_context", "qa_closed_book", "text")
SPLITS = ("train", "validation")


@dataclass
class Example:
    document_id: str
    char_start: int
    char_end: int
    page: int | None
    page_end: int | None
    heading: str
    passage: str  # the chunk it came from (after PII scrubbing)
    question: str = ""
    answer: str = ""
    quality: dict[str, float] = field(default_factory=dict)
    chat: list[dict[str, str]] | None = None  # a JSONL chat example, passed through as it is

    @property
    def id(self) -> str:
        """Stable across rebuilds: the same passage span and question give the same id."""
        key = f"{self.document_id}:{self.char_start}:{self.char_end}:{self.question}"
        return "ex_" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def messages(self, fmt: str) -> list[dict[str, str]]:
        if self.chat is not None:
            return self.chat
        if fmt == "qa_with_context":
            return [
                {"role": "system", "content": f"Answer using this passage.\n\n{self.passage}"},
                {"role": "user", "content": self.question},
                {"role": "assistant", "content": self.answer},
            ]
        if fmt == "qa_closed_book":
            return [{"role": "user", "content": self.question}, {"role": "assistant", "content": self.answer}]
        return []


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown output format {fmt!r}; one of {', '.join(FORMATS)}", field="format")
    return fmt


def split_of(document_id: str, validation_fraction: float, seed: int) -> str:
    """A document's split from a hash of its id: every chunk of one document lands in the same
    split, and adding documents never moves the others."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{document_id}".encode()).digest()[:8], "big")
    return "validation" if h / 2**64 < validation_fraction else "train"


def assign_splits(document_ids: Sequence[str], validation_fraction: float, seed: int) -> dict[str, str]:
    """Hash-based, but with two or more documents and a non-zero fraction both splits get at
    least one document (a tiny corpus would otherwise have no validation set); a single
    document is all training data (a validation split of it would leak its own passages)."""
    docs = sorted(set(document_ids))
    if len(docs) < 2:
        return dict.fromkeys(docs, "train")
    splits = {d: split_of(d, validation_fraction, seed) for d in document_ids}
    if validation_fraction > 0 and len(docs) >= 2:
        for wanted in SPLITS:
            if wanted not in splits.values():
                # the document whose hash is nearest the boundary moves
                def distance(d: str) -> float:
                    h = int.from_bytes(hashlib.sha256(f"{seed}:{d}".encode()).digest()[:8], "big") / 2**64
                    return abs(h - validation_fraction)

                splits[min(docs, key=distance)] = wanted
    return splits


_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def schema(fmt: str) -> pa.Schema:
    fields: list[pa.Field] = [pa.field("id", pa.string())]
    fields += [pa.field("text", pa.string())] if fmt == "text" else [pa.field("messages", pa.list_(_MESSAGE))]
    fields += [
        pa.field("document_id", pa.string()),
        pa.field("page", pa.int32()),
        pa.field("page_end", pa.int32()),
        pa.field("char_start", pa.int64()),
        pa.field("char_end", pa.int64()),
        pa.field("heading", pa.string()),
        pa.field("quality", pa.string()),  # JSON: every filter's score
    ]
    return pa.schema(fields)


def rows(examples: Iterable[Example], fmt: str) -> list[dict[str, Any]]:
    out = []
    for ex in examples:
        row: dict[str, Any] = {"id": ex.id}
        if fmt == "text":
            row["text"] = ex.passage
        else:
            row["messages"] = ex.messages(fmt)
        row.update(
            document_id=ex.document_id,
            page=ex.page,
            page_end=ex.page_end,
            char_start=ex.char_start,
            char_end=ex.char_end,
            heading=ex.heading,
            quality=json.dumps(ex.quality, sort_keys=True),
        )
        out.append(row)
    return out


def to_parquet(examples: Iterable[Example], fmt: str) -> bytes:
    table = pa.Table.from_pylist(rows(examples, fmt), schema=schema(fmt))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def to_jsonl(examples: Iterable[Example], fmt: str) -> bytes:
    """OpenAI's fine-tuning format ({"messages": [...]}) or {"text": ...} rows."""
    key = "text" if fmt == "text" else "messages"
    return "".join(
        json.dumps({key: ex.passage if fmt == "text" else ex.messages(fmt)}, ensure_ascii=False) + "\n"
        for ex in examples
    ).encode()


def read_parquet(data: bytes) -> list[dict[str, Any]]:
    rows_: list[dict[str, Any]] = pq.read_table(io.BytesIO(data)).to_pylist()
    return rows_
