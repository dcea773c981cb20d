"""Alias changes go out on Redis so gateways and inference servers can react at once:
PUBLISH on a channel (live subscribers) and XADD to a capped stream (catch-up after a restart).
A failed publish never undoes the committed change; it is logged and counted."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import redis

from keel_common import metrics

log = logging.getLogger(__name__)

PUBLISH_FAILURES = metrics.counter(
    "registry", "alias_publish_failures", "Alias events that could not be published to Redis"
)


@dataclass(frozen=True)
class AliasChange:
    model: str
    alias: str
    action: str  # SET | DELETE | ROLLBACK
    from_version: int  # 0: the alias did not exist
    to_version: int  # 0: the alias was deleted
    actor: str
    at: datetime
    # The audit event's id: increases with every move of any alias, so a consumer can order
    # events published from different threads and drop duplicates.
    event_id: int = 0

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["type"] = "alias"
        return json.dumps(data, sort_keys=True)


class AliasPublisher:
    def __init__(self, client: redis.Redis, channel: str, stream: str, maxlen: int = 10_000) -> None:
        self.client = client
        self.channel = channel
        self.stream = stream
        self.maxlen = maxlen

    def publish(self, change: AliasChange) -> None:
        payload = change.to_json()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.xadd(self.stream, {"data": payload}, maxlen=self.maxlen, approximate=True)
            pipe.publish(self.channel, payload)
            pipe.execute()
        except redis.RedisError:
            PUBLISH_FAILURES.inc()
            log.exception(
                "could not publish alias change", extra={"model": change.model, "alias": change.alias}
            )
