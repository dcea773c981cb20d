"""What the demo learns from, in ``demo_data/``: an invented product handbook, shipped as Markdown
(the source) and as the four-page PDF made from it, which is what the demo uploads (its pages are
what lineage points back to); and the support team's question sheet for it (``corvane-qa.json``:
per fact its page, the answer, the words a right answer contains, five phrasings to train on, one
held out for evaluation and two as users ask them), which the demo uploads as two JSONL chat files.

The PDF is committed so ``keel demo`` needs nothing to build it; after editing the Markdown,
write it again with ``python -m keel_dev.demo_handbook`` (needs ``fpdf2``, a dev dependency of
ingestion that ``make install`` installs). A test checks that the committed PDF is the one this
writes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

DATA = "demo_data"
MARKDOWN = "corvane-handbook.md"
PDF = "corvane-handbook.pdf"
SHEET = "corvane-qa.json"
# A fixed date: the same Markdown always gives the same bytes.
_CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)


def data_path(name: str) -> Path:
    """A file of ``keel_dev/demo_data`` (a real path: the package is installed as files)."""
    return Path(str(files("keel_dev") / DATA / name))


@dataclass(frozen=True)
class Fact:
    page: int
    key: str  # what a right answer contains
    answer: str
    train: tuple[str, ...]  # phrasings to train on
    eval: str  # a phrasing held out for evaluation
    users: tuple[str, ...] = ()  # phrasings as users ask them (the demo's review)

    def known_by(self, reply: str) -> bool:
        return self.key.lower() in reply.lower()


def facts() -> list[Fact]:
    raw = json.loads(data_path(SHEET).read_text())
    return [
        Fact(int(f["page"]), f["key"], f["answer"], tuple(f["train"]), f["eval"], tuple(f.get("users", ())))
        for f in raw["facts"]
    ]


def chat_line(question: str, answer: str) -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
    )


def write_sheets(sheet: list[Fact], folder: Path) -> tuple[Path, Path]:
    """The question sheet as two JSONL chat files: every training phrasing, and the held-out
    questions (the evaluation set)."""
    folder.mkdir(parents=True, exist_ok=True)
    train, held_out = folder / "corvane-qa-train.jsonl", folder / "corvane-qa-eval.jsonl"
    train.write_text("".join(chat_line(q, f.answer) + "\n" for f in sheet for q in f.train))
    held_out.write_text("".join(chat_line(f.eval, f.answer) + "\n" for f in sheet))
    return train, held_out


def parse(markdown: str) -> tuple[str, list[Section]]:
    """(the title, its sections): the intro under the title is section 0 (no heading)."""
    title = ""
    sections = [Section("")]
    para: list[str] = []

    def end_paragraph() -> None:
        if para:
            sections[-1].paragraphs.append(" ".join(para))
            para.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith("## "):
            end_paragraph()
            sections.append(Section(line[3:].strip()))
        elif line.startswith("# "):
            end_paragraph()
            title = line[2:].strip()
        elif not line:
            end_paragraph()
        else:
            para.append(line)
    end_paragraph()
    return title, [s for s in sections if s.heading or s.paragraphs]


def render_pdf(markdown: str) -> bytes:
    """The title and the intro on page 1 with the first section; every later section on a page
    of its own."""
    from fpdf import FPDF

    title, sections = parse(markdown)
    pdf = FPDF(format=(148, 210))  # A5, in mm
    pdf.set_creation_date(_CREATED)
    pdf.set_title(title)
    pdf.set_author("Corvane Instruments (invented for Keel)")
    pdf.set_margins(16, 18, 16)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 17)
    pdf.multi_cell(0, 9, title)
    pdf.ln(3)
    headed = 0
    for section in sections:
        if section.heading:
            if headed:
                pdf.add_page()
            headed += 1
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 7, section.heading)
            pdf.ln(2)
        pdf.set_font("Helvetica", "", 10.5)
        for text in section.paragraphs:
            pdf.multi_cell(0, 5.5, text)
            pdf.ln(3.5)
    return bytes(pdf.output())


def main() -> None:
    source = data_path(MARKDOWN)
    out = source.with_name(PDF)
    out.write_bytes(render_pdf(source.read_text()))
    print(f"wrote {out} from {source.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
