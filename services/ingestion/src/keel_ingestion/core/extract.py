"""Document bytes to structured plain text: PDF, HTML, Markdown, plain text, DOCX and JSONL chat files.

``detect_type`` names a file's type (magic bytes, then the declared type, then the extension);
``extract`` turns its bytes into an ``Extracted``: the text and its ``Block``s. Transport-free.

The invariant on blocks, for every format:

* ``text == extracted.separator.join(text[b.start:b.end] for b in blocks)``: the blocks tile the
  text in order, separated by exactly ``"\\n\\n"`` (``"\\n"`` for JSONL, whose text stays JSONL);
* every block's text is non-empty, neither starts nor ends with a newline and has no trailing
  whitespace; only a ``code`` block can contain a blank line (``"\\n\\n"``) -- code keeps its lines
  verbatim, so the blocks, not a split on ``"\\n\\n"``, are the structure;
* the text is NFC, has no control characters other than ``\\n`` and ``\\t``, and outside code and
  table blocks no runs of spaces and no indentation (list items keep their nesting indent);
  JSONL lines are the exception: training data passes through verbatim;
* ``page`` is the 1-based page for PDFs, ``None`` otherwise; ``level`` is 1..6 for headings, else 0.

Failures: an empty file or an unsupported type is the caller's mistake and rejected at upload
(``keel_common.errors.InvalidArgument``, field ``file``); a file of a supported type that cannot
be used (encrypted, corrupt, scanned, not text, over a limit, invalid chat lines) raises
``ExtractionError`` whose ``reason`` says why.

PDFs encrypted with an owner password only (they open with the empty user password, as every PDF
viewer does) are extracted; a PDF that needs a password to open fails as encrypted.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from typing import Any

from keel_common.errors import InvalidArgument
from keel_ingestion.core.extract_base import (
    CODE,
    HEADING,
    KINDS,
    LIST,
    PARAGRAPH,
    TABLE,
    Block,
    Builder,
    Extracted,
    ExtractionError,
    decode_text,
    no_text,
)

__all__ = [
    "CODE",
    "CONTENT_TYPES",
    "DOCX",
    "HEADING",
    "HTML",
    "JSONL",
    "KINDS",
    "LIST",
    "MARKDOWN",
    "PARAGRAPH",
    "PDF",
    "TABLE",
    "TEXT",
    "Block",
    "Extracted",
    "ExtractionError",
    "detect_type",
    "extract",
]

PDF = "application/pdf"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
JSONL = "application/jsonl"
CONTENT_TYPES = frozenset({PDF, HTML, MARKDOWN, TEXT, DOCX, JSONL})

_SUPPORTED = (
    "PDF, HTML, Markdown, plain text, DOCX, JSONL chat"
    " (.pdf .html .htm .md .markdown .txt .text .docx .jsonl)"
)
_EXTENSIONS = {
    ".pdf": PDF,
    ".html": HTML,
    ".htm": HTML,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": TEXT,
    ".text": TEXT,
    ".docx": DOCX,
    ".jsonl": JSONL,
}
_ALIASES = {
    "application/xhtml+xml": HTML,
    "text/x-markdown": MARKDOWN,
    "application/x-ndjson": JSONL,
    "application/jsonlines": JSONL,
    "application/x-jsonlines": JSONL,
}
# Declared types that say nothing about the format, or less than a known extension does
# (clients label .md and .jsonl files text/plain).
_WEAK_DECLARED = {"", "application/octet-stream", "binary/octet-stream", TEXT}
# An optional XML declaration and comments, then <!doctype html or <html.
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.I | re.S
)
_ZIP = b"PK\x03\x04"


def _canonical(declared: str) -> str:
    media = declared.split(";", 1)[0].strip().lower()
    return _ALIASES.get(media, media)


def _unsupported(what: str) -> InvalidArgument:
    return InvalidArgument(f"unsupported document type {what}; supported: {_SUPPORTED}", field="file")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    try:
        decode_text(head)
    except ExtractionError:
        return False
    return True


def detect_type(filename: str, head: bytes, declared: str = "") -> str:
    """The document's content type, one of ``CONTENT_TYPES``.

    ``head`` is the start of the file (give at least 8 KiB when the file is that long: a DOCX is
    told from other ZIP files by its ``word/`` entries there). Magic bytes win over the declared
    content type, which wins over the extension -- except that a generic declared type
    (text/plain, application/octet-stream) yields to a known extension. A name without an
    extension whose head is text is plain text. Raises ``InvalidArgument`` (field ``file``) for an
    empty head (an empty file) and for anything unsupported.
    """
    if not head:
        raise InvalidArgument("the document is empty", field="file")
    ext = os.path.splitext(filename)[1].lower()
    by_ext = _EXTENSIONS.get(ext)
    media = _canonical(declared)
    by_declared = media if media in CONTENT_TYPES else None
    pdf_at = head.find(b"%PDF-", 0, 1024)
    # Readers accept whitespace or binary junk (a MacBinary header) before the header; text is prose.
    if pdf_at >= 0 and (not head[:pdf_at].strip() or min(head[:pdf_at]) < 9):
        return PDF
    if head.startswith(_ZIP):
        if b"word/" in head or DOCX in (by_ext, by_declared):
            return DOCX
        raise _unsupported(f"{ext or 'without an extension'} (a ZIP archive that is not a DOCX)")
    if _HTML_START.match(head.removeprefix(b"\xef\xbb\xbf")[:4096]):
        return HTML
    if by_declared and not (media in _WEAK_DECLARED and by_ext):
        return by_declared
    if by_ext:
        return by_ext
    if not ext and _looks_like_text(head):
        return TEXT
    what = repr(ext) if ext else "without an extension"
    if media and media not in _WEAK_DECLARED:
        what += f" (declared {media})"
    raise _unsupported(what)


def extract(
    data: bytes, content_type: str, *, max_text_chars: int = 20_000_000, max_pages: int = 5000
) -> Extracted:
    """The document's text and blocks (see the module docstring for the invariant).

    Raises ``InvalidArgument`` for an empty (or whitespace-only) file or an unsupported type,
    ``ExtractionError`` for a document that cannot be used.
    """
    media = _canonical(content_type)
    if media not in CONTENT_TYPES:
        raise _unsupported(repr(media))
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise InvalidArgument("the document is empty", field="file")
    charset = _charset(content_type)
    # Format modules load lazily: the API only detects types, and trafilatura is slow to import.
    if media == PDF:
        from keel_ingestion.core.extract_pdf import extract_pdf

        return extract_pdf(data, max_text_chars=max_text_chars, max_pages=max_pages)
    if media == DOCX:
        from keel_ingestion.core.extract_docx import extract_docx

        return extract_docx(data, max_text_chars=max_text_chars)
    if media == HTML:
        from keel_ingestion.core.extract_html import extract_html

        return extract_html(data, charset, max_text_chars=max_text_chars)
    text = decode_text(data, charset)
    if media == MARKDOWN:
        from keel_ingestion.core.extract_markdown import extract_markdown

        return extract_markdown(text, max_text_chars=max_text_chars)
    if media == JSONL:
        return _extract_jsonl(text, max_text_chars)
    return _extract_plain(text, max_text_chars)


def _charset(content_type: str) -> str | None:
    match = re.search(r";\s*charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
    return match.group(1) if match else None


_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n\s*")


def _extract_plain(text: str, max_text_chars: int) -> Extracted:
    """Paragraphs on blank lines; a paragraph keeps its line breaks (plain text may be verse,
    an address or a listing as well as hard-wrapped prose, and we cannot tell which)."""
    builder = Builder(max_text_chars)
    for paragraph in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        builder.add(PARAGRAPH, paragraph)
    if not builder:
        raise no_text("text file")
    return builder.build(TEXT)


_ROLES = frozenset({"system", "user", "assistant"})
_MAX_LINE_ERRORS = 20


def _chat_error(line: str) -> str | None:
    """Why one JSONL line is not a chat example, or None when it is one."""
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg} at column {exc.colno})"
    except (ValueError, RecursionError) as exc:  # an over-long number, nesting past the stack
        return f"not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return '"messages" must be a non-empty list'
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] is not an object"
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            return f"messages[{i}].role must be one of system, user, assistant (got {role!r:.40})"
        if not isinstance(content, str) or not content.strip():
            return f"messages[{i}].content must be a non-empty string"
    if not any(message["role"] == "assistant" for message in messages):
        return "no assistant message"
    return None


def _extract_jsonl(text: str, max_text_chars: int) -> Extracted:
    """Chat training data, passed through: one block per non-blank line, lines verbatim (only
    trailing whitespace and blank lines go), joined by "\\n". Every line must be a chat example."""
    builder = Builder(max_text_chars, separator="\n")
    errors: list[str] = []
    bad = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip()
        if not line:
            continue
        error = _chat_error(line)
        if error is not None:
            bad += 1
            if len(errors) < _MAX_LINE_ERRORS:
                errors.append(f"line {number}: {error}")
            continue
        if not bad:  # once a line is bad the file fails: stop keeping text
            builder.add(PARAGRAPH, line, verbatim=True)
    if bad:
        more = f"; and {bad - len(errors)} more" if bad > len(errors) else ""
        raise ExtractionError(f"{bad} invalid chat line(s): " + "; ".join(errors) + more)
    if not builder:
        raise no_text("JSONL file")
    return builder.build(JSONL, examples=len(builder))
