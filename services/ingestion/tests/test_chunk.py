"""Chunking with SmolLM2's own tokenizer: the budget holds for every chunk (a property test
over random documents), structure splits before tokens, overlap is carried, spans and pages
trace back to the document."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel_common.errors import InvalidArgument
from keel_ingestion.core.chunk import Chunker, sentence_spans
from keel_ingestion.core.extract import Block, Extracted
from keel_ingestion.core.tokens import HFTokenCounter


def doc_of(parts: list[tuple[str, str, int | None, int]]) -> Extracted:
    """(kind, text, page, level) blocks joined by blank lines, as extraction produces them."""
    text, blocks, pos = "", [], 0
    for kind, body, page, level in parts:
        if text:
            text += "\n\n"
            pos += 2
        blocks.append(Block(kind, pos, pos + len(body), page, level))
        text += body
        pos += len(body)
    return Extracted("text/plain", text, tuple(blocks), max([p or 1 for _, _, p, _ in parts] or [1]))


WORDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30
)
SENTENCE = st.lists(WORDS, min_size=1, max_size=40).map(lambda ws: " ".join(ws) + ".")
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=12).map(" ".join)
BLOCK = st.one_of(
    st.tuples(st.just("paragraph"), PARAGRAPH, st.integers(1, 5), st.just(0)),
    st.tuples(st.just("heading"), WORDS, st.integers(1, 5), st.integers(1, 3)),
    st.tuples(st.just("code"), st.lists(WORDS, min_size=1, max_size=30).map("\n".join), st.just(None),
              st.just(0)),
    # one enormous "word": only token windows can split it
    st.tuples(st.just("paragraph"), st.text(alphabet="abcdefghij0123456789", min_size=200, max_size=3000),
              st.just(None), st.just(0)),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(BLOCK, min_size=1, max_size=12),
    budget=st.integers(16, 200),
    overlap_frac=st.floats(0, 0.5),
)
def test_no_chunk_ever_exceeds_the_budget(
    counter: HFTokenCounter, parts, budget: int, overlap_frac: float
) -> None:
    doc = doc_of([p for p in parts if p[1].strip()] or [("paragraph", "x", 1, 0)])
    overlap = int(budget * overlap_frac)
    chunks = Chunker(counter, budget, overlap).chunks(doc)
    covered = [False] * len(doc.text)
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.tokens == counter.count(c.text) <= budget
        for i in range(c.start, c.end):
            covered[i] = True
    # nothing is lost: every non-space character of the document is in some chunk
    assert all(covered[i] for i, ch in enumerate(doc.text) if not ch.isspace())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_a_heading_starts_a_chunk_and_names_the_section(counter: HFTokenCounter) -> None:
    doc = doc_of([
        ("heading", "Pump manual", 1, 1),
        ("paragraph", "The pump moves water from the well to the tank.", 1, 0),
        ("heading", "Safety", 2, 2),
        ("paragraph", "Switch the pump off before opening the housing.", 2, 0),
    ])  # fmt: skip
    chunks = Chunker(counter, 200, 0).chunks(doc)
    assert [c.text.split("\n\n")[0] for c in chunks] == ["Pump manual", "Safety"]
    assert [c.heading for c in chunks] == ["Pump manual", "Pump manual > Safety"]
    assert [(c.page, c.page_end) for c in chunks] == [(1, 1), (2, 2)]


def test_paragraphs_pack_whole_and_a_long_one_splits_at_sentences(counter: HFTokenCounter) -> None:
    short = [("paragraph", f"Short paragraph number {i} about valves.", 1, 0) for i in range(3)]
    long = " ".join(f"Sentence {i} explains one more detail of the relief valve." for i in range(30))
    chunks = Chunker(counter, 64, 0).chunks(doc_of([*short, ("paragraph", long, 2, 0)]))
    # the three short paragraphs stay whole, in one chunk
    assert chunks[0].text.startswith("\n\n".join(t for _, t, _, _ in short))
    # the long paragraph is cut only at sentence ends: every chunk ends with a whole sentence
    assert len(chunks) > 2
    for c in chunks:
        assert c.text.endswith("."), c.text[-40:]
        assert c.text.split("\n\n")[-1].startswith(("Sentence", "Short"))


def test_a_table_that_fits_stays_whole(counter: HFTokenCounter) -> None:
    table = "| part | torque |\n| --- | --- |\n| bolt A | 12 Nm |\n| bolt B | 30 Nm |"
    parts = [
        ("paragraph", "Intro sentence about torque values for the housing.", 1, 0),
        ("table", table, 1, 0),
    ]
    chunks = Chunker(counter, 40, 0).chunks(doc_of(parts))
    assert any(c.text == table for c in chunks) or any(table in c.text for c in chunks)


def test_overlap_carries_the_previous_chunks_last_sentences(counter: HFTokenCounter) -> None:
    text = " ".join(f"Fact {i} is that valve {i} opens at {i + 2} bar." for i in range(40))
    chunks = Chunker(counter, 60, 20).chunks(doc_of([("paragraph", text, 1, 0)]))
    assert len(chunks) > 2
    for prev, nxt in itertools.pairwise(chunks):
        assert nxt.start < prev.end  # overlapping spans
        assert counter.count(prev.text[nxt.start - prev.start :]) <= 20


def test_sentence_spans() -> None:
    text = "One. Two!  Three?\nFour"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["One.", "Two!", "Three?", "Four"]


@pytest.mark.parametrize(
    ("size", "overlap", "field"), [(8, 0, "chunking.size"), (64, 40, "chunking.overlap")]
)
def test_bad_parameters_name_the_field(counter: HFTokenCounter, size: int, overlap: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Chunker(counter, size, overlap)
    assert err.value.field == field
