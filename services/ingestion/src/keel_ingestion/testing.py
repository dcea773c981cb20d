"""Test documents generated in code (nothing binary is committed): PDFs with fpdf2 and pypdf,
DOCX with python-docx, HTML pages with boilerplate around an article, and hostile inputs."""

from __future__ import annotations

import io
from collections.abc import Sequence

import docx
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter

NAV_TEXT = "Navsentinel Home Products Pricing Careers"
FOOTER_TEXT = "Footsentinel Copyright 2024 Example Corp, all rights reserved"
ASIDE_TEXT = "Asidesentinel Subscribe to our newsletter for weekly deals"


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_font("Helvetica", size=11)
    return pdf


def multi_page_pdf(pages: list[str]) -> bytes:
    """One page per string (more if a page overflows). Paragraphs are separated by blank lines;
    a paragraph starting with "# " is set as a 16 pt heading. Text must be latin-1."""
    pdf = _pdf()
    for page in pages:
        pdf.add_page()
        for paragraph in page.split("\n\n"):
            heading = paragraph.startswith("# ")
            pdf.set_font("Helvetica", size=16 if heading else 11)
            body = paragraph[2:] if heading else paragraph
            pdf.multi_cell(0, 8 if heading else 6, body, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)  # the blank line between paragraphs
    return bytes(pdf.output())


def encrypted_pdf(text: str = "Secret quarterly figures.", user_password: str = "secret") -> bytes:
    """A PDF encrypted with AES-256; ``user_password=""`` gives an owner-password-only PDF, which
    opens without a password (only printing/copying are restricted)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(multi_page_pdf([text]))))
    writer.encrypt(user_password=user_password, owner_password="owner-pass", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """A real PDF cut off in the middle (a truncated upload)."""
    data = multi_page_pdf(["Some text that will be cut off.", "A second page."])
    return data[: len(data) // 2]


def scanned_pdf(pages: int = 3) -> bytes:
    """Pages holding only an image and vector drawings: what a scan without OCR looks like."""
    pdf = _pdf()
    scan = Image.new("L", (400, 560), color=235)
    for _ in range(pages):
        pdf.add_page()
        pdf.image(scan, x=10, y=10, w=190)
        pdf.rect(20, 20, 100, 40, style="F")
        pdf.line(20, 80, 180, 80)
    return bytes(pdf.output())


DocxItem = tuple[str, str] | tuple[str, list[list[str]]]


def docx_bytes(items: Sequence[DocxItem]) -> bytes:
    """A DOCX from ("title", text), ("h1".."h6", text), ("p", text), ("li", text) and
    ("table", rows) items, in order."""
    document = docx.Document()
    for kind, value in items:
        if kind == "table":
            assert isinstance(value, list)
            table = document.add_table(rows=len(value), cols=len(value[0]))
            for r, row in enumerate(value):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
            continue
        assert isinstance(value, str)
        if kind == "title":
            document.add_heading(value, 0)
        elif kind.startswith("h"):
            document.add_heading(value, int(kind[1:]))
        elif kind == "li":
            document.add_paragraph(value, style="List Bullet")
        else:
            document.add_paragraph(value)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_page(
    paragraphs: Sequence[str], *, title: str = "How Keel builds datasets", charset: str = "utf-8"
) -> bytes:
    """An article page with site navigation, a header, a sidebar and a footer around it."""
    menu = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in NAV_TEXT.split())
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="{charset}"><title>{title} | Example</title>
<style>body {{ font-family: sans-serif; }}</style>
<script>var tracking = "<div>not text</div>";</script></head>
<body>
<header><div class="logo">Example Corp</div><nav class="menu"><ul>{menu}</ul></nav></header>
<div class="wrapper">
<main><article>
<h1>{title}</h1>
{body}
<h2>Steps in order</h2>
<ul><li>Upload the documents to the service</li><li>Build a dataset version from them</li></ul>
<table><tr><th>Stage</th><th>Output</th></tr><tr><td>extract</td><td>blocks</td></tr>
<tr><td>chunk</td><td>token windows</td></tr></table>
</article></main>
<aside class="sidebar"><p>{ASIDE_TEXT}</p></aside>
</div>
<footer><p>{FOOTER_TEXT}</p><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>"""
    return html.encode(charset)


def html_bomb(kind: str = "tags", size: int = 300_000) -> bytes:
    """Small files whose parse trees are enormous: ``size`` tiny elements (each costs trafilatura
    ~2 KB and superlinear time), or ``size`` levels of nesting."""
    if kind == "depth":
        return ("<html><body>" + "<div>" * size + "x" + "</div>" * size + "</body></html>").encode()
    return ("<html><body><article>" + "<p>a</p>" * size + "</article></body></html>").encode()
