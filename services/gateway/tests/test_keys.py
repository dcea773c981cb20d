"""API keys on the session's embedded Valkey."""

from __future__ import annotations

import asyncio
import pickle
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from keel_common.errors import KeelError
from keel_gateway.errors import ApiError
from keel_gateway.keys import (
    EVENTS,
    PREFIX,
    ApiKey,
    KeyStore,
    admin_tenant,
    check_scopes,
    check_tenant,
    managed_key,
)

PEPPER = b"test-pepper-not-a-secret"


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def tamper(token: str) -> str:
    """The same key id with another secret."""
    return token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")


async def eventually(cond: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until ``cond`` holds; fails after ``timeout``."""
    start = time.monotonic()
    while not await cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def rejects(store: KeyStore, token: str | None) -> ApiError:
    with pytest.raises(ApiError) as info:
        await store.verify(token)
    return info.value


def test_create_verify_and_reject(valkey_url: str) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        store = KeyStore(client, PEPPER)
        t = tenant()
        key, token = await store.create(
            t, ["inference", "training"], name="ci", rpm=60, tpm=1000, concurrency=2
        )
        assert token.startswith(f"{PREFIX}{key.id}.")
        got = await store.verify(token)
        assert (got.id, got.tenant, got.scopes) == (key.id, t, frozenset({"inference", "training"}))
        assert (got.rpm, got.tpm, got.concurrency, got.name) == (60, 1000, 2, "ci")

        # Only an HMAC of the key is stored; the secret part is nowhere in Redis.
        record = await client.hgetall(f"keel:gateway:key:{key.id}")
        secret = token.split(".", 1)[1]
        assert all(secret.encode() not in v for v in record.values())

        wrong = tamper(token)
        for bad in (wrong, f"{PREFIX}{'z' * 12}.{'x' * 40}"):  # wrong secret; unknown id
            err = await rejects(KeyStore(client, PEPPER, ttl_s=0), bad)
            assert (err.status, err.code) == (401, "invalid_api_key")
        # A wrong secret is refused from the cache too (the cache holds the digest, not a verdict).
        err = await rejects(store, wrong)
        assert (err.status, err.code) == (401, "invalid_api_key")
        # Another deployment's pepper makes every key invalid.
        assert (await rejects(KeyStore(client, b"other-pepper"), token)).status == 401

        for malformed in (
            "sk-keel-short",
            f"Bearer {token}",
            token.replace(PREFIX, "sk-"),
            "sk-keel-ABC.def",
        ):
            err = await rejects(store, malformed)
            assert (err.status, err.code) == (401, "invalid_api_key")
        for missing in (None, ""):
            err = await rejects(store, missing)
            assert (err.status, err.code) == (401, "missing_api_key")
        await client.aclose()

    asyncio.run(main())


def test_revoke_and_list(valkey_url: str) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        store = KeyStore(client, PEPPER)
        t1, t2 = tenant(), tenant()
        a, token_a = await store.create(t1, ["inference"], name="a")
        b, _ = await store.create(t1, ["admin"], name="b")
        c, _ = await store.create(t2, ["inference"], name="c")
        assert [k.id for k in await store.list(t1)] == [a.id, b.id]  # oldest first
        assert [k.id for k in await store.list(t2)] == [c.id]
        assert {a.id, b.id, c.id} <= {k.id for k in await store.list()}

        await store.verify(token_a)  # now cached on this replica
        revoked = await store.revoke(a.id)
        assert revoked is not None and revoked.revoked_at > 0
        err = await rejects(store, token_a)
        assert (err.status, err.code) == (401, "invalid_api_key") and "revoked" in err.message
        assert (await store.get(a.id)).revoked_at > 0  # type: ignore[union-attr]
        assert await store.revoke("nosuchkey123") is None
        assert await store.get("nosuchkey123") is None
        await client.aclose()

    asyncio.run(main())


def test_revocation_reaches_another_replica_within_a_second(valkey_url: str) -> None:
    async def main() -> float:
        client_a, client_b = aioredis.from_url(valkey_url), aioredis.from_url(valkey_url)
        replica_a = KeyStore(client_a, PEPPER)
        # A long cache TTL: only the revocation event can make replica B forget the key.
        replica_b = KeyStore(client_b, PEPPER, ttl_s=60)
        key, token = await replica_a.create(tenant(), ["inference"])
        await replica_b.verify(token)
        listener = asyncio.create_task(replica_b.listen())
        try:
            # Subscribed once the listener has started clean (it drops what it cached before).
            await eventually(lambda: _true(not replica_b._cache), timeout=5)
            assert (await client_a.pubsub_numsub(EVENTS))[0][1] >= 1
            await replica_b.verify(token)
            assert key.id in replica_b._cache

            await replica_a.revoke(key.id)
            start = time.monotonic()

            async def refused() -> bool:
                try:
                    await replica_b.verify(token)
                except ApiError as err:
                    assert err.status == 401
                    return True
                return False

            await eventually(refused, timeout=1.0)
            return time.monotonic() - start
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await client_a.aclose()
            await client_b.aclose()

    assert asyncio.run(main()) < 1.0


async def _true(value: bool) -> bool:
    return value


def test_a_cached_key_survives_a_redis_outage_for_stale_s(
    valkey_url: str, dead_redis: Callable[[], aioredis.Redis]
) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        store = KeyStore(client, PEPPER, ttl_s=0, stale_s=60)
        strict = KeyStore(client, PEPPER, ttl_s=0, stale_s=0)
        key, token = await store.create(tenant(), ["inference"])
        _, other = await store.create(tenant(), ["inference"])
        await store.verify(token)
        await strict.verify(token)

        dead = dead_redis()
        store.client = strict.client = dead  # Redis goes away under both replicas
        assert (await store.verify(token)).id == key.id  # verified before: keeps working
        err = await rejects(store, tamper(token))  # but a wrong secret is still wrong
        assert err.status == 401
        for replica, tok in ((store, other), (strict, token)):  # never seen, or seen too long ago
            err = await rejects(replica, tok)
            assert (err.status, err.code) == (503, "key_store_unavailable")
        await dead.aclose()
        await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("bad", ["", "Acme", "-acme", "acme-", "a b", "a" * 65, "acme!"])
def test_tenant_validation(bad: str) -> None:
    with pytest.raises(ApiError) as info:
        check_tenant(bad)
    assert (info.value.status, info.value.param, info.value.code) == (400, "tenant", "invalid_value")


def test_tenant_validation_accepts() -> None:
    for good in ("a", "acme", "acme-corp_2", "a" * 64):
        assert check_tenant(good) == good


@pytest.mark.parametrize(("scopes", "needle"), [([], "at least one scope"), (["inference", "root"], "root")])
def test_scope_validation(scopes: list[str], needle: str) -> None:
    with pytest.raises(ApiError) as info:
        check_scopes(scopes)
    assert (info.value.status, info.value.param) == (400, "scopes")
    assert needle in info.value.message


def test_invalid_create_writes_nothing(valkey_url: str) -> None:
    async def main() -> tuple[int, int]:
        client = aioredis.from_url(valkey_url)
        store = KeyStore(client, PEPPER)
        before = len(await store.list())
        errors: list[Any] = []
        for args in (("Bad Tenant", ["inference"]), (tenant(), ["superuser"]), (tenant(), [])):
            with pytest.raises(ApiError) as info:
                await store.create(*args)
            errors.append(info.value.param)
        after = len(await store.list())
        await client.aclose()
        assert errors == ["tenant", "scopes", "scopes"]
        return before, after

    before, after = asyncio.run(main())
    assert before == after


def test_an_admin_acts_on_its_own_tenant_unless_it_is_the_operator() -> None:
    acme = ApiKey("a" * 12, "acme", frozenset({"admin"}))
    op = ApiKey("o" * 12, "keel", frozenset({"admin"}))
    assert admin_tenant(acme, None, "keel") == "acme" and admin_tenant(acme, "acme", "keel") == "acme"
    assert admin_tenant(op, "globex", "keel") == "globex" and admin_tenant(op, None, "keel") == "keel"
    with pytest.raises(ApiError) as err:
        admin_tenant(acme, "globex", "keel")
    assert (err.value.status, err.value.param, err.value.code) == (403, "tenant", "insufficient_scope")

    theirs = ApiKey("g" * 12, "globex", frozenset({"inference"}))
    assert managed_key(op, theirs, theirs.id, "keel") is theirs
    assert managed_key(acme, acme, acme.id, "keel") is acme
    for found in (theirs, None):  # another tenant's key and a missing one look the same
        with pytest.raises(ApiError) as err:
            managed_key(acme, found, "g" * 12, "keel")
        assert (err.value.status, err.value.param) == (404, "key_id")


def test_api_error_is_a_keel_error_with_param_as_its_field() -> None:
    err = ApiError(400, "too hot", param="temperature", code="invalid_value")
    assert isinstance(err, KeelError) and err.field == "temperature" and str(err) == "too hot"
    err.param = "top_p"
    assert err.field == "top_p" and err.body()["error"]["param"] == "top_p"
    back = pickle.loads(pickle.dumps(err))
    assert (back.status, back.param, back.code, back.type) == (
        400,
        "top_p",
        "invalid_value",
        "invalid_request_error",
    )
