"""Quality filters in the spirit of large pretraining-data pipelines (Gopher/C4-style rules):
each example gets every score, not only keep/drop, so a trainer can see why something was
dropped and tune the thresholds."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)
# Lines that web pages and exported documents repeat on every page.
_BOILERPLATE = re.compile(
    r"cookie|all rights reserved|privacy policy|terms of (use|service)|click here|subscribe|"
    r"sign (in|up)|log ?in|javascript|lorem ipsum|page \d+ of \d+|^\s*(home|menu|search|share)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QualityParams:
    min_words: int = 8
    max_symbol_ratio: float = 0.25  # characters that are neither letters, digits nor spaces
    min_alpha_word_ratio: float = 0.6  # words with at least one letter
    max_dup_line_ratio: float = 0.3  # lines that repeat an earlier line
    max_dup_ngram_ratio: float = 0.35  # word 4-grams that occur more than once
    max_boilerplate_ratio: float = 0.4  # lines that look like navigation, cookie or legal text


def scores(text: str) -> dict[str, float]:
    words = _WORD.findall(text)
    chars = [c for c in text if not c.isspace()]
    symbols = sum(1 for c in chars if not c.isalnum())
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    seen: set[str] = set()
    dup_lines = 0
    for line in lines:
        dup_lines += line in seen
        seen.add(line)
    lowered = [w.lower() for w in words]
    grams = Counter(zip(lowered, lowered[1:], lowered[2:], lowered[3:], strict=False))
    n_grams = sum(grams.values())
    dup_grams = sum(c for c in grams.values() if c > 1)
    return {
        "words": float(len(words)),
        "symbol_ratio": symbols / len(chars) if chars else 1.0,
        "alpha_word_ratio": sum(1 for w in words if any(c.isalpha() for c in w)) / len(words)
        if words
        else 0.0,
        "dup_line_ratio": dup_lines / len(lines) if lines else 0.0,
        "dup_ngram_ratio": dup_grams / n_grams if n_grams else 0.0,
        "boilerplate_ratio": sum(1 for line in lines if _BOILERPLATE.search(line)) / len(lines)
        if lines
        else 0.0,
    }


def verdict(s: dict[str, float], p: QualityParams) -> str | None:
    """The first rule the scores break (the drop reason), or None to keep."""
    if s["words"] < p.min_words:
        return "too_short"
    if s["symbol_ratio"] > p.max_symbol_ratio:
        return "mostly_symbols"
    if s["alpha_word_ratio"] < p.min_alpha_word_ratio:
        return "few_words"
    if s["dup_line_ratio"] > p.max_dup_line_ratio:
        return "repeated_lines"
    if s["dup_ngram_ratio"] > p.max_dup_ngram_ratio:
        return "repeated_ngrams"
    if s["boilerplate_ratio"] > p.max_boilerplate_ratio:
        return "boilerplate"
    return None
