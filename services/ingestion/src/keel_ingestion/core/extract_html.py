"""HTML main content with trafilatura: navigation, headers, footers and other boilerplate go;
headings, paragraphs, lists, tables and code stay as blocks.

We parse the page ourselves (lxml, which trafilatura uses too) so that the bytes are decoded by the
declared or <meta> charset, never decompressed (trafilatura inflates gzip input: a bomb), and so
that a page nested deeper than libxml2's limit fails instead of silently losing its tail. The
number of tags is bounded before parsing: trafilatura's time grows faster than linearly with the
tree (100k elements take ~10 s) and each element costs ~2 KB of memory.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.html  # type: ignore[import-untyped]
from lxml import etree
from trafilatura.baseline import baseline
from trafilatura.core import bare_extraction

from keel_ingestion.core.extract_base import (
    CODE,
    HEADING,
    LIST,
    PARAGRAPH,
    TABLE,
    Builder,
    Extracted,
    ExtractionError,
    decode_text,
    no_text,
)

MAX_ELEMENTS = 100_000
_TAG = re.compile(r"<[A-Za-z]")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_WS = re.compile(r"\s+")
_CONTAINERS = frozenset({"body", "div", "quote", "p", "item", "cell", "main", "doc", "span", "section"})


def _decode(data: bytes, charset: str | None) -> str:
    if charset is None and (meta := _META_CHARSET.search(data[:4096])):
        charset = meta.group(1).decode("ascii", "replace")
    return decode_text(data, charset)


def _parse(text: str) -> Any:
    text = _INVALID_XML.sub("", _XML_DECLARATION.sub("", text, count=1))
    parser = lxml.html.HTMLParser(
        collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True
    )
    try:
        tree = lxml.html.document_fromstring(text, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise no_text("HTML page") from exc
    if any("Excessive depth" in str(error.message) for error in parser.error_log):
        raise ExtractionError("the HTML nests elements more than 256 levels deep (the parser's limit)")
    return tree


def _text(elem: Any) -> str:
    """An element's text on one line (HTML whitespace, newlines included, is insignificant)."""
    return _WS.sub(" ", "".join(elem.itertext())).strip()


def _heading_level(elem: Any) -> int:
    rend = str(elem.get("rend") or "")
    return int(rend[1]) if re.fullmatch(r"h[1-6]", rend) else 2


def _list_lines(elem: Any, depth: int, out: list[str]) -> None:
    ordered = elem.get("rend") == "ol"
    number = 0
    for item in elem:
        if item.tag != "item":
            continue
        number += 1
        marker = f"{number}." if ordered else "-"
        nested = [child for child in item if child.tag == "list"]
        for child in nested:  # rendered below the item's own text
            item.remove(child)
        own = _text(item)
        if own:
            out.append("  " * depth + f"{marker} {own}")
        for child in nested:
            _list_lines(child, depth + 1, out)


def _table_rows(elem: Any) -> str:
    rows = []
    for row in elem.iter("row", "tr"):
        cells = [_text(cell) for cell in row if cell.tag in ("cell", "td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _multiline(elem: Any) -> bool:
    return "\n" in "".join(elem.itertext()).strip()


def _parent_tag(elem: Any) -> str:
    parent = elem.getparent()
    return str(parent.tag) if parent is not None else ""


class _Walker:
    """Turns trafilatura's output tree (head, p, list, table, code, quote, lb...) into blocks."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.pending: list[str] = []

    def flush(self) -> None:
        if self.pending:
            self.builder.add(PARAGRAPH, "".join(self.pending))
            self.pending = []

    def inline(self, text: str | None) -> None:
        if text:
            self.pending.append(_WS.sub(" ", text))

    def walk(self, elem: Any) -> None:
        tag = elem.tag if isinstance(elem.tag, str) else ""
        if tag in ("head", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.flush()
            level = int(tag[1]) if tag != "head" else _heading_level(elem)
            self.builder.add(HEADING, _text(elem), level=level)
        elif tag in ("list", "ul", "ol"):
            self.flush()
            lines: list[str] = []
            _list_lines(elem, 0, lines)
            self.builder.add(LIST, "\n".join(lines))
        elif tag == "table":
            self.flush()
            self.builder.add(TABLE, _table_rows(elem))
        elif tag in ("code", "pre") and (_multiline(elem) or _parent_tag(elem) != "p"):
            self.flush()
            self.builder.add(CODE, "".join(elem.itertext()))
        elif tag == "lb":
            self.pending.append("\n")
        elif tag in _CONTAINERS or tag == "":
            if tag not in ("span", ""):
                self.flush()
            self.inline(elem.text if tag else None)
            for child in elem:
                self.walk(child)
                self.inline(child.tail)
            if tag not in ("span", ""):
                self.flush()
        else:  # inline markup (hi, ref, del, code on one line...): its text joins the paragraph
            self.inline("".join(elem.itertext()))


def extract_html(data: bytes, charset: str | None, *, max_text_chars: int) -> Extracted:
    text = _decode(data, charset)
    tags = sum(1 for _ in _TAG.finditer(text))
    if tags > MAX_ELEMENTS:
        raise ExtractionError(
            f"the HTML has {tags:,} tags, more than the limit of {MAX_ELEMENTS:,} elements for one page"
        )
    tree = _parse(text)
    try:
        document = bare_extraction(
            tree,
            favor_recall=True,
            include_comments=False,
            include_tables=True,
            include_formatting=False,
            include_images=False,
            include_links=False,
        )
        body = getattr(document, "body", None)
        builder = _walk(body, max_text_chars)
        if not builder:  # nothing recognised as main content (a tiny page): the whole body text
            builder = _walk(baseline(tree)[0], max_text_chars)
    except ExtractionError:
        raise
    except RecursionError as exc:
        raise ExtractionError("the HTML is nested too deeply to extract") from exc
    except MemoryError:
        raise
    except Exception as exc:  # a parser or extractor bug on odd markup fails this page, not the build
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise ExtractionError(f"the HTML could not be extracted: {detail}") from exc
    if not builder:
        raise no_text("HTML page")
    return builder.build("text/html")


def _walk(body: Any, max_text_chars: int) -> Builder:
    builder = Builder(max_text_chars)
    if body is not None:
        walker = _Walker(builder)
        walker.walk(body)
        walker.flush()
    return builder
