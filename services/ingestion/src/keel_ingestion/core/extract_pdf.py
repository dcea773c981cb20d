"""PDF text layer, page by page, with pypdf (pure Python, offline).

pypdf's plain text keeps the content stream's order (columns stay apart, unlike its layout mode)
but drops the blank lines between paragraphs, so paragraphs come from geometry instead: the text
visitor reports where each run of text sits, and a line starts a new paragraph when the gap above
it is clearly larger than the page's usual line spacing, when the text moves up (a new column) or
when the font size changes (a heading). Hard-wrapped lines are joined and "exam-\\nple" becomes
"example".
"""

from __future__ import annotations

import io
import itertools
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from keel_ingestion.core.extract_base import PARAGRAPH, Builder, Extracted, ExtractionError

# A gap is a paragraph break when it exceeds this many times the page's median line gap...
_GAP_VS_MEDIAN = 1.4
# ...or this many times the font size (leading above 2x is double spacing plus a blank line).
_GAP_VS_SIZE = 2.3
# A relative change of font size between two lines that marks a heading or a caption.
_SIZE_CHANGE = 0.15


@dataclass
class _Line:
    text: str = ""
    y: float | None = None
    size: float = 0.0


@dataclass
class _Collector:
    """Receives pypdf's text runs in output order and cuts them into positioned lines."""

    lines: list[_Line] = field(default_factory=lambda: [_Line()])

    def visit(self, text: Any, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        # The run's baseline and size in page space (text matrix times current transformation).
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) or 1.0
        eff_size = abs(float(size or 0.0)) * scale
        for i, part in enumerate(text.split("\n")):
            if i:
                self.lines.append(_Line())
            line = self.lines[-1]
            if part.strip():
                if line.y is None:
                    line.y = float(y)
                line.size = max(line.size, eff_size)
            line.text += part


def _join(paragraph: list[str]) -> str:
    out = ""
    for line in paragraph:
        line = line.strip()
        if not out:
            out = line
        elif out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line  # a word hyphenated at the line end
        else:
            out += " " + line
    return out


def _paragraphs(lines: list[_Line]) -> list[str]:
    lines = [line for line in lines if line.text.strip()]
    ys = [line.y for line in lines]
    gaps = [a - b for a, b in itertools.pairwise(ys) if a is not None and b is not None and a > b]
    median = statistics.median(gaps) if gaps else 0.0
    paragraphs: list[list[str]] = []
    prev: _Line | None = None
    for line in lines:
        if prev is None or _breaks(prev, line, median):
            paragraphs.append([])
        paragraphs[-1].append(line.text)
        prev = line
    return [_join(p) for p in paragraphs]


def _breaks(prev: _Line, line: _Line, median: float) -> bool:
    if prev.y is None or line.y is None:
        return False
    gap = prev.y - line.y
    size = max(prev.size, line.size)
    if gap < -0.5 * (size or 1.0):  # moved up the page: a new column or a text box
        return True
    if size and abs(prev.size - line.size) > _SIZE_CHANGE * size:
        return True
    return (median > 0 and gap > _GAP_VS_MEDIAN * median) or (size > 0 and gap > _GAP_VS_SIZE * size)


def _corrupt(exc: Exception) -> ExtractionError:
    if isinstance(exc, LimitReachedError):
        return ExtractionError(f"the PDF exceeds a safety limit of the PDF reader: {str(exc)[:200]}")
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ExtractionError(f"the PDF is corrupt or truncated: {detail[:200]}")


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        # pypdf has already tried the empty user password; check that it worked.
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ExtractionError("the PDF is encrypted (it needs a password to open); upload it unencrypted")
    except DependencyError as exc:
        raise ExtractionError(f"the PDF is encrypted with an unsupported method: {str(exc)[:200]}") from exc
    except ExtractionError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # pypdf raises anything on a broken file
        raise _corrupt(exc) from exc
    return reader


def _page_lines(page: PageObject) -> list[_Line]:
    collector = _Collector()
    page.extract_text(visitor_text=collector.visit)
    return collector.lines


def extract_pdf(data: bytes, *, max_text_chars: int, max_pages: int) -> Extracted:
    reader = _open(data)
    try:
        count = len(reader.pages)
    except MemoryError:
        raise
    except Exception as exc:
        raise _corrupt(exc) from exc
    if count == 0:
        raise ExtractionError("the PDF has no pages")
    if count > max_pages:
        raise ExtractionError(f"the PDF has {count:,} pages, more than the limit of {max_pages:,}")
    builder = Builder(max_text_chars)
    for number in range(1, count + 1):
        try:
            lines = _page_lines(reader.pages[number - 1])
        except MemoryError:
            raise
        except Exception as exc:
            raise ExtractionError(f"{_corrupt(exc).reason} (on page {number})") from exc
        for paragraph in _paragraphs(lines):
            builder.add(PARAGRAPH, paragraph, page=number)
    if not builder:
        where = "its only page" if count == 1 else f"any of its {count:,} pages"
        raise ExtractionError(f"the PDF has no text layer on {where} (a scanned document? OCR it first)")
    return builder.build("application/pdf", pages=count)
