"""Token counting with a base model's own tokenizer, so a chunk's budget is exactly what the
model will see when it trains on it. The fast ``tokenizers`` library reads ``tokenizer.json``
directly (no transformers import, no network)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...

    def windows(self, text: str, budget: int) -> list[tuple[int, int]]:
        """Character spans that cover ``text`` in order, each at most ``budget`` tokens."""
        ...


class HFTokenCounter:
    """A ``tokenizers.Tokenizer`` without special tokens (a chat template adds its own)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tok = tokenizer

    @classmethod
    def from_dir(cls, model_dir: Path) -> HFTokenCounter:
        return cls(Tokenizer.from_file(str(model_dir / "tokenizer.json")))

    def count(self, text: str) -> int:
        return len(self.tok.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(e.ids) for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def windows(self, text: str, budget: int) -> list[tuple[int, int]]:
        offsets = self.tok.encode(text, add_special_tokens=False).offsets
        spans: list[tuple[int, int]] = []
        start, i = 0, 0
        while i < len(offsets):
            j = min(i + budget, len(offsets))
            end = offsets[j][0] if j < len(offsets) else len(text)
            # Re-encoding a slice can merge differently at its edges: shrink until it fits.
            while j > i + 1 and self.count(text[start:end]) > budget:
                j -= 1
                end = offsets[j][0]
            if end <= start:  # one token wider than the budget cannot happen, but never loop
                end = offsets[i][1]
            spans.append((start, end))
            start, i = end, j
        return spans
