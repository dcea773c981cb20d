"""Feedback test fixtures: a migrated store on SQLite and PostgreSQL (the root conftest's
``database_url``), a real Valkey for the stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from keel_feedback.core.store import Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    from keel_common.sql import create_db_engine
    from keel_feedback.migrate import MIGRATIONS

    engine = create_db_engine(database_url)
    MIGRATIONS.upgrade(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: object) -> Iterator[Store]:
    from pathlib import Path

    from keel_common.sql import create_db_engine
    from keel_feedback.migrate import MIGRATIONS

    engine = create_db_engine(f"sqlite:///{Path(str(tmp_path)) / 'feedback.db'}")
    MIGRATIONS.upgrade(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def valkey(valkey_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(valkey_url)
    client.flushdb()
    yield client
    client.close()
