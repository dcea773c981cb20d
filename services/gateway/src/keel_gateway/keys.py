"""API keys: random, shown once, stored as HMAC-SHA256(pepper, key) in Redis.

A key reads ``sk-keel-<id>.<secret>``: the id finds the record in one lookup, the secret is
only ever compared as a hash. Each gateway replica trusts a verified key for at most
``key_cache_ttl_s`` (< 1 s) and drops it at once on a revocation event, so a revoked key stops
working on every replica within a second. While Redis is unreachable a key verified in the
last ``key_cache_stale_s`` keeps working (the gateway keeps serving); unknown keys fail."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keel_common.contract import GATEWAY_KEY_PREFIX
from keel_gateway.errors import ApiError

log = logging.getLogger(__name__)

SCOPES = ("inference", "training", "admin")
PREFIX = "sk-keel-"
_KEY = re.compile(r"^sk-keel-([a-z0-9]{12})\.([A-Za-z0-9_-]{20,128})$")
TENANT = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
EVENTS = f"{GATEWAY_KEY_PREFIX}:keys:events"
_REC = f"{GATEWAY_KEY_PREFIX}:key:"
_INDEX = f"{GATEWAY_KEY_PREFIX}:keys"


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    scopes: frozenset[str]
    name: str = ""
    created_at: float = 0.0
    revoked_at: float = 0.0
    # 0 = the gateway's default; -1 = unlimited.
    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "api_key",
            "tenant": self.tenant,
            "scopes": sorted(self.scopes),
            "name": self.name,
            "created_at": int(self.created_at),
            "revoked_at": int(self.revoked_at) or None,
            "limits": {"rpm": self.rpm, "tpm": self.tpm, "concurrency": self.concurrency},
        }


def check_tenant(tenant: str) -> str:
    if not TENANT.match(tenant):
        raise ApiError(
            400,
            f"{tenant!r} is not a valid tenant (lower-case letters, digits, '-', '_'; at most 64)",
            param="tenant",
            code="invalid_value",
        )
    return tenant


def check_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    if not scopes:
        raise ApiError(400, f"at least one scope is required ({', '.join(SCOPES)})", param="scopes")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ApiError(400, f"unknown scope(s) {unknown}; known: {', '.join(SCOPES)}", param="scopes")
    return frozenset(scopes)


def admin_tenant(caller: ApiKey, tenant: str | None, operator: str) -> str:
    """The tenant an admin key acts on: its own (the default), or any for the operator
    tenant's admins; another tenant's admin is refused (403)."""
    target = tenant or caller.tenant
    if target != caller.tenant and caller.tenant != operator:
        raise ApiError(
            403,
            f"This key administers tenant '{caller.tenant}' only.",
            param="tenant",
            code="insufficient_scope",
        )
    return target


def managed_key(caller: ApiKey, found: ApiKey | None, key_id: str, operator: str) -> ApiKey:
    """``found`` if the admin ``caller`` may see and revoke it; another tenant's key looks
    missing (404), as an unknown one does."""
    if found is None or (found.tenant != caller.tenant and caller.tenant != operator):
        raise ApiError(404, f"No API key with id '{key_id}'.", param="key_id", code="not_found")
    return found


def _decode(key_id: str, raw: Mapping[Any, Any]) -> tuple[ApiKey, bytes]:
    d = {_s(k): _s(v) for k, v in raw.items()}
    key = ApiKey(
        id=key_id,
        tenant=d["tenant"],
        scopes=frozenset(s for s in d.get("scopes", "").split(",") if s),
        name=d.get("name", ""),
        created_at=float(d.get("created_at", 0)),
        revoked_at=float(d.get("revoked_at", 0)),
        rpm=int(d.get("rpm", 0)),
        tpm=int(d.get("tpm", 0)),
        concurrency=int(d.get("concurrency", 0)),
    )
    return key, bytes.fromhex(d["hash"])


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class _Cached:
    key: ApiKey
    digest: bytes
    verified_at: float


@dataclass
class KeyStore:
    client: aioredis.Redis
    pepper: bytes
    ttl_s: float = 0.5
    stale_s: float = 60.0
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _listener: asyncio.Task[None] | None = None

    def _hash(self, token: str) -> bytes:
        return hmac.new(self.pepper, token.encode(), hashlib.sha256).digest()

    # --- management -------------------------------------------------------------------------
    async def create(
        self,
        tenant: str,
        scopes: list[str] | tuple[str, ...],
        name: str = "",
        rpm: int = 0,
        tpm: int = 0,
        concurrency: int = 0,
    ) -> tuple[ApiKey, str]:
        """Returns the record and the secret key (the only time it exists in clear)."""
        check_tenant(tenant)
        scope_set = check_scopes(scopes)
        key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        token = f"{PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
        key = ApiKey(key_id, tenant, scope_set, name[:200], time.time(), 0.0, rpm, tpm, concurrency)
        mapping: dict[Any, Any] = {
            "tenant": tenant,
            "scopes": ",".join(sorted(scope_set)),
            "name": key.name,
            "created_at": repr(key.created_at),
            "revoked_at": "0",
            "rpm": str(rpm),
            "tpm": str(tpm),
            "concurrency": str(concurrency),
            "hash": self._hash(token).hex(),
        }
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(_REC + key_id, mapping=mapping)
        pipe.sadd(_INDEX, key_id)
        await pipe.execute()
        return key, token

    async def get(self, key_id: str) -> ApiKey | None:
        raw = await self.client.hgetall(_REC + key_id)
        return _decode(key_id, raw)[0] if raw else None

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        ids = sorted(_s(m) for m in await self.client.smembers(_INDEX))
        pipe = self.client.pipeline(transaction=False)
        for key_id in ids:
            pipe.hgetall(_REC + key_id)
        keys = [_decode(i, raw)[0] for i, raw in zip(ids, await pipe.execute(), strict=True) if raw]
        return sorted(
            (k for k in keys if tenant is None or k.tenant == tenant), key=lambda k: (k.created_at, k.id)
        )

    async def revoke(self, key_id: str) -> ApiKey | None:
        if not await self.client.exists(_REC + key_id):
            return None
        await self.client.hset(_REC + key_id, "revoked_at", repr(time.time()))
        await self.client.publish(EVENTS, key_id)
        self._cache.pop(key_id, None)
        return await self.get(key_id)

    # --- verification -----------------------------------------------------------------------
    async def verify(self, token: str | None) -> ApiKey:
        if not token:
            raise ApiError(
                401,
                "You didn't provide an API key. Send it as 'Authorization: Bearer sk-keel-…'.",
                code="missing_api_key",
            )
        m = _KEY.match(token)
        if not m:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        key_id = m.group(1)
        digest = self._hash(token)
        now = time.monotonic()
        hit = self._cache.get(key_id)
        if hit is not None and now - hit.verified_at < self.ttl_s:
            return self._check(hit.key, hit.digest, digest)
        try:
            raw = await self.client.hgetall(_REC + key_id)
        except (RedisError, OSError):
            if hit is not None and now - hit.verified_at < self.stale_s:
                log.warning("redis unreachable; using a cached key verification", extra={"key_id": key_id})
                return self._check(hit.key, hit.digest, digest)
            raise ApiError(
                503, "the key store is unreachable; try again", code="key_store_unavailable"
            ) from None
        if not raw:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        key, stored = _decode(key_id, raw)
        self._cache[key_id] = _Cached(key, stored, now)
        return self._check(key, stored, digest)

    @staticmethod
    def _check(key: ApiKey, stored: bytes, digest: bytes) -> ApiKey:
        if not hmac.compare_digest(stored, digest):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        if key.revoked_at:
            raise ApiError(401, "This API key has been revoked.", code="invalid_api_key")
        return key

    # --- revocation events ------------------------------------------------------------------
    async def listen(self) -> None:
        """Drop revoked keys from this replica's cache as soon as any replica revokes them."""
        while True:
            try:
                pubsub = self.client.pubsub()
                await pubsub.subscribe(EVENTS)
                # Whatever was revoked while we were not subscribed is unknown: start clean.
                self._cache.clear()
                async for msg in pubsub.listen():
                    if msg.get("type") == "message":
                        self._cache.pop(_s(msg["data"]), None)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("key revocation listener lost redis; retrying")
                await asyncio.sleep(1.0)
