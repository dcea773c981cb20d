"""Gateway test fixtures: the MiniLM embedder (loaded once per session, ~5 s) and Redis clients.

The Redis tests run on the session's embedded Valkey (``valkey_url`` from the root conftest).
pytest-asyncio is not used: a test runs its coroutine with ``asyncio.run`` and opens its clients
inside it, since a ``redis.asyncio`` client belongs to the loop that first used it."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


@pytest.fixture(scope="session")
def embedder() -> Iterator[Any]:
    from keel_gateway.guardrails.semantic import Embedder

    emb = Embedder()
    yield emb
    emb.close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def dead_redis(closed_port: int) -> Callable[[], aioredis.Redis]:
    """Makes a client for a Redis that is down. Retries are off: redis-py's default (10 retries
    with backoff) would take ~4 s to give up on each command."""

    def make() -> aioredis.Redis:
        return aioredis.Redis(
            host="127.0.0.1", port=closed_port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    return make
