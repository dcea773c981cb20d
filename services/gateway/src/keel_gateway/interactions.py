"""The interaction log: every finished request goes to a Redis stream (``INTERACTIONS_STREAM``)
(one serialized ``keel.gateway.v1.Interaction`` per entry, field ``data``, capped by MAXLEN).

Writing is never on a response's critical path: ``record`` only appends to a bounded
in-memory buffer, and a background task ships batches. While Redis is down the buffer fills
and the writer retries with backoff; when it is full the oldest record is dropped and counted
in ``keel_gateway_interactions_dropped_total``."""

from __future__ import annotations

import asyncio
import collections
import logging

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from keel.gateway.v1 import gateway_pb2 as gpb

log = logging.getLogger(__name__)


class InteractionLog:
    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        maxlen: int,
        buffer: int,
        batch: int,
        dropped: Counter,
        written: Counter,
        buffered: Gauge,
    ) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen
        self.batch = batch
        self._buf: collections.deque[bytes] = collections.deque()
        self._cap = buffer
        self._wake = asyncio.Event()
        self._dropped = dropped
        self._written = written
        self._buffered = buffered
        self.dropped = 0
        self.written = 0

    def record(self, interaction: gpb.Interaction) -> None:
        if len(self._buf) >= self._cap:
            self._buf.popleft()
            self.dropped += 1
            self._dropped.inc()
        self._buf.append(interaction.SerializeToString())
        self._buffered.set(len(self._buf))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._buf)

    async def run(self) -> None:
        backoff = 0.1
        while True:
            if not self._buf:
                self._wake.clear()
                await self._wake.wait()
            items = [self._buf[i] for i in range(min(self.batch, len(self._buf)))]
            try:
                pipe = self.client.pipeline(transaction=False)
                for data in items:
                    pipe.xadd(self.stream, {"data": data}, maxlen=self.maxlen, approximate=True)
                await pipe.execute()
            except (RedisError, OSError):
                log.warning("interaction log: redis unreachable, %d records buffered", len(self._buf))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            # Records may have been dropped from the left meanwhile; remove what was sent.
            for data in items:
                if self._buf and self._buf[0] is data:
                    self._buf.popleft()
            self.written += len(items)
            self._written.inc(len(items))
            self._buffered.set(len(self._buf))

    async def drain(self, timeout: float = 5.0) -> None:
        """On shutdown: give the writer a moment to ship what is buffered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._buf and loop.time() < deadline:
            await asyncio.sleep(0.05)
