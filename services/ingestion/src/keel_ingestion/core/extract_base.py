"""The types every extractor shares: blocks, the result, the failure, and the builder that lays
blocks out in the text while normalising them. See ``extract`` for the invariant on blocks."""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from dataclasses import dataclass

HEADING = "heading"
PARAGRAPH = "paragraph"
TABLE = "table"
CODE = "code"
LIST = "list"
KINDS = frozenset({HEADING, PARAGRAPH, TABLE, CODE, LIST})
# Blocks whose lines keep their spacing (indentation, column alignment) and their blank lines.
VERBATIM_KINDS = frozenset({CODE, TABLE})
SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Block:
    """A structural unit of a document's text."""

    kind: str  # "heading" | "paragraph" | "table" | "code" | "list"
    start: int  # char offset into Extracted.text
    end: int  # exclusive
    page: int | None  # 1-based page for PDFs; None for every other format
    level: int = 0  # heading level (1..6) for headings, else 0


@dataclass(frozen=True)
class Extracted:
    content_type: str
    text: str  # the document's plain text: blocks' texts joined by ``separator``
    blocks: tuple[Block, ...]
    pages: int  # pages for PDF; 1 for everything else
    examples: int = 0  # valid chat examples (lines) of an application/jsonl file, else 0

    @property
    def separator(self) -> str:
        """What lies between two blocks: one newline for JSONL (its lines stay a JSONL file),
        a blank line for everything else."""
        return "\n" if self.content_type == "application/jsonl" else SEPARATOR

    def block_text(self, block: Block) -> str:
        return self.text[block.start : block.end]


class ExtractionError(Exception):
    """A stored document that cannot be used (its status becomes FAILED with ``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# C0/C1 controls except \t and \n (\r is folded into \n first), the BOM as a zero-width no-break
# space, soft hyphens (PDF line-break artefacts) and the non-characters lxml rejects.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u00ad\ufffe\uffff]")
_SPACES = re.compile("[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_NEWLINES = re.compile(r"\r\n?")


def clean(raw: str) -> str:
    """NFC, newlines as \\n, no control characters (except \\t and \\n)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", _NEWLINES.sub("\n", raw)))


def _prose(raw: str, keep_indent: bool) -> str:
    lines = []
    for line in clean(raw).split("\n"):
        body = _SPACES.sub(" ", line).strip()
        if body:
            indent = len(line) - len(line.lstrip(" ")) if keep_indent else 0
            lines.append(" " * indent + body)
    return "\n".join(lines)


def _verbatim(raw: str) -> str:
    lines = [line.rstrip() for line in clean(raw).split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def normalise(kind: str, raw: str) -> str:
    """A block's text as stored: code and table lines keep their spacing (only trailing
    whitespace goes); other blocks collapse runs of spaces, drop blank lines and (except list
    nesting) indentation, so only a code block can hold a blank line."""
    if kind in VERBATIM_KINDS:
        return _verbatim(raw)
    return _prose(raw, keep_indent=kind == LIST)


class Builder:
    """Accumulates normalised blocks and their offsets; fails as soon as the text passes the limit
    so a document that expands enormously stops early instead of filling memory."""

    def __init__(self, max_text_chars: int, separator: str = SEPARATOR) -> None:
        self.max_text_chars = max_text_chars
        self.separator = separator
        self._parts: list[str] = []
        self._blocks: list[Block] = []
        self._size = 0

    def add(
        self, kind: str, raw: str, *, page: int | None = None, level: int = 0, verbatim: bool = False
    ) -> None:
        """Adds one block; empty ones are dropped. ``verbatim`` skips normalisation (JSONL lines)."""
        text = raw if verbatim else normalise(kind, raw)
        if not text:
            return
        start = self._size + (len(self.separator) if self._parts else 0)
        end = start + len(text)
        if end > self.max_text_chars:
            raise ExtractionError(too_long(self.max_text_chars))
        self._parts.append(text)
        self._blocks.append(Block(kind, start, end, page, level if kind == HEADING else 0))
        self._size = end

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._blocks)

    def build(self, content_type: str, pages: int = 1, examples: int = 0) -> Extracted:
        return Extracted(content_type, self.separator.join(self._parts), tuple(self._blocks), pages, examples)


def too_long(limit: int) -> str:
    return f"extracted text exceeds the limit of {limit:,} characters (an expansion bomb? split the document)"


def no_text(what: str) -> ExtractionError:
    return ExtractionError(f"the {what} has no extractable text")


_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_JUNK = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd]")
# A real text file has almost none of these; a binary one decoded as UTF-8 is mostly them.
_MAX_JUNK_RATIO = 0.3


# Compressed files can decode as plausible UTF-8; never inflate them (a bomb), name them.
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"(\xb5/\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Bytes to str: a BOM wins, then ``charset`` (when Python knows it), then UTF-8 with replacement.
    Raises ExtractionError for compressed data and when the result is mostly replacement or control
    characters."""
    for magic, name in _COMPRESSED.items():
        if data.startswith(magic):
            raise ExtractionError(f"the file is {name}-compressed, not text; upload it uncompressed")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            text = data[len(bom) :].decode(encoding, errors="replace")
            break
    else:
        encoding = "utf-8"
        if charset:
            with contextlib.suppress(LookupError):  # an unknown charset: UTF-8
                encoding = codecs.lookup(charset).name
        text = data.decode(encoding, errors="replace")
    sample = text[:1_000_000]
    if sample and len(_JUNK.findall(sample)) > _MAX_JUNK_RATIO * len(sample):
        raise ExtractionError("the file is not text (mostly binary or undecodable bytes)")
    return text
