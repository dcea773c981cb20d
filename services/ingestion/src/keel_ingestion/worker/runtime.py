"""What a build worker process holds: the database, the artifact store, one tokenizer per base
model (loaded on first use, converting the shipped GGUF once), and generators over the inference
service for QA synthesis."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from keel_common.artifacts import ArtifactStore
from keel_common.sql import create_db_engine
from keel_ingestion.config import IngestionSettings
from keel_ingestion.core.runs import Builds
from keel_ingestion.core.synth import Generator
from keel_ingestion.core.tokens import HFTokenCounter, TokenCounter


class Tokenizers:
    def __init__(self, settings: IngestionSettings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self._lock = threading.Lock()
        self._cache: dict[str, HFTokenCounter] = {}

    def model_dir(self, base: str) -> Path:
        from keel_common.errors import InvalidArgument
        from keel_common.loader import resolve_source

        if base not in self.settings.base_models:
            known = ", ".join(self.settings.base_models)
            raise InvalidArgument(f"unknown base model {base!r}; one of {known}", field="base_model")
        return resolve_source(
            self.settings.base_models[base], self.settings.resolved_model_cache(), self.store
        ).path

    def get(self, base: str) -> TokenCounter:
        with self._lock:
            if base not in self._cache:
                self._cache[base] = HFTokenCounter.from_dir(self.model_dir(base))
            return self._cache[base]


def make_builds(settings: IngestionSettings) -> Builds:
    from keel_ingestion.synthesis_client import InferenceGenerator

    store = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
    engine = create_db_engine(settings.resolved_database_url())
    tokenizers = Tokenizers(settings, store)
    inference = grpc.insecure_channel(settings.inference_target)
    registry = grpc.insecure_channel(settings.registry_target) if settings.registry_target else None

    def generator(model: str) -> Generator:
        return InferenceGenerator(inference, model, list(settings.base_models), registry)

    return Builds(
        engine, store, counter=tokenizers.get, generator=generator, shard_documents=settings.shard_documents,
        shard_chunks=settings.shard_chunks,
    )  # fmt: skip
