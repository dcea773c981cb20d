"""The consumer of the gateway's interaction log: a Redis consumer group on ``keel:interactions``.

Exactly once by interaction id: a batch is stored in one transaction and acknowledged only after
its commit. A consumer killed before the commit leaves its entries pending; one killed between
commit and XACK leaves them pending too, and their redelivery stores nothing (the store skips ids
it has). Pending entries of a consumer silent for ``claim_idle_s`` are taken over by any live
replica with XAUTOCLAIM, so several replicas share the stream and none loses what another held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError, ResponseError

from keel.gateway.v1 import gateway_pb2 as gpb
from keel_feedback import metrics as m
from keel_feedback.core.store import Store
from keel_feedback.records import row

log = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes] | None]
# A consumer with nothing pending that has been idle this long is removed from the group.
_FORGET_IDLE_MS = 600_000
_COUNT_CAP = 100_000


class Consumer:
    def __init__(
        self,
        client: redis.Redis,
        store: Store,
        *,
        stream: str,
        group: str,
        name: str,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_s: float = 30.0,
        claim_interval_s: float = 5.0,
    ) -> None:
        self.client, self.store = client, store
        self.stream, self.group, self.name = stream, group, name
        self.batch, self.block_ms = batch, block_ms
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.claim_interval_s = claim_interval_s
        self.consumed = 0  # entries acknowledged by this consumer

    def ensure_group(self) -> None:
        """Create the group at the stream's start (so history is read too), once for all replicas."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: first this consumer's own pending entries (a restart under the same
        name), then new entries, claiming silent consumers' entries every ``claim_interval_s``."""
        backoff = 0.1
        own_pending_done = False
        next_claim = 0.0
        while not stop.is_set():
            try:
                self.ensure_group()
                if not own_pending_done:
                    own_pending_done = self._drain_own_pending()
                    continue
                if time.monotonic() >= next_claim:
                    self.claim()
                    next_claim = time.monotonic() + self.claim_interval_s
                self.step()
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning("interaction stream unreachable: %s", exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def step(self, block_ms: int | None = None) -> int:
        """Read and store one batch of new entries; returns how many were handled."""
        resp: Any = self.client.xreadgroup(
            self.group,
            self.name,
            {self.stream: ">"},
            count=self.batch,
            block=self.block_ms if block_ms is None else block_ms,
        )
        if not resp:
            return 0
        entries: list[Entry] = resp[0][1]
        self.handle(entries)
        return len(entries)

    def _drain_own_pending(self) -> bool:
        resp: Any = self.client.xreadgroup(self.group, self.name, {self.stream: "0"}, count=self.batch)
        entries: list[Entry] = resp[0][1] if resp else []
        if entries:
            self.handle(entries)
        return len(entries) < self.batch

    def claim(self) -> int:
        """Take over the entries other consumers have held longer than ``claim_idle_s``."""
        start, claimed = "0-0", 0
        while True:
            nxt, entries, *rest = self.client.xautoclaim(
                self.stream, self.group, self.name, self.claim_idle_ms, start_id=start, count=self.batch
            )
            trimmed = rest[0] if rest else []
            if trimmed:  # held so long the stream's MAXLEN trimmed them: gone, acknowledge
                self.client.xack(self.stream, self.group, *trimmed)
                m.CONSUMED.labels("trimmed").inc(len(trimmed))
                log.error("interactions trimmed from the stream before they were stored: %d", len(trimmed))
            if entries:
                claimed += len(entries)
                m.CLAIMED.inc(len(entries))
                self.handle(entries)
            nxt = nxt.decode() if isinstance(nxt, bytes) else nxt
            if nxt == "0-0":
                break
            start = nxt
        if claimed:
            log.info("claimed %d pending interactions from silent consumers", claimed)
        self._forget_idle_consumers()
        return claimed

    def _forget_idle_consumers(self) -> None:
        for c in self.client.xinfo_consumers(self.stream, self.group):
            name = c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
            if name != self.name and c["pending"] == 0 and c["idle"] > _FORGET_IDLE_MS:
                self.client.xgroup_delconsumer(self.stream, self.group, name)

    def handle(self, entries: Sequence[Entry]) -> None:
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        invalid = 0
        for entry_id, fields in entries:
            data = (fields or {}).get(b"data")
            try:
                if data is None:
                    raise DecodeError("no data field")
                interaction = gpb.Interaction.FromString(data)
                if not interaction.request_id or not interaction.tenant:
                    raise DecodeError("no request_id or tenant")
            except DecodeError as exc:
                invalid += 1
                log.error("unreadable interaction %s skipped: %s", entry_id.decode(), exc)
                continue
            rows.append(row(interaction, data))
        saved = self.store.save_interactions(rows)
        # Acknowledged only now that the batch is committed.
        self.client.xack(self.stream, self.group, *[e[0] for e in entries])
        self.consumed += len(entries)
        m.CONSUMED.labels("stored").inc(saved.stored)
        m.CONSUMED.labels("duplicate").inc(saved.duplicates)
        if invalid:
            m.CONSUMED.labels("invalid").inc(invalid)
        m.BATCH_SECONDS.observe(time.perf_counter() - t0)

    def lag(self) -> tuple[int, int, float]:
        """(pending, undelivered, age in seconds of the oldest entry not acknowledged)."""
        now_ms = time.time() * 1000
        summary = self.client.xpending(self.stream, self.group)
        pending = int(summary["pending"])
        oldest = _ms(summary["min"]) if pending else None
        group = next(
            (g for g in self.client.xinfo_groups(self.stream) if _text(g["name"]) == self.group), None
        )
        undelivered = 0
        if group is not None:
            after = _text(group["last-delivered-id"])
            first = self.client.xrange(self.stream, min=f"({after}", count=1)
            if first:
                lag = group.get("lag")  # unknown (nil) after deletions inside the stream: count, capped
                undelivered = (
                    int(lag)
                    if lag is not None
                    else len(self.client.xrange(self.stream, min=f"({after}", count=_COUNT_CAP) or [])
                )
                first_ms = _ms(first[0][0])
                oldest = first_ms if oldest is None else min(oldest, first_ms)
        age = max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0
        return pending, undelivered, age


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _ms(entry_id: Any) -> float:
    return float(_text(entry_id).split("-", 1)[0])
