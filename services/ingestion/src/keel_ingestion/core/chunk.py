"""Token-aware chunking: a document's blocks packed into chunks of at most ``budget`` tokens of
the target model's tokenizer, with ``overlap`` tokens carried over between neighbours.

Structure is split before tokens: a heading starts a new chunk; blocks (paragraphs, lists, and
tables or code blocks, kept whole when they fit) are packed whole; a block too big for one chunk
is split into sentences, and only a sentence too big for one chunk is cut between tokens. Every
chunk is a contiguous span ``[start, end)`` of the document's text, so it can be traced back to
its characters and page; its token count is measured on exactly that span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel_common.errors import InvalidArgument
from keel_ingestion.core.extract import Extracted
from keel_ingestion.core.tokens import TokenCounter

# A sentence ends at . ! ? (and the CJK full stop) followed by whitespace, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])[\"')\]]*\s+|\n+")


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    text: str
    tokens: int
    page: int | None  # the page of its first character (PDF), else None
    page_end: int | None
    heading: str  # the headings above it, outermost first, joined by " > "


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    page: int | None
    section: int  # units of different sections never share a chunk


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, whitespace between them left out."""
    end = len(text) if end is None else end
    spans, pos = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < end:
        spans.append((pos, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def check_params(budget: int, overlap: int) -> None:
    if budget < 16:
        raise InvalidArgument("must be at least 16 tokens", field="chunking.size")
    if not 0 <= overlap <= budget // 2:
        raise InvalidArgument("must be between 0 and half the chunk size", field="chunking.overlap")


class Chunker:
    def __init__(self, counter: TokenCounter, budget: int, overlap: int) -> None:
        check_params(budget, overlap)
        self.counter, self.budget, self.overlap = counter, budget, overlap

    def chunks(self, doc: Extracted) -> list[Chunk]:
        units = self._units(doc)
        headings = _heading_paths(doc)
        chunks: list[Chunk] = []
        i = 0
        while i < len(units):
            first = units[i]
            start = first.start
            prev = chunks[-1] if chunks and units[i - 1].section == first.section else None
            if prev is not None and self.overlap:
                start = self._overlap_start(doc.text, prev.start, prev.end, first)
            j = i
            total = self._count(doc.text, start, first.start) if start < first.start else 0
            # Pack whole units while the estimate fits; the exact count of the span decides.
            while j < len(units) and units[j].section == first.section:
                if total + units[j].tokens > self.budget and j > i:
                    break
                total += units[j].tokens
                j += 1
            while True:
                end = units[j - 1].end
                n = self._count(doc.text, start, end)
                if n <= self.budget:
                    break
                if j - 1 > i:
                    j -= 1  # boundary merges cost a token or two more than the estimate
                elif start < first.start:
                    start = first.start  # the overlap did not fit beside this unit
                else:  # units are measured alone and never exceed the budget
                    raise RuntimeError(f"a unit of {n} tokens exceeds the budget of {self.budget}")
            chunks.append(self._chunk(doc, start, end, n, units[i:j], headings))
            i = j
        return chunks

    def _units(self, doc: Extracted) -> list[_Unit]:
        """Blocks as units; a block over the budget as sentences; a sentence over it as token
        windows."""
        section, spans = 0, []
        for b in doc.blocks:
            if b.kind == "heading":
                section += 1
            spans.append((b.start, b.end, b.page, section))
        counts = self.counter.count_many([doc.text[a:z] for a, z, _, _ in spans])
        units: list[_Unit] = []
        for (a, z, page, sec), n in zip(spans, counts, strict=True):
            if n <= self.budget:
                units.append(_Unit(a, z, n, page, sec))
                continue
            sentences = sentence_spans(doc.text, a, z)
            counted = self.counter.count_many([doc.text[x:y] for x, y in sentences])
            for (sa, sz), sn in zip(sentences, counted, strict=True):
                if sn <= self.budget:
                    units.append(_Unit(sa, sz, sn, page, sec))
                    continue
                for wa, wz in self.counter.windows(doc.text[sa:sz], self.budget):
                    piece = doc.text[sa + wa : sa + wz]
                    if piece.strip():
                        units.append(_Unit(sa + wa, sa + wz, self.counter.count(piece), page, sec))
        return units

    def _overlap_start(self, text: str, prev_start: int, prev_end: int, first: _Unit) -> int:
        """The earliest sentence start in the previous chunk whose tail fits the overlap and
        leaves room for the next unit."""
        room = min(self.overlap, self.budget - first.tokens)
        best = first.start
        for a, _ in reversed(sentence_spans(text, prev_start, prev_end)):
            if a <= prev_start or self._count(text, a, prev_end) > room:
                break
            best = a
        return best

    def _count(self, text: str, start: int, end: int) -> int:
        return self.counter.count(text[start:end])

    @staticmethod
    def _chunk(
        doc: Extracted, start: int, end: int, tokens: int, units: list[_Unit], headings: dict[int, str]
    ) -> Chunk:
        pages = [b.page for b in doc.blocks if b.page is not None and b.start < end and b.end > start]
        return Chunk(
            start=start,
            end=end,
            text=doc.text[start:end],
            tokens=tokens,
            page=min(pages) if pages else None,
            page_end=max(pages) if pages else None,
            heading=headings.get(units[0].section, ""),
        )


def _heading_paths(doc: Extracted) -> dict[int, str]:
    """Section number -> its heading path ("Manual > Safety > Lifting")."""
    stack: list[tuple[int, str]] = []
    paths, section = {}, 0
    for b in doc.blocks:
        if b.kind != "heading":
            continue
        section += 1
        level = b.level or 1
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, " ".join(doc.text[b.start : b.end].split())))
        paths[section] = " > ".join(t for _, t in stack if t)
    return paths
