"""Exact match and token F1 of generated answers, with SQuAD's answer normalisation.

Loss and perplexity do not say whether a model learned a fact; these do, and every reader of QA
results knows them. Normalisation (as SQuAD's evaluation defines it): lower case, drop
punctuation, drop the English articles a/an/the, collapse whitespace. Punctuation here is every
Unicode punctuation character, not only ASCII's, so "Straße," and "straße" agree. A prediction
is scored against each of its references and keeps the best score; both figures lie in [0, 1].

Written here rather than taken from Hugging Face ``evaluate``: its ``squad`` metric is a script
fetched from the Hub at run time, which Keel must never do, and the definition is a few lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    lowered = text.lower()
    no_punct = "".join(c for c in lowered if not unicodedata.category(c).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", no_punct).split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised reference, else 0.0."""
    got = normalize_answer(prediction)
    return float(any(got == normalize_answer(r) for r in _refs(references)))


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """The best harmonic mean of token precision and recall against a reference (tokens are the
    normalised answer's words, counted with multiplicity). Two empty answers agree (1.0); an
    empty one against a non-empty one scores 0.0."""
    return max(
        _f1(normalize_answer(prediction).split(), normalize_answer(r).split()) for r in _refs(references)
    )


def _refs(references: Sequence[str]) -> Sequence[str]:
    if isinstance(references, str) or not references:
        raise ValueError("references must be a non-empty sequence of answers")
    return references


def _f1(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QaScores:
    """Means over a set of answers."""

    n: int
    exact_match: float
    f1: float


def score_answers(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> QaScores:
    """Mean exact match and token F1 of ``predictions[i]`` against ``references[i]``."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} reference sets")
    if not predictions:
        return QaScores(0, 0.0, 0.0)
    em = sum(exact_match(p, r) for p, r in zip(predictions, references, strict=True))
    f1 = sum(token_f1(p, r) for p, r in zip(predictions, references, strict=True))
    return QaScores(len(predictions), em / len(predictions), f1 / len(predictions))
