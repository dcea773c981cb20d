"""Per-key limits enforced atomically in Redis, so every gateway replica draws on one budget.

Requests and tokens per minute use a sliding-window counter (this minute's count plus the
previous minute's, weighted by how much of it is still inside the window); concurrency is a
sorted set of in-flight request ids whose scores are lease expiries, so a crashed replica's
requests stop counting after ``lease_s``. Tokens are reserved at admission from an estimate
(prompt + nothing) and corrected with the real usage when the request ends."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keel_common.contract import GATEWAY_KEY_PREFIX

log = logging.getLogger(__name__)

WINDOW_S = 60
_PREFIX = f"{GATEWAY_KEY_PREFIX}:rl:"

# KEYS: rpm:cur rpm:prev tpm:cur tpm:prev conc
# ARGV: rpm tpm concurrency est_tokens request_id lease_s
# Returns {allowed(1|0), limit name, retry_after_s, remaining_rpm, remaining_tpm}
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local window = 60
local elapsed = now % window
local weight = (window - elapsed) / window
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local est, rid, lease = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])

local function used(cur, prev)
  return tonumber(redis.call('GET', cur) or '0'), tonumber(redis.call('GET', prev) or '0')
end

-- seconds until prev * weight(t) + cur + need <= limit
local function wait(cur, prev, need, limit)
  if cur + need > limit then return window - elapsed end
  if prev <= 0 then return 1 end
  local w = (limit - cur - need) / prev
  local at = (1 - w) * window
  return math.max(at - elapsed, 1)
end

local rc, rp = used(KEYS[1], KEYS[2])
if rpm > 0 and rp * weight + rc + 1 > rpm then
  return {0, 'requests', tostring(math.ceil(wait(rc, rp, 1, rpm))), 0, 0}
end
local tc, tp = used(KEYS[3], KEYS[4])
if tpm > 0 and tp * weight + tc + est > tpm then
  return {0, 'tokens', tostring(math.ceil(wait(tc, tp, est, tpm))), 0, 0}
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  if redis.call('ZCARD', KEYS[5]) >= conc then
    return {0, 'concurrency', '1', 0, 0}
  end
  redis.call('ZADD', KEYS[5], now + lease, rid)
  redis.call('EXPIRE', KEYS[5], lease)
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 2 * window)
if est > 0 then
  redis.call('INCRBY', KEYS[3], est)
  redis.call('EXPIRE', KEYS[3], 2 * window)
end
local rem_r = -1
if rpm > 0 then rem_r = math.floor(rpm - (rp * weight + rc + 1)) end
local rem_t = -1
if tpm > 0 then rem_t = math.floor(tpm - (tp * weight + tc + est)) end
return {1, '', '0', rem_r, rem_t}
"""

# KEYS: tpm:cur conc   ARGV: token correction, request_id
_RELEASE = """
local delta = tonumber(ARGV[1])
if delta ~= 0 then
  redis.call('INCRBY', KEYS[1], delta)
  redis.call('EXPIRE', KEYS[1], 120)
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class Limits:
    rpm: int
    tpm: int
    concurrency: int


@dataclass(frozen=True)
class Admission:
    allowed: bool
    limit: str = ""  # which limit refused: requests | tokens | concurrency
    retry_after_s: int = 0
    remaining_requests: int = -1
    remaining_tokens: int = -1
    # False when Redis could not be asked and the request was let through.
    enforced: bool = True


class RateLimiter:
    def __init__(self, client: aioredis.Redis, lease_s: int = 900) -> None:
        self.client = client
        self.lease_s = lease_s
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def _keys(key_id: str, minute: int) -> list[str]:
        base = f"{_PREFIX}{key_id}"
        return [
            f"{base}:rpm:{minute}",
            f"{base}:rpm:{minute - 1}",
            f"{base}:tpm:{minute}",
            f"{base}:tpm:{minute - 1}",
            f"{base}:conc",
        ]

    async def _minute(self) -> int:
        # Buckets follow Redis' clock, not this replica's, so replicas agree on the window.
        sec, _ = await self.client.time()
        return int(sec) // WINDOW_S

    async def admit(self, key_id: str, limits: Limits, request_id: str, est_tokens: int) -> Admission:
        if limits.rpm <= 0 and limits.tpm <= 0 and limits.concurrency <= 0:
            return Admission(True)
        try:
            minute = await self._minute()
            res = await self._admit(
                keys=self._keys(key_id, minute),
                args=[
                    limits.rpm,
                    limits.tpm,
                    limits.concurrency,
                    max(est_tokens, 0),
                    request_id,
                    self.lease_s,
                ],
            )
        except (RedisError, OSError):
            # Fail open: an unreachable Redis must not take the API down (counted by the caller).
            log.warning("rate limiter unreachable; request admitted unenforced")
            return Admission(True, enforced=False)
        allowed, limit, retry, rem_r, rem_t = res
        if not int(allowed):
            return Admission(False, limit.decode() if isinstance(limit, bytes) else str(limit), int(retry))
        return Admission(True, remaining_requests=int(rem_r), remaining_tokens=int(rem_t))

    async def release(self, key_id: str, request_id: str, reserved: int, used: int) -> None:
        try:
            minute = await self._minute()
            keys = self._keys(key_id, minute)
            await self._release(keys=[keys[2], keys[4]], args=[used - reserved, request_id])
        except (RedisError, OSError):
            log.warning("rate limiter unreachable; usage of %s not recorded", request_id)


def estimate_tokens(text_bytes: int) -> int:
    """A cheap reservation before the real count is known (~4 bytes per token)."""
    return max(1, math.ceil(text_bytes / 4))
