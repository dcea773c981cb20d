"""Extraction throughput: ``keel_ingestion.core.extract.extract`` on PDFs (pages/s), HTML pages and
Markdown notes (documents/s), in wall and process CPU time, one format after the other, the median
of ``rounds`` passes. Every format is extracted once untimed first (imports, pypdf's and
trafilatura's first-call set-up)."""

from __future__ import annotations

import time
from typing import Any

from corpus import html_docs, markdown_docs, pdfs

from keel_ingestion.core.extract import HTML, MARKDOWN, PDF, extract


def _once(docs: list[bytes], content_type: str) -> tuple[float, float, int, int]:
    pages = chars = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for data in docs:
        out = extract(data, content_type)
        pages += out.pages
        chars += len(out.text)
    return time.perf_counter() - wall, time.process_time() - cpu, pages, chars


def _timed(docs: list[bytes], content_type: str, rounds: int) -> tuple[float, float, int, int]:
    """(wall s, cpu s, pages, characters) of extracting every document once: the median round by
    wall time (a round takes well under a second; this VM's speed moves single ones)."""
    runs = sorted((_once(docs, content_type) for _ in range(rounds)), key=lambda r: r[0])
    return runs[len(runs) // 2]


def run_extract_bench(
    n_pdfs: int, pages: int, n_html: int, n_md: int, rounds: int = 3, verbose: bool = False
) -> dict[str, Any]:
    began = time.perf_counter()
    pdf_docs, html, md = pdfs(n_pdfs, pages), html_docs(n_html), markdown_docs(n_md)
    made = time.perf_counter() - began
    for data, ctype in ((pdf_docs[0], PDF), (html[0], HTML), (md[0], MARKDOWN)):
        extract(data, ctype)  # warm-up
    pdf_wall, pdf_cpu, pdf_pages, pdf_chars = _timed(pdf_docs, PDF, rounds)
    html_wall, html_cpu, _, html_chars = _timed(html, HTML, rounds)
    md_wall, md_cpu, _, md_chars = _timed(md, MARKDOWN, rounds)
    out = {
        "pdfs": n_pdfs,
        "pdf_pages": pdf_pages,
        "pdf_mb": sum(map(len, pdf_docs)) / 1e6,
        "extract_pages_per_s": pdf_pages / pdf_wall,
        "extract_pages_per_cpu_s": pdf_pages / pdf_cpu,
        "extract_pdf_chars_per_page": pdf_chars / pdf_pages,
        "html_docs": n_html,
        "extract_html_docs_per_s": n_html / html_wall,
        "extract_html_docs_per_cpu_s": n_html / html_cpu,
        "markdown_docs": n_md,
        "extract_markdown_docs_per_s": n_md / md_wall,
        "extract_markdown_docs_per_cpu_s": n_md / md_cpu,
    }
    if verbose:
        print(f"generated {n_pdfs} PDFs x {pages} pages, {n_html} HTML pages, {n_md} Markdown notes")
        print(f"  ({made:.1f}s to write them)")
        header = f"{'format':<9} {'docs':>5} {'pages':>6} {'wall s':>7} {'cpu s':>6}"
        print(f"{header} {'per s':>12} {'per cpu-s':>10}")
        rows = (
            ("pdf", n_pdfs, pdf_pages, pdf_wall, pdf_cpu, f"{pdf_pages / pdf_wall:,.0f} pages"),
            ("html", n_html, n_html, html_wall, html_cpu, f"{n_html / html_wall:,.0f} docs"),
            ("markdown", n_md, n_md, md_wall, md_cpu, f"{n_md / md_wall:,.0f} docs"),
        )
        for name, n, p, w, c, rate in rows:
            print(f"{name:<9} {n:>5} {p:>6} {w:>7.2f} {c:>6.2f} {rate:>12} {p / c:>10,.0f}")
        print(
            f"pdf text: {pdf_chars / pdf_pages:,.0f} chars/page; html {html_chars / n_html:,.0f} chars/doc "
            f"after boilerplate removal; markdown {md_chars / n_md:,.0f} chars/doc"
        )
    return out
