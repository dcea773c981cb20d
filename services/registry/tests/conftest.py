"""Fixtures for the registry's own tests: the core over a real database (migrated SQLite in a
temporary directory), a real artifact store, and a real alias publisher on the session's
embedded Valkey. The gRPC service is ``registry_factory`` in the root conftest (shared with the
gateway, the CLI and the integration tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from keel_common.artifacts import ArtifactStore
from keel_common.sql import create_db_engine
from keel_registry import migrate
from keel_registry.core import Registry
from keel_registry.events import AliasPublisher


@pytest.fixture
def events(valkey_url: str) -> Iterator[tuple[redis.Redis, AliasPublisher]]:
    """(client, publisher) on a stream and channel of this test's own."""
    client = redis.Redis.from_url(valkey_url)
    suffix = uuid.uuid4().hex[:8]
    publisher = AliasPublisher(client, f"test:aliases:{suffix}", f"test:events:{suffix}")
    yield client, publisher
    client.close()


@pytest.fixture
def registry_core(tmp_path: Path, events: tuple[redis.Redis, AliasPublisher]) -> Iterator[Registry]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate.upgrade(engine)
    yield Registry(engine, ArtifactStore(str(tmp_path / "artifacts")), events[1])
    engine.dispose()
