"""The stream consumer on a real Valkey and SQLite: stores once, acknowledges after the commit,
takes over a silent consumer's pending entries, survives bad entries, reports its lag. (The
integration suite kills a real consumer process on PostgreSQL.)"""

from __future__ import annotations

import threading

import redis

from keel_feedback.consumer import Consumer
from keel_feedback.core.store import Store
from keel_feedback.testing import interaction

STREAM, GROUP = "keel:interactions", "feedback"


def consumer(valkey: redis.Redis, store: Store, name: str, **kw: object) -> Consumer:
    c = Consumer(valkey, store, stream=STREAM, group=GROUP, name=name, batch=50, block_ms=10, **kw)  # type: ignore[arg-type]
    c.ensure_group()
    return c


def publish(valkey: redis.Redis, ids: list[str]) -> None:
    pipe = valkey.pipeline(transaction=False)
    for rid in ids:
        pipe.xadd(STREAM, {"data": interaction(rid).SerializeToString()})
    pipe.execute()


def test_entries_are_stored_once_and_acknowledged(valkey: redis.Redis, sqlite_store: Store) -> None:
    publish(valkey, [f"chatcmpl-{n}" for n in range(120)])
    c = consumer(valkey, sqlite_store, "c1")
    while c.step():
        pass
    assert sqlite_store.count() == 120 and c.consumed == 120
    assert valkey.xpending(STREAM, GROUP)["pending"] == 0
    assert c.lag() == (0, 0, 0.0)


def test_a_silent_consumers_pending_entries_are_claimed(valkey: redis.Redis, sqlite_store: Store) -> None:
    publish(valkey, [f"chatcmpl-{n}" for n in range(30)])
    dead = consumer(valkey, sqlite_store, "dead")
    # "dead" read a batch and stored half of it, then died before its XACK.
    entries = valkey.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=20)[0][1]
    from keel.gateway.v1 import gateway_pb2 as gpb
    from keel_feedback.records import row

    half = [row(gpb.Interaction.FromString(f[b"data"]), f[b"data"]) for _, f in entries[:10]]
    sqlite_store.save_interactions(half)
    assert dead.lag()[0] == 20
    live = consumer(valkey, sqlite_store, "live", claim_idle_s=0)
    assert live.claim() == 20
    while live.step():
        pass
    assert sqlite_store.count() == 30
    assert valkey.xpending(STREAM, GROUP)["pending"] == 0
    # The dead consumer's name stays until it has been idle long; nothing is pending under it.
    names = {c["name"]: c["pending"] for c in valkey.xinfo_consumers(STREAM, GROUP)}
    assert names[b"dead"] == 0


def test_recent_pending_entries_are_left_to_their_consumer(valkey: redis.Redis, sqlite_store: Store) -> None:
    publish(valkey, ["chatcmpl-a"])
    consumer(valkey, sqlite_store, "busy")
    valkey.xreadgroup(GROUP, "busy", {STREAM: ">"}, count=1)
    assert consumer(valkey, sqlite_store, "other", claim_idle_s=60).claim() == 0


def test_a_restarted_consumer_first_finishes_its_own_pending(
    valkey: redis.Redis, sqlite_store: Store
) -> None:
    publish(valkey, ["chatcmpl-a", "chatcmpl-b"])
    consumer(valkey, sqlite_store, "pod-1")
    valkey.xreadgroup(GROUP, "pod-1", {STREAM: ">"}, count=2)
    again = consumer(valkey, sqlite_store, "pod-1")
    stop = threading.Event()
    t = threading.Thread(target=again.run, args=(stop,))
    t.start()
    try:
        for _ in range(200):
            if sqlite_store.count() == 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        t.join()
    assert sqlite_store.count() == 2 and valkey.xpending(STREAM, GROUP)["pending"] == 0


def test_bad_entries_are_skipped_and_acknowledged(valkey: redis.Redis, sqlite_store: Store) -> None:
    valkey.xadd(STREAM, {"data": b"\xff\xfe not a protobuf"})
    valkey.xadd(STREAM, {"other": b"x"})
    publish(valkey, ["chatcmpl-ok"])
    c = consumer(valkey, sqlite_store, "c1")
    assert c.step() == 3
    assert sqlite_store.count() == 1 and valkey.xpending(STREAM, GROUP)["pending"] == 0


def test_lag_counts_undelivered_and_pending_entries(valkey: redis.Redis, sqlite_store: Store) -> None:
    publish(valkey, [f"chatcmpl-{n}" for n in range(5)])
    c = consumer(valkey, sqlite_store, "c1")
    pending, undelivered, age = c.lag()
    assert (pending, undelivered) == (0, 5) and age >= 0
    valkey.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=2)
    pending, undelivered, _ = c.lag()
    assert (pending, undelivered) == (2, 3)


def test_entries_trimmed_while_pending_are_acknowledged(valkey: redis.Redis, sqlite_store: Store) -> None:
    publish(valkey, ["chatcmpl-old"])
    consumer(valkey, sqlite_store, "dead")
    valkey.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=1)
    publish(valkey, ["chatcmpl-new1", "chatcmpl-new2"])
    valkey.xtrim(STREAM, maxlen=2, approximate=False)  # the gateway's MAXLEN cut the held entry
    live = consumer(valkey, sqlite_store, "live", claim_idle_s=0)
    assert live.claim() == 0
    assert valkey.xpending(STREAM, GROUP)["pending"] == 0
