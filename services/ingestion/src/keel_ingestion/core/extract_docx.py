"""DOCX body text with python-docx: paragraphs, headings ("Heading N" styles, "Title" as level 1),
runs of list-styled paragraphs as one list block, and each table as one block ("a | b" per row).
Headers, footers, comments and text boxes are left out; DOCX has no fixed pages, so ``page`` is None.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.table import Table
from docx.text.paragraph import Paragraph

from keel_ingestion.core.extract_base import (
    HEADING,
    LIST,
    PARAGRAPH,
    TABLE,
    Builder,
    Extracted,
    ExtractionError,
    no_text,
)

# python-docx reads every part into memory: bound what the archive inflates to (a zip bomb).
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
_HEADING_STYLE = re.compile(r"heading\s*(\d+)", re.I)


def _check_archive(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError(f"the DOCX is corrupt or truncated (not a readable ZIP: {exc})") from exc
    if not any(info.filename == "word/document.xml" for info in infos):
        raise ExtractionError("the file is not a Word document (no word/document.xml in the archive)")
    unzipped = sum(info.file_size for info in infos)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise ExtractionError(
            f"the DOCX inflates to {unzipped:,} bytes, more than the limit of {MAX_UNZIPPED_BYTES:,}"
            " (a zip bomb?)"
        )


class _Styles:
    """Paragraph style names by id, read once: python-docx's ``paragraph.style`` rescans every style
    of the document on each call (3 s for 1,000 paragraphs)."""

    def __init__(self, document: DocxDocument) -> None:
        self._names = {style.style_id: style.name or "" for style in document.styles}
        default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
        self._default = (default.name or "") if default is not None else ""

    def name(self, paragraph: Paragraph) -> str:
        style_id = paragraph._p.style
        return self._names.get(style_id, self._default) if style_id else self._default


def _heading_level(name: str) -> int:
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.fullmatch(name.strip())
    return min(int(match.group(1)), 6) if match and int(match.group(1)) > 0 else 0


def _is_list(paragraph: Paragraph, name: str) -> bool:
    # Bulleted or numbered by style, or by direct numbering properties.
    numbered = paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None
    return name.lower().startswith("list") or numbered


def _table_text(table: Table) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell repeats across the columns it spans
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def extract_docx(data: bytes, *, max_text_chars: int) -> Extracted:
    _check_archive(data)
    try:
        document = docx.Document(io.BytesIO(data))
        content = list(document.iter_inner_content())
        styles = _Styles(document)
    except MemoryError:
        raise
    except Exception as exc:  # python-docx and lxml raise many kinds on a broken package
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise ExtractionError(f"the DOCX is corrupt or not a Word document: {detail}") from exc
    builder = Builder(max_text_chars)
    items: list[str] = []

    def flush_list() -> None:
        if items:
            builder.add(LIST, "\n".join(items))
            items.clear()

    for part in content:
        if isinstance(part, Table):
            flush_list()
            builder.add(TABLE, _table_text(part))
            continue
        text = part.text
        if not text.strip():
            continue
        style = styles.name(part)
        if level := _heading_level(style):
            flush_list()
            builder.add(HEADING, " ".join(text.split()), level=level)
        elif _is_list(part, style):
            items.append("- " + " ".join(text.split()))
        else:
            flush_list()
            builder.add(PARAGRAPH, text)
    flush_list()
    if not builder:
        raise no_text("DOCX")
    return builder.build("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
