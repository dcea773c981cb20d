"""Grounded QA synthesis: a model served by Keel writes question/answer pairs for each passage
(the prompt and few-shot examples live in ``keel_ingestion/prompts``), and only pairs whose
answer is supported by the passage are kept.

Support is lexical and conservative: an answer is supported when its normalised text occurs in
the passage, or when at least ``min_support`` of its content words (not stop words) occur in the
passage. A small model paraphrases little, so this keeps real extractions and drops invented
facts; the kept fraction is recorded on the build.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Protocol

Messages = list[dict[str, str]]

_WORD = re.compile(r"\w+", re.UNICODE)
_PAIR = re.compile(r"^\s*Q\s*[:.)-]\s*(?P<q>.+?)\s*\n+\s*A\s*[:.)-]\s*(?P<a>.+?)\s*$", re.MULTILINE)
_STOP = """a an the of to in on at by for with from and or but is are was were be been being it its this
that these those as if then than so not no do does did has have had what which who whom whose when
where why how can could should would will shall may might must there their they them he she his her
you your we our i"""
STOP_WORDS = frozenset(_STOP.split())


class Generator(Protocol):
    """Chat completions, many at once (the inference service batches them)."""

    def generate(
        self, conversations: Sequence[Messages], max_tokens: int, temperature: float
    ) -> list[str]: ...


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    support: float


def normalise(text: str) -> str:
    """SQuAD-style: lower case, no punctuation or articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    words = [w for w in _WORD.findall(text) if w not in ("a", "an", "the")]
    return " ".join(words)


def support(answer: str, passage: str) -> float:
    """1.0 when the normalised answer occurs in the normalised passage; else the share of the
    answer's content words found among the passage's words."""
    a, p = normalise(answer), normalise(passage)
    if not a:
        return 0.0
    if f" {a} " in f" {p} ":
        return 1.0
    content = [w for w in a.split() if w not in STOP_WORDS]
    if not content:
        return 0.0
    words = set(p.split())
    return sum(1 for w in content if w in words) / len(content)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    return [(m.group("q").strip(), m.group("a").strip()) for m in _PAIR.finditer(text)]


def _render(pairs: Sequence[Sequence[str]]) -> str:
    return "\n".join(f"Q: {q}\nA: {a}" for q, a in pairs)


def prompt(passage: str, pairs: int) -> Messages:
    """The few-shot examples as earlier turns, then the passage, each under the same instruction.
    (Measured on SmolLM2-135M: the instruction next to each passage, with no system message,
    keeps about three times more grounded pairs than one system instruction.)"""
    base = files("keel_ingestion") / "prompts"
    template = (base / "qa_synthesis.md").read_text().strip()
    shots = json.loads((base / "qa_examples.json").read_text())
    messages: Messages = []
    for shot in shots:
        messages.append({"role": "user", "content": template.format(passage=shot["passage"], pairs=pairs)})
        messages.append({"role": "assistant", "content": _render(shot["pairs"][:pairs])})
    messages.append({"role": "user", "content": template.format(passage=passage, pairs=pairs)})
    return messages


def grounded(passage: str, raw: str, pairs: int, min_support: float) -> tuple[list[QAPair], int]:
    """(the supported pairs, at most ``pairs``, from one completion; how many were proposed)."""
    proposed = list(dict.fromkeys(parse_pairs(raw)))  # a small model repeats itself
    kept = []
    for q, a in proposed:
        if len(q) < 8 or not q.rstrip().endswith("?") or normalise(q) == normalise(a):
            continue
        s = support(a, passage)
        if s >= min_support:
            kept.append(QAPair(q, a, s))
    return kept[:pairs], len(proposed)


def synthesize(
    passages: Sequence[str],
    gen: Generator,
    *,
    pairs: int,
    max_tokens: int,
    temperature: float,
    min_support: float,
) -> list[tuple[list[QAPair], int]]:
    """One batched call for all ``passages``; per passage its kept pairs and the proposed count."""
    outs = gen.generate([prompt(p, pairs) for p in passages], max_tokens, temperature)
    return [grounded(p, o, pairs, min_support) for p, o in zip(passages, outs, strict=True)]
