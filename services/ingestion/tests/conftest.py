"""Ingestion test fixtures: SmolLM2's real tokenizer (the shipped model's, converted once per
machine by the root conftest's ``smollm2_dir``), an artifact store in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from keel_common.artifacts import ArtifactStore
from keel_ingestion.core.tokens import HFTokenCounter


@pytest.fixture(scope="session")
def counter(smollm2_dir: Path) -> HFTokenCounter:
    return HFTokenCounter.from_dir(smollm2_dir)


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


class InlineQueue:
    """Stands in for the Celery queue in core tests (the worker tests use real Celery): the
    launcher's start and every task's follow-ups land here, and ``drain`` runs them in order."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, str, int]] = []
        self.builds: object | None = None

    def start(self, operation_id: str) -> None:
        self.tasks.append((operation_id, "start", 0))

    def drain(self, limit: int = 10_000) -> int:
        from keel_ingestion.core.runs import Builds

        assert isinstance(self.builds, Builds)
        ran = 0
        while self.tasks and ran < limit:
            op, stage, shard = self.tasks.pop(0)
            self.tasks += [(op, st, sh) for st, sh in self.builds.run(op, stage, shard)]
            ran += 1
        return ran


@pytest.fixture
def core(database_url: str, store: ArtifactStore, counter: HFTokenCounter) -> Iterator[SimpleNamespace]:
    """Documents, Datasets and Builds on one database (SQLite and PostgreSQL) with the inline
    queue; ``generator`` is what synthesis calls (set it per test)."""
    from keel_common.sql import create_db_engine
    from keel_ingestion.core.datasets import Datasets
    from keel_ingestion.core.documents import Documents
    from keel_ingestion.core.runs import Builds
    from keel_ingestion.migrate import MIGRATIONS

    engine = create_db_engine(database_url)
    MIGRATIONS.upgrade(engine)
    queue = InlineQueue()
    ns = SimpleNamespace(queue=queue, store=store, engine=engine, generator=None)
    ns.documents = Documents(
        engine, store, max_bytes=2 * 1024 * 1024, max_text_chars=1_000_000, max_pages=100
    )
    ns.datasets = Datasets(engine, store, queue)
    ns.builds = Builds(
        engine, store, counter=lambda _base: counter, generator=lambda _model: ns.generator,
        shard_documents=2, shard_chunks=4,
    )  # fmt: skip
    queue.builds = ns.builds
    yield ns
    engine.dispose()
