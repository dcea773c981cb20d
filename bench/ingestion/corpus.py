"""The documents the ingestion benchmark writes itself (nothing binary is committed): manual-style
prose for multi-page PDFs, HTML articles and Markdown notes for extraction; a few thousand Markdown
documents with planted duplicates for the build; and a fixed set of factual passages for QA
synthesis. Everything is seeded, so every run sees the same bytes."""

from __future__ import annotations

import random

from keel_ingestion.core.nearcorpus import planted_corpus
from keel_ingestion.testing import html_page, multi_page_pdf

_PARTS = ["pump", "valve", "seal", "gasket", "filter", "bearing", "impeller", "coupling", "sensor"]
_UNITS = ["compressor K7", "chiller C2", "boiler B1", "press line 4", "mixer M12", "conveyor T3", "dryer D5"]
_VERBS = ["inspect", "clean", "tighten", "replace", "lubricate", "calibrate", "torque", "test", "flush"]
_PLACES = ["north hall", "boiler room", "loading dock", "roof deck", "east annex", "pump house", "lab"]
_TOOLS = ["torque wrench", "feeler gauge", "multimeter", "borescope", "grease gun", "pressure gauge"]
_PEOPLE = ["the shift lead", "the duty engineer", "the site manager", "the safety officer", "an operator"]
_CONDITIONS = [
    "when the reading drifts above the limit",
    "after every cold start",
    "before the unit is returned to service",
    "whenever the alarm panel shows a fault",
    "if the noise level rises noticeably",
    "once the line has cooled below 40 degrees",
]


def _sentence(rng: random.Random) -> str:
    part, unit, verb = rng.choice(_PARTS), rng.choice(_UNITS), rng.choice(_VERBS)
    pattern = rng.randrange(5)
    if pattern == 0:
        return (
            f"{verb.capitalize()} the {part} of the {unit} every {rng.randint(2, 90) * 10} operating "
            f"hours with a {rng.choice(_TOOLS)}."
        )
    if pattern == 1:
        return (
            f"The {part} in the {rng.choice(_PLACES)} is rated for {rng.randint(2, 40)} bar and "
            f"{rng.randint(20, 180)} degrees Celsius."
        )
    if pattern == 2:
        who, card = rng.choice(_PEOPLE).capitalize(), rng.randint(1000, 9999)
        return f"{who} signs work card {card} {rng.choice(_CONDITIONS)}."
    if pattern == 3:
        return (
            f"Record the {part} temperature, the flow rate of {rng.randint(5, 95)} litres per minute and "
            f"the operator's initials in log book {rng.randint(1, 30)}."
        )
    return (
        f"Do not {verb} the {part} while the {unit} is running; isolate it at breaker "
        f"{rng.choice('ABCDEF')}{rng.randint(1, 48)} first."
    )


def _paragraph(rng: random.Random, sentences: tuple[int, int] = (3, 6)) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(*sentences)))


def pdf_pages(n_pages: int, seed: int) -> list[str]:
    """Pages of a maintenance manual: a heading now and then, 5-7 paragraphs (~2.5 KB) a page."""
    rng = random.Random(seed)
    pages = []
    for p in range(n_pages):
        paras = [_paragraph(rng) for _ in range(rng.randint(5, 7))]
        if p % 5 == 0:
            paras.insert(0, f"# Chapter {p // 5 + 1}: {rng.choice(_UNITS).title()}")
        pages.append("\n\n".join(paras))
    return pages


def pdfs(n_pdfs: int, pages: int) -> list[bytes]:
    return [multi_page_pdf(pdf_pages(pages, seed=1000 + i)) for i in range(n_pdfs)]


def html_docs(n: int) -> list[bytes]:
    """Articles inside site navigation, a sidebar and a footer (``keel_ingestion.testing``)."""
    rng = random.Random(2)
    return [
        html_page([_paragraph(rng) for _ in range(rng.randint(4, 8))], title=f"Service note {i}")
        for i in range(n)
    ]


def markdown_docs(n: int) -> list[bytes]:
    """Notes with headings, a list and a table."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        unit = rng.choice(_UNITS)
        steps = "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(3, 6)))
        table = "| part | interval |\n|---|---|\n" + "\n".join(
            f"| {p} | {rng.randint(1, 50) * 100} h |" for p in rng.sample(_PARTS, 3)
        )
        body = "\n\n".join(_paragraph(rng) for _ in range(rng.randint(2, 5)))
        note = f"# Note {i}: {unit}\n\n{body}\n\n## Steps\n\n{steps}\n\n## Intervals\n\n{table}\n"
        out.append(note.encode())
    return out


def build_docs(n: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """(filename, Markdown bytes) for the build: ``nearcorpus`` prose of 1-3 KB under a heading, a
    tenth of the documents planted exact or near duplicates of earlier ones (so the build's dedup
    stage removes some)."""
    items, _ = planted_corpus(n, 0.1, seed=seed)
    return [(f"{key}.md", f"# Document {key}\n\n{text}\n".encode()) for key, text in items]


# Hand-written passages in the style of a manual or a policy page: each states a few facts (numbers,
# names, conditions) that a question can ask for and an answer can copy.
QA_PASSAGES = [
    "The Harlow H-200 air compressor must be drained of condensate every 8 hours of operation. "
    "The drain valve sits under the main tank, on the left side. Open it slowly until only air escapes.",
    "Visitors to the Brennan Street plant sign in at Gate 3 and receive an orange badge. Badges are "
    "returned at the same gate; a lost badge is reported to the security office on extension 4410.",
    "The cooling tower at Site North holds 42,000 litres of water. Its fans switch on automatically when "
    "the return water temperature rises above 31 degrees Celsius.",
    "Forklift batteries are charged in Bay 7 only. A full charge takes 8 hours, and the battery must "
    "rest for 2 hours before it is used again.",
    "The quarterly safety audit is led by Maria Okafor. It covers fire exits, eye-wash stations and the "
    "first-aid kits, and its report is due on the 15th day of the following month.",
    "Model RX-9 pressure sensors are calibrated against a reference gauge once a year. A sensor that "
    "reads more than 0.5 percent off the reference is replaced, not adjusted.",
    "Orders to the Delft warehouse placed before 11:00 leave on the same day's truck. Pallets may not be "
    "taller than 1.8 metres or heavier than 900 kilograms.",
    "The backup generator in Building C runs a 30-minute test every Monday at 06:00. It burns about 45 "
    "litres of diesel per hour at full load, and its tank holds 1,200 litres.",
    "New technicians shadow a senior colleague for their first 6 weeks. After that they sit a practical "
    "exam set by Tomas Lindqvist, the training coordinator.",
    "Conveyor belt T3 moves at 1.2 metres per second. Its emergency stop cords run along both sides, and "
    "pulling either cord stops the belt within 2 seconds.",
    "Hydraulic oil for the P-40 press is grade ISO VG 46. The oil is changed every 4,000 operating hours "
    "or once a year, whichever comes first.",
    "The Alder Road laboratory keeps its reagent fridge at 4 degrees Celsius. Samples are logged in the "
    "blue binder and discarded after 90 days unless a chemist marks them for keeping.",
    "Night shift at the bottling line starts at 22:00 and ends at 06:00. Each operator takes a "
    "20-minute break, and breaks are staggered so that at least 3 operators stay on the line.",
    "Spare impellers for the circulation pumps are stored in Cabinet 12 of the east storeroom. The "
    "storeroom key is held by the maintenance supervisor, Priya Raman.",
    "The wastewater pH must stay between 6.5 and 9.0 before discharge. A probe in the final tank checks "
    "it every 5 minutes and closes the outlet valve when the value leaves that range.",
    "Ladders taller than 3 metres are inspected every 6 months by the facilities team. A ladder that "
    "fails inspection gets a red tag and is taken to the scrap area behind Hangar 2.",
]
