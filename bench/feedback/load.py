"""Load through the gateway over HTTP: chat completions at saturation, then feedback on them.

The approach of ``bench/gateway``: asyncio, a fixed number of concurrent clients each sending its
next request when the last one returned, over a keep-alive pool of that many connections.
The client library is aiohttp, not bench/gateway's httpx: on these two shared cores httpx's
AsyncClient took about 5 CPU-ms per request at 32 connections (aiohttp 0.4), so with httpx the
client, not the gateway, would have set the pace.

Chat: each client sends chat completions (``corpus.conversation``: a system prompt, sometimes
earlier turns, a question) for the base model under one of the tenants' inference keys until the
deadline. Feedback: a fixed list of submissions on completion ids the gateway issued, taken in
order by whichever client is free; a sample of them is read back right after its POST returns
(``GET /v1/interactions/{id}`` with the tenant's training key) and must list the new feedback's
id: read-after-write."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from corpus import TENANTS, answer, conversation, question

from keel_common.contract import DEFAULT_BASE_MODEL

LIVE_TENANTS = TENANTS[:4]
CATEGORIES = ("wrong_facts", "too_long", "off_topic", "unhelpful", "great_answer")


@dataclass
class Run:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # tenant -> completion ids
    checked: int = 0
    check_failures: list[str] = field(default_factory=list)
    joined: int = 0  # feedback that found its interaction stored already

    @property
    def n(self) -> int:
        return len(self.latencies)


def chat_bodies(n: int, seed: int = 2) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tenant = rng.choices(LIVE_TENANTS, (4, 3, 2, 1))[0]
        body = {
            "model": DEFAULT_BASE_MODEL,
            "messages": conversation(rng, tenant, question(rng)),
            "max_tokens": 256,
            "temperature": 0.7,
        }
        out.append((tenant, body))
    return out


def _session(url: str, clients: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        url,
        connector=aiohttp.TCPConnector(limit=clients),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def _fail(r: aiohttp.ClientResponse, what: str) -> None:
    raise RuntimeError(f"{what}: HTTP {r.status} {(await r.text())[:500]}")


async def _chat(
    url: str, keys: dict[str, tuple[str, str]], bodies: list[tuple[str, dict[str, Any]]], clients: int,
    seconds: float,
) -> Run:  # fmt: skip
    run = Run()
    auth = {t: {"Authorization": f"Bearer {k[0]}"} for t, k in keys.items()}
    async with _session(url, clients) as http:
        began = time.perf_counter()
        deadline = began + seconds

        async def client(i: int) -> None:
            j = i
            while time.perf_counter() < deadline:
                tenant, body = bodies[j % len(bodies)]
                j += clients
                t = time.perf_counter()
                async with http.post("/v1/chat/completions", json=body, headers=auth[tenant]) as r:
                    if r.status != 200:
                        await _fail(r, "chat completion")
                    cid = (await r.json())["id"]
                run.latencies.append(time.perf_counter() - t)
                run.ids[tenant].append(cid)

        await asyncio.gather(*(client(i) for i in range(clients)))
        run.seconds = time.perf_counter() - began
    return run


def chat_load(
    url: str, keys: dict[str, tuple[str, str]], bodies: list[tuple[str, dict[str, Any]]], clients: int,
    seconds: float,
) -> Run:  # fmt: skip
    return asyncio.run(_chat(url, keys, bodies, clients, seconds))


def feedback_bodies(ids: dict[str, list[str]], n: int, seed: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """``n`` submissions spread over the completions in ``ids``: 55% thumbs (70% up), 25% ratings
    on 1-5, 10% corrections, 5% categories, 5% comments; half carry a client_id."""
    rng = random.Random(seed)
    pool = [(t, cid) for t, cids in sorted(ids.items()) for cid in cids]
    rng.shuffle(pool)
    out = []
    for i in range(n):
        tenant, cid = pool[i % len(pool)]
        body: dict[str, Any] = {"completion_id": cid}
        roll = rng.random()
        if roll < 0.55:
            body["score"] = {"type": "thumbs", "value": "up" if rng.random() < 0.7 else "down"}
        elif roll < 0.80:
            body["score"] = {"type": "rating", "value": rng.randint(1, 5), "scale": {"min": 1, "max": 5}}
        elif roll < 0.90:
            body["correction"] = answer(rng, question(rng))
            body["source"] = "annotator"
        elif roll < 0.95:
            body["score"] = {"type": "category", "value": rng.choice(CATEGORIES)}
        else:
            body["comment"] = "The steps are right but the menu is called Preferences now."
        if rng.random() < 0.5:
            body["client_id"] = f"bench-{seed}-{i}"
        out.append((tenant, body))
    return out


async def _feedback(
    url: str, keys: dict[str, tuple[str, str]], items: list[tuple[str, dict[str, Any]]], clients: int,
    check: set[int],
) -> Run:  # fmt: skip
    run = Run()
    rater = {t: {"Authorization": f"Bearer {k[0]}"} for t, k in keys.items()}
    reader = {t: {"Authorization": f"Bearer {k[1]}"} for t, k in keys.items()}
    todo = iter(enumerate(items))
    async with _session(url, clients) as http:
        began = time.perf_counter()

        async def client() -> None:
            for i, (tenant, body) in todo:  # a shared iterator: each item goes to one client
                t = time.perf_counter()
                async with http.post("/v1/feedback", json=body, headers=rater[tenant]) as r:
                    if r.status != 200:
                        await _fail(r, "feedback")
                    fb = await r.json()
                run.latencies.append(time.perf_counter() - t)
                run.joined += bool(fb["interaction_received"])
                if i in check:
                    path = f"/v1/interactions/{body['completion_id']}"
                    async with http.get(path, headers=reader[tenant]) as r:
                        got = await r.json() if r.status == 200 else {"feedback": []}
                    run.checked += 1
                    if fb["id"] not in {f["id"] for f in got["feedback"]}:
                        run.check_failures.append(f"{fb['id']} on {body['completion_id']}: HTTP {r.status}")

        await asyncio.gather(*(client() for _ in range(clients)))
        run.seconds = time.perf_counter() - began
    return run


def feedback_load(
    url: str, keys: dict[str, tuple[str, str]], items: list[tuple[str, dict[str, Any]]], clients: int,
    check: set[int],
) -> Run:  # fmt: skip
    return asyncio.run(_feedback(url, keys, items, clients, check))
