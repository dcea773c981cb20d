"""Prompts compared as people would: case, Unicode form and whitespace do not make two differ."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def prompt_key(messages: Iterable[tuple[str, str]], raw_prompt: str = "") -> str:
    """sha256 of the normalised conversation up to the answer (or of a raw completions prompt):
    what exports deduplicate and split by."""
    msgs = list(messages)
    text = (
        "\x1e".join(f"{role}\x1f{normalise(content)}" for role, content in msgs)
        if msgs
        else normalise(raw_prompt)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def last_user(messages: Iterable[tuple[str, str]]) -> str:
    """The normalised last user turn: how a prompt is matched against an evaluation set, whose
    examples may carry another system message."""
    users = [content for role, content in messages if role == "user"]
    return normalise(users[-1]) if users else ""
