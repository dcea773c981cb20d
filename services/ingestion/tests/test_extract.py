"""Extraction: each format's structure, each bad input's failure, and the block invariant."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import re
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel_common.errors import InvalidArgument
from keel_ingestion import testing as fixtures
from keel_ingestion.core import extract_docx
from keel_ingestion.core.extract import (
    CODE,
    DOCX,
    HEADING,
    HTML,
    JSONL,
    LIST,
    MARKDOWN,
    PARAGRAPH,
    PDF,
    TABLE,
    TEXT,
    Extracted,
    ExtractionError,
    detect_type,
    extract,
)

LONG = (
    "Keel turns uploaded documents into versioned training datasets, keeping where every piece came"
    " from, so that a model's answers can be traced back to the page they were learned from."
)


def check_invariant(ex: Extracted) -> None:
    """The module's promise: blocks tile the text in order, separated by exactly the separator."""
    sep = ex.separator
    assert ex.text == sep.join(ex.text[b.start : b.end] for b in ex.blocks)
    pos = 0
    for block in ex.blocks:
        assert block.start == pos, (block, pos)
        body = ex.text[block.start : block.end]
        assert body, block
        assert body == body.rstrip() and not body.startswith("\n"), block
        if block.kind != CODE:
            assert "\n\n" not in body, block
        if block.kind != HEADING:
            assert block.level == 0
        else:
            assert 1 <= block.level <= 6
        pos = block.end + len(sep)
    assert not any(c in ex.text for c in "\x00\x07\x1b\r\ufeff")


def blocks(ex: Extracted) -> list[tuple[str, str]]:
    return [(b.kind, ex.block_text(b)) for b in ex.blocks]


# --- type detection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "head", "declared", "expected"),
    [
        ("report.txt", b"%PDF-1.7\n%\xe2\xe3", "", PDF),  # magic bytes beat the extension
        ("scan.bin", b"\x00\x05\x16junk%PDF-1.4\n", "", PDF),  # junk before the header
        ("notes.md", b"The %PDF-1.7 header starts a PDF.\n", "", MARKDOWN),  # text about PDFs is not one
        ("notes", "utf-16 notes".encode("utf-16"), "", TEXT),
        ("x", b"PK\x03\x04\x14\x00....[Content_Types].xml....word/document.xml", "", DOCX),
        ("page.txt", b"\xef\xbb\xbf  <!DOCTYPE html><html><body>", "text/plain", HTML),
        ("page", b"<?xml version='1.0'?>\n<!-- c --><html xmlns='x'>", "", HTML),
        ("notes", b"# A title\n", "text/markdown; charset=utf-8", MARKDOWN),
        ("notes.md", b"# A title\n", "text/plain", MARKDOWN),  # a generic declared type yields
        ("data.jsonl", b'{"messages": []}\n', "application/octet-stream", JSONL),
        ("data.bin", b'{"messages": []}\n', "application/x-ndjson", JSONL),
        ("README.MARKDOWN", b"text", "", MARKDOWN),
        ("a.htm", b"<p>fragment</p>", "", HTML),
        ("a.text", b"hello", "", TEXT),
        ("README", b"Just some words.\n", "", TEXT),  # no extension, text-like head
    ],
)
def test_detect_type(filename: str, head: bytes, declared: str, expected: str) -> None:
    assert detect_type(filename, head, declared) == expected


@pytest.mark.parametrize(
    ("filename", "head"),
    [
        ("sheet.xlsx", b"PK\x03\x04\x14\x00....[Content_Types].xml....xl/workbook.xml"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        ("blob", bytes(range(256))),  # binary junk without an extension
        ("blob.dat", b"plain words but an unknown extension"),
    ],
)
def test_detect_type_rejects_unsupported(filename: str, head: bytes) -> None:
    with pytest.raises(InvalidArgument) as info:
        detect_type(filename, head)
    assert info.value.field == "file"
    assert "unsupported document type" in info.value.message and "supported: PDF" in info.value.message


def test_detect_type_rejects_an_empty_file() -> None:
    with pytest.raises(InvalidArgument, match="the document is empty"):
        detect_type("a.txt", b"")


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_keeps_pages_paragraphs_and_joins_wrapped_lines() -> None:
    pages = [
        f"# Introduction\n\n{LONG} It is an exam-\nple of hyphenation.\n\nShort second paragraph.",
        "Page two stands alone.",
        f"Page three opens here.\n\n{LONG}",
    ]
    ex = extract(fixtures.multi_page_pdf(pages), PDF)
    check_invariant(ex)
    assert ex.pages == 3
    assert [(b.page, ex.block_text(b)[:22]) for b in ex.blocks] == [
        (1, "Introduction"),
        (1, LONG[:22]),
        (1, "Short second paragraph"),
        (2, "Page two stands alone."),
        (3, "Page three opens here."),
        (3, LONG[:22]),
    ]
    first = ex.block_text(ex.blocks[1])
    assert first == f"{LONG} It is an example of hyphenation."  # hard wraps joined, hyphen removed
    assert all(b.kind == PARAGRAPH for b in ex.blocks)


def test_pdf_encrypted_with_a_user_password_fails() -> None:
    with pytest.raises(ExtractionError, match="the PDF is encrypted"):
        extract(fixtures.encrypted_pdf(user_password="secret"), PDF)


def test_pdf_with_only_an_owner_password_is_extracted() -> None:
    ex = extract(fixtures.encrypted_pdf("Restricted but readable.", user_password=""), PDF)
    assert ex.text == "Restricted but readable."


def test_pdf_corrupt_fails() -> None:
    with pytest.raises(ExtractionError, match=r"^the PDF is corrupt or truncated: \w+"):
        extract(fixtures.corrupt_pdf(), PDF)
    with pytest.raises(ExtractionError, match="corrupt or truncated"):
        extract(b"%PDF-1.4\n" + bytes(range(256)) * 8, PDF)


def test_pdf_without_a_text_layer_fails() -> None:
    with pytest.raises(ExtractionError) as info:
        extract(fixtures.scanned_pdf(pages=3), PDF)
    assert info.value.reason == (
        "the PDF has no text layer on any of its 3 pages (a scanned document? OCR it first)"
    )


def test_pdf_page_and_text_limits() -> None:
    data = fixtures.multi_page_pdf(["one", "two", "three"])
    with pytest.raises(ExtractionError, match="the PDF has 3 pages, more than the limit of 2"):
        extract(data, PDF, max_pages=2)
    assert extract(data, PDF, max_pages=3).pages == 3
    with pytest.raises(ExtractionError, match="extracted text exceeds the limit of 1,000 characters"):
        extract(fixtures.multi_page_pdf([LONG] * 8), PDF, max_text_chars=1000)


# --- HTML ----------------------------------------------------------------------------------------


def test_html_keeps_the_article_and_drops_the_boilerplate() -> None:
    paragraphs = [LONG, "Chunking follows the structure: headings, paragraphs, lists and tables. " * 3]
    ex = extract(fixtures.html_page(paragraphs), HTML)
    check_invariant(ex)
    for boilerplate in ("Navsentinel", "Footsentinel", "Asidesentinel", "Privacy", "not text", "font-family"):
        assert boilerplate not in ex.text
    assert blocks(ex) == [
        (HEADING, "How Keel builds datasets"),
        (PARAGRAPH, LONG),
        (PARAGRAPH, paragraphs[1].strip()),
        (HEADING, "Steps in order"),
        (LIST, "- Upload the documents to the service\n- Build a dataset version from them"),
        (TABLE, "Stage | Output\nextract | blocks\nchunk | token windows"),
    ]
    assert [b.level for b in ex.blocks if b.kind == HEADING] == [1, 2]
    assert all(b.page is None for b in ex.blocks) and ex.pages == 1


def test_html_decodes_by_the_meta_charset_and_the_declared_one() -> None:
    page = fixtures.html_page([f"Café crème, naïve façade. {LONG}"], charset="iso-8859-1")
    assert "Café crème, naïve façade." in extract(page, HTML).text
    # The declared charset wins over what the page says about itself.
    relabelled = page.replace(b'charset="iso-8859-1"', b'charset="utf-8"')
    assert "Café crème" in extract(relabelled, "text/html; charset=ISO-8859-1").text


def test_html_tiny_page_falls_back_to_the_body_text() -> None:
    ex = extract(b"<html><body><p>Hello there.</p></body></html>", HTML)
    assert blocks(ex) == [(PARAGRAPH, "Hello there.")]


def test_html_without_text_fails() -> None:
    with pytest.raises(ExtractionError, match="the HTML page has no extractable text"):
        extract(b"<html><body><img src='a.png'></body></html>", HTML)


def test_html_that_expands_enormously_fails_before_parsing() -> None:
    with pytest.raises(ExtractionError, match=r"has 300,003 tags, more than the limit of 100,000 elements"):
        extract(fixtures.html_bomb("tags", 300_000), HTML)


def test_html_nested_past_the_parser_limit_fails_instead_of_losing_text() -> None:
    with pytest.raises(ExtractionError, match="nests elements more than 256 levels deep"):
        extract(fixtures.html_bomb("depth", 1000), HTML)


def test_html_compressed_bytes_are_not_inflated() -> None:
    bomb = gzip.compress(b"<html><body>" + b"<p>a</p>" * 200_000 + b"</body></html>")
    with pytest.raises(ExtractionError, match="the file is gzip-compressed, not text"):
        extract(bomb, HTML)
    with pytest.raises(ExtractionError, match="gzip-compressed"):
        extract(bomb, TEXT)


def test_html_text_limit() -> None:
    with pytest.raises(ExtractionError, match="exceeds the limit of 1,000 characters"):
        extract(fixtures.html_page([f"{i}: {LONG}" for i in range(10)]), HTML, max_text_chars=1000)


# --- Markdown ------------------------------------------------------------------------------------

MARKDOWN_DOC = """---
title: front matter is dropped
---
# Getting *started*

Keel reads Markdown with a
CommonMark parser, [links](https://example.com) and `inline code` included.

## Install

```python
def main():

    return 1  # the blank line above stays
```

| Setting  | Default |
|----------|---------|
| port     | 8084    |

- first item
- second item
  - nested item

Setext heading
--------------

    indented code
"""


def test_markdown_structure() -> None:
    ex = extract(MARKDOWN_DOC.encode(), MARKDOWN)
    check_invariant(ex)
    assert blocks(ex) == [
        (HEADING, "Getting started"),
        (PARAGRAPH, "Keel reads Markdown with a CommonMark parser, links and inline code included."),
        (HEADING, "Install"),
        (CODE, "def main():\n\n    return 1  # the blank line above stays"),
        (TABLE, "| Setting  | Default |\n|----------|---------|\n| port     | 8084    |"),
        (LIST, "- first item\n- second item\n  - nested item"),
        (HEADING, "Setext heading"),
        (CODE, "indented code"),
    ]
    assert [b.level for b in ex.blocks if b.kind == HEADING] == [1, 2, 2]


# --- plain text ----------------------------------------------------------------------------------


def test_plain_text_paragraphs_and_normalisation() -> None:
    raw = "\ufeffFirst   line\x00 of\tone\r\nparagraph.\r\n\r\n  \t\n\nCafe\u0301 second.\n"
    ex = extract(raw.encode(), TEXT)
    check_invariant(ex)
    assert blocks(ex) == [(PARAGRAPH, "First line of one\nparagraph."), (PARAGRAPH, "Café second.")]
    assert ex.text == "First line of one\nparagraph.\n\nCafé second."


def test_plain_text_utf16_with_bom() -> None:
    assert extract("Grüße aus Köln".encode("utf-16"), TEXT).text == "Grüße aus Köln"


def test_plain_text_that_is_binary_fails() -> None:
    with pytest.raises(ExtractionError, match="not text"):
        extract(bytes(range(256)) * 40, TEXT)
    # A few bad bytes in real text are replaced, not fatal.
    assert "\ufffd" in extract(b"mostly fine text \xff with one bad byte", TEXT).text


# --- DOCX ----------------------------------------------------------------------------------------


def test_docx_headings_lists_and_tables() -> None:
    data = fixtures.docx_bytes(
        [
            ("title", "Quarterly report"),
            ("h2", "Revenue"),
            ("p", "Revenue   grew in every region."),
            ("li", "north: 12%"),
            ("li", "south: 9%"),
            ("table", [["Region", "Growth"], ["north", "12%"], ["south", "9%"]]),
            ("p", "Closing remarks."),
        ]
    )
    ex = extract(data, DOCX)
    check_invariant(ex)
    assert blocks(ex) == [
        (HEADING, "Quarterly report"),
        (HEADING, "Revenue"),
        (PARAGRAPH, "Revenue grew in every region."),
        (LIST, "- north: 12%\n- south: 9%"),
        (TABLE, "Region | Growth\nnorth | 12%\nsouth | 9%"),
        (PARAGRAPH, "Closing remarks."),
    ]
    assert [b.level for b in ex.blocks[:2]] == [1, 2]
    assert all(b.page is None for b in ex.blocks)


def test_docx_corrupt_fails() -> None:
    data = fixtures.docx_bytes([("p", LONG)])
    with pytest.raises(ExtractionError, match="the DOCX is corrupt or truncated"):
        extract(data[: len(data) // 2], DOCX)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ExtractionError, match="not a Word document"):
        extract(other.getvalue(), DOCX)
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            body = b"<w:document" if info.filename == "word/document.xml" else src.read(info)
            dst.writestr(info, body)
    with pytest.raises(ExtractionError, match="the DOCX is corrupt or not a Word document"):
        extract(broken.getvalue(), DOCX)


def test_docx_inflating_past_the_limit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    data = fixtures.docx_bytes([("p", LONG)])
    monkeypatch.setattr(extract_docx, "MAX_UNZIPPED_BYTES", 10_000)
    with pytest.raises(ExtractionError, match=r"inflates to [\d,]+ bytes, more than the limit of 10,000"):
        extract(data, DOCX)


# --- JSONL chat ----------------------------------------------------------------------------------


def chat(*turns: tuple[str, str]) -> str:
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]})


def test_jsonl_chat_passes_through() -> None:
    lines = [
        chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello.")),
        chat(("user", "2+2?"), ("assistant", "4")),
    ]
    raw = "\ufeff" + lines[0] + "\r\n\n" + lines[1] + "\n"
    ex = extract(raw.encode(), JSONL)
    check_invariant(ex)
    assert ex.text == "\n".join(lines) and ex.separator == "\n"
    assert ex.examples == 2 and [b.kind for b in ex.blocks] == [PARAGRAPH, PARAGRAPH]
    assert [json.loads(ex.block_text(b)) for b in ex.blocks] == [json.loads(line) for line in lines]


def test_jsonl_bad_lines_are_listed() -> None:
    good = chat(("user", "q"), ("assistant", "a"))
    lines = [
        good,
        "{not json",  # the rest: valid JSON that is not a chat example
        "[1, 2]",
        json.dumps({"messages": []}),
        chat(("user", "q"), ("robot", "a")),
        chat(("user", "q"), ("assistant", "  ")),
        chat(("system", "s"), ("user", "q")),
        json.dumps({"prompt": "q", "completion": "a"}),
        "[" * 100_000,  # nested past the parser's stack
    ]
    with pytest.raises(ExtractionError) as info:
        extract("\n".join(lines).encode(), JSONL)
    reason = info.value.reason
    assert reason.startswith("8 invalid chat line(s): line 2: not valid JSON")
    for expected in (
        "line 3: a JSON list, not an object",
        'line 4: "messages" must be a non-empty list',
        "line 5: messages[1].role must be one of system, user, assistant (got 'robot')",
        "line 6: messages[1].content must be a non-empty string",
        "line 7: no assistant message",
        'line 8: "messages" must be a non-empty list',
        "line 9: not valid JSON (RecursionError",
    ):
        assert expected in reason
    assert "line 1:" not in reason


def test_jsonl_lists_at_most_twenty_errors() -> None:
    with pytest.raises(ExtractionError) as info:
        extract(b"nope\n" * 25, JSONL)
    reason = info.value.reason
    assert re.findall(r"line (\d+):", reason) == [str(n) for n in range(1, 21)]
    assert reason.startswith("25 invalid chat line(s): line 1: not valid JSON (Expecting value at column 1);")
    assert reason.endswith("; and 5 more")


# --- every format --------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [PDF, HTML, MARKDOWN, TEXT, DOCX, JSONL])
@pytest.mark.parametrize("data", [b"", b" \n\t\r\n ", b"\xef\xbb\xbf\n"])
def test_empty_file_is_rejected(content_type: str, data: bytes) -> None:
    with pytest.raises(InvalidArgument, match="the document is empty") as info:
        extract(data, content_type)
    assert info.value.field == "file"


def test_unsupported_content_type_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="unsupported document type 'application/zip'"):
        extract(b"PK\x03\x04", "application/zip")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        (PDF, lambda: fixtures.multi_page_pdf([f"# Title\n\n{LONG}\n\nMore.", LONG])),
        (HTML, lambda: fixtures.html_page([LONG, LONG.upper()])),
        (MARKDOWN, lambda: MARKDOWN_DOC.encode()),
        (TEXT, lambda: f"{LONG}\n\n\n  {LONG}  \n".encode()),
        (DOCX, lambda: fixtures.docx_bytes([("h1", "T"), ("p", LONG), ("table", [["a", "b"]])])),
        (JSONL, lambda: (chat(("user", "q"), ("assistant", "a")) + "\n").encode()),
    ],
)
def test_block_offsets_invariant(content_type: str, data: object) -> None:
    assert callable(data)
    ex = extract(data(), content_type)
    assert ex.content_type == content_type and ex.blocks
    check_invariant(ex)


_MARKDOWN_BITS = ["# ", "## ", "\n", "\n\n", "```", "~~~", "| a ", "|---", "- ", "1. ", "> ", "---", "*"]
_HTML_BITS = ["<p>", "</p>", "<pre>", "<li>", "<table><tr><td>", "&amp;"]
_TEXT_BITS = ["word", "  ", "    ", "\t", "\r", "\x00", "\u00a0", "e\u0301"]
_pieces = _MARKDOWN_BITS + _HTML_BITS + _TEXT_BITS
_text = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=400),
    st.lists(st.sampled_from(_pieces), max_size=80).map("".join),  # structure-heavy input
)


@settings(max_examples=300, deadline=None)
@given(raw=_text, content_type=st.sampled_from([TEXT, MARKDOWN, HTML]))
def test_block_invariant_holds_on_arbitrary_text(raw: str, content_type: str) -> None:
    try:
        ex = extract(raw.encode(), content_type)
    except (InvalidArgument, ExtractionError):
        return
    check_invariant(ex)


def test_extraction_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ExtractionError("the PDF is encrypted")))
    assert isinstance(error, ExtractionError) and error.reason == "the PDF is encrypted"
