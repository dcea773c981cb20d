"""Per-key limits on the session's embedded Valkey. Each test uses its own key id, so budgets
never mix; the sliding window keeps a budget across a minute boundary, so no test depends on
where in the minute it runs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import redis.asyncio as aioredis

from keel_gateway.ratelimit import Limits, RateLimiter, estimate_tokens


def key_id() -> str:
    return f"k-{uuid.uuid4().hex[:12]}"


def rid() -> str:
    return uuid.uuid4().hex


def test_requests_per_minute(valkey_url: str) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        rl = RateLimiter(client)
        k, limits = key_id(), Limits(rpm=3, tpm=0, concurrency=0)
        admitted = [await rl.admit(k, limits, rid(), 10) for _ in range(3)]
        assert all(a.allowed and a.enforced for a in admitted)
        assert [a.remaining_requests for a in admitted] == [2, 1, 0]
        assert admitted[0].remaining_tokens == -1  # no token limit
        refused = await rl.admit(k, limits, rid(), 10)
        assert (refused.allowed, refused.limit) == (False, "requests")
        assert 1 <= refused.retry_after_s <= 60
        # Another key has its own budget.
        assert (await rl.admit(key_id(), limits, rid(), 10)).allowed
        await client.aclose()

    asyncio.run(main())


def test_tokens_per_minute_with_release_corrections(valkey_url: str) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        rl = RateLimiter(client)
        k, limits = key_id(), Limits(rpm=0, tpm=100, concurrency=0)
        first = await rl.admit(k, limits, "r1", 60)
        assert first.allowed and first.remaining_tokens == 40
        refused = await rl.admit(k, limits, "r2", 60)  # 60 + 60 > 100
        assert (refused.allowed, refused.limit) == (False, "tokens")
        assert refused.retry_after_s >= 1
        # r1 really used 10 tokens: 50 are given back, so 60 more fit.
        await rl.release(k, "r1", reserved=60, used=10)
        second = await rl.admit(k, limits, "r3", 60)
        assert second.allowed and second.remaining_tokens == 30
        # r3 used 85 instead of 60: 95 now counted, so even 10 more do not fit.
        await rl.release(k, "r3", reserved=60, used=85)
        assert (await rl.admit(k, limits, "r4", 10)).limit == "tokens"
        assert (await rl.admit(k, limits, "r5", 5)).allowed
        await client.aclose()

    asyncio.run(main())


def test_concurrency(valkey_url: str) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        rl = RateLimiter(client)
        k, limits = key_id(), Limits(rpm=0, tpm=0, concurrency=2)
        assert (await rl.admit(k, limits, "a", 1)).allowed
        assert (await rl.admit(k, limits, "b", 1)).allowed
        refused = await rl.admit(k, limits, "c", 1)
        assert (refused.allowed, refused.limit, refused.retry_after_s) == (False, "concurrency", 1)
        await rl.release(k, "a", reserved=1, used=1)
        assert (await rl.admit(k, limits, "d", 1)).allowed
        assert not (await rl.admit(k, limits, "e", 1)).allowed
        await client.aclose()

    asyncio.run(main())


def test_expired_leases_stop_counting(valkey_url: str) -> None:
    # A replica that crashed never releases; its requests count only until their lease ends.
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        k, limits = key_id(), Limits(rpm=0, tpm=0, concurrency=1)
        assert (await RateLimiter(client, lease_s=0).admit(k, limits, "crashed", 1)).allowed
        assert (await RateLimiter(client, lease_s=900).admit(k, limits, "next", 1)).allowed
        assert not (await RateLimiter(client).admit(k, limits, "third", 1)).allowed
        await client.aclose()

    asyncio.run(main())


def test_two_replicas_share_one_budget(valkey_url: str) -> None:
    async def main() -> None:
        clients = [aioredis.from_url(valkey_url), aioredis.from_url(valkey_url)]
        a, b = (RateLimiter(c) for c in clients)
        k = key_id()
        limits = Limits(rpm=4, tpm=0, concurrency=0)
        results = [await (a if i % 2 else b).admit(k, limits, rid(), 1) for i in range(4)]
        assert all(r.allowed for r in results)
        assert (await a.admit(k, limits, rid(), 1)).limit == "requests"
        assert (await b.admit(k, limits, rid(), 1)).limit == "requests"

        conc = Limits(rpm=0, tpm=0, concurrency=1)
        assert (await a.admit(k, conc, "on-a", 1)).allowed
        assert (await b.admit(k, conc, "on-b", 1)).limit == "concurrency"
        await a.release(k, "on-a", 1, 1)
        assert (await b.admit(k, conc, "on-b", 1)).allowed
        for c in clients:
            await c.aclose()

    asyncio.run(main())


def test_concurrent_admissions_never_exceed_the_limits(valkey_url: str) -> None:
    async def main() -> tuple[int, int, int]:
        clients = [aioredis.from_url(valkey_url) for _ in range(3)]
        limiters = [RateLimiter(c) for c in clients]
        rpm_key, conc_key, tpm_key = key_id(), key_id(), key_id()

        async def burst(k: str, limits: Limits, est: int) -> int:
            res = await asyncio.gather(*(limiters[i % 3].admit(k, limits, rid(), est) for i in range(30)))
            return sum(r.allowed for r in res)

        return (
            await burst(rpm_key, Limits(rpm=10, tpm=0, concurrency=0), 1),
            await burst(conc_key, Limits(rpm=0, tpm=0, concurrency=7), 1),
            await burst(tpm_key, Limits(rpm=0, tpm=100, concurrency=0), 9),
        )

    assert asyncio.run(main()) == (10, 7, 11)


def test_unlimited_always_admits(valkey_url: str, dead_redis: Callable[[], aioredis.Redis]) -> None:
    async def main() -> None:
        client = aioredis.from_url(valkey_url)
        k = key_id()
        for limits in (Limits(0, 0, 0), Limits(-1, -1, -1)):
            for _ in range(50):
                adm = await RateLimiter(client).admit(k, limits, rid(), 10_000)
                assert adm.allowed and adm.enforced
        assert await client.keys(f"keel:gateway:rl:{k}*") == []  # nothing was counted
        # Unlimited keys do not even need Redis.
        dead = dead_redis()
        assert (await RateLimiter(dead).admit(k, Limits(0, 0, 0), rid(), 1)).enforced
        await dead.aclose()
        await client.aclose()

    asyncio.run(main())


def test_redis_unreachable_admits_unenforced(dead_redis: Callable[[], aioredis.Redis]) -> None:
    async def main() -> None:
        dead = dead_redis()
        rl = RateLimiter(dead)
        for _ in range(3):
            adm = await rl.admit(key_id(), Limits(rpm=1, tpm=1, concurrency=1), rid(), 100)
            assert (adm.allowed, adm.enforced) == (True, False)
        await rl.release("k", "r", reserved=100, used=5)  # does not raise either
        await dead.aclose()

    asyncio.run(main())


def test_estimate_tokens() -> None:
    assert estimate_tokens(0) == 1
    assert estimate_tokens(4) == 1
    assert estimate_tokens(5) == 2
    assert estimate_tokens(4000) == 1000
