"""Tokenizers of the fine-tunable base models, for checking examples against the context."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from keel_common.artifacts import ArtifactStore
from keel_training.config import TrainingSettings


class Tokenizers:
    """One tokenizer per base model, loaded on first use (converting a GGUF once)."""

    def __init__(self, settings: TrainingSettings, artifacts: ArtifactStore) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Any, int]] = {}
        self._parameters: dict[str, int] = {}

    def model_dir(self, base: str) -> Path:
        from keel_common.loader import resolve_source

        return resolve_source(
            self.settings.base_models[base], self.settings.resolved_model_cache(), self.artifacts
        ).path

    def get(self, base: str) -> tuple[Any, int]:
        """(tokenizer, context length)."""
        with self._lock:
            if base not in self._cache:
                from transformers import AutoConfig, AutoTokenizer

                path = self.model_dir(base)
                ctx = int(getattr(AutoConfig.from_pretrained(path), "max_position_embeddings", 2048))
                self._cache[base] = (AutoTokenizer.from_pretrained(path), ctx)
            return self._cache[base]

    def parameters(self, base: str) -> int:
        """The base model's parameter count (from its config; for the auto learning rate)."""
        with self._lock:
            if base not in self._parameters:
                from keel_training.core.hyperparameters import model_parameters

                self._parameters[base] = model_parameters(self.model_dir(base))
            return self._parameters[base]
