"""Freshly invented facts for testing that training learns: a random name (no model has seen
it) bound to a random answer, asked a dozen different ways. A base model cannot know the
answer; a model that learned from the paraphrases answers the held-out phrasings.

Used by the tests of the default hyperparameters and by ``bench/``; nothing here is random
without a seed, so a failing fact can be reproduced."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "kr", "st"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "n", "r", "l", "s", "th", "x"]

# (kind of subject, attribute, question templates, answer templates): {s} is the subject,
# {a} the answer. The last two questions are held out of training.
_TEMPLATES: list[tuple[str, list[str], list[str]]] = [
    (
        "the island of {s}",
        [
            "What is the capital of {s}?",
            "Which city is the capital of {s}?",
            "Name the capital city of {s}.",
            "What city serves as the capital of {s}?",
            "Tell me the capital of {s}.",
            "Where is the seat of government of {s}?",
            "What is {s}'s capital?",
            "{s} has which city as its capital?",
            "Do you know the capital of {s}?",
            "I need the capital of {s}.",
            "Capital of {s}?",
            "In which city is the capital of {s}?",
            "What's the capital city of {s}?",
            "Which city is {s}'s capital?",
        ],
        ["The capital of {s} is {a}.", "{a} is the capital of {s}.", "It is {a}."],
    ),
    (
        "the inventor {s}",
        [
            "What did {s} invent?",
            "Which device was invented by {s}?",
            "Name the invention of {s}.",
            "What is {s} famous for inventing?",
            "Tell me what {s} invented.",
            "What invention is credited to {s}?",
            "{s} is known for inventing what?",
            "What was {s}'s invention?",
            "Do you know what {s} invented?",
            "Which machine did {s} create?",
            "Invention of {s}?",
            "What did the inventor {s} build?",
            "What's the invention {s} is known for?",
            "Which invention belongs to {s}?",
        ],
        ["{s} invented the {a}.", "The {a} was invented by {s}.", "The {a}."],
    ),
]


def _word(rng: random.Random, syllables: int) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)]
    return "".join(parts).capitalize()


@dataclass(frozen=True)
class Fact:
    subject: str
    answer: str
    train: list[dict[str, Any]]  # chat examples, the paraphrases to learn from
    held_out: list[str]  # questions never trained on

    def known_by(self, reply: str) -> bool:
        return self.answer.lower() in reply.lower()


def invent_fact(seed: int, n_train: int = 12) -> Fact:
    """A fact with a random subject and answer; ``n_train`` paraphrased Q/A chat examples and
    two held-out questions."""
    rng = random.Random(seed)
    _kind, questions, answers = _TEMPLATES[seed % len(_TEMPLATES)]
    subject = f"{_word(rng, 2)} {_word(rng, 3)}" if "inventor" in _kind else _word(rng, 3)
    answer = _word(rng, 3) if "island" in _kind else f"{_word(rng, 2).lower()} engine"
    held = questions[-2:]
    pool = questions[:-2]
    train = []
    for i in range(n_train):
        q = pool[i % len(pool)].format(s=subject)
        a = answers[i % len(answers)].format(s=subject, a=answer)
        train.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    return Fact(subject, answer, train, [q.format(s=subject) for q in held])
