"""Interactions consumed per second from the stream into SQL, exactly once.

``n`` records from ``corpus.stream_records`` are published to ``INTERACTIONS_STREAM`` on the
embedded Valkey the way the gateway's writer sends them (pipelined XADD, field ``data``, MAXLEN
~1,000,000), before anything is timed. A replica that dies between its commit and its XACK is
played first: it reads the first batch and stores it without acknowledging. Then one
``keel_feedback.consumer.Consumer`` (batch 500, ``Store`` on a fresh SQLite file) drains the rest
with ``step()``, timed: wall time and the CPU time of the thread doing the work (decoding, the
rows, SQLAlchemy and SQLite all run in it; Valkey's CPU is read from /proc and reported apart).
Last, untimed, the consumer claims the dead replica's batch (XAUTOCLAIM) and stores nothing twice:
exactly once means the table holds ``n`` rows, the claim returned the whole batch and nothing
is left pending.

``store_submit_cost`` times the feedback service's core on the same database, alone: one
``Store.submit`` after another in this thread (what SQLite and SQLAlchemy cost per submission),
then the gRPC servicer's ``SubmitFeedback`` called as a method (adds the message conversions);
no transport, no HTTP, no other thread. What the service process spends beyond that under load is
gRPC's and the threads'."""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import redis
from corpus import stream_records
from procs import CpuMeter

from keel.feedback.v1 import feedback_pb2 as pb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_common.contract import INTERACTIONS_STREAM
from keel_common.sql import create_db_engine
from keel_feedback import migrate
from keel_feedback.consumer import Consumer
from keel_feedback.core.scores import Limits, Score, Submission
from keel_feedback.core.store import Store
from keel_feedback.export_api import Exporter
from keel_feedback.grpc_api import FeedbackServicer
from keel_feedback.records import row

GROUP = "bench-feedback"


def publish(client: redis.Redis, records: list[bytes], chunk: int = 500) -> None:
    pipe = client.pipeline(transaction=False)
    for i, data in enumerate(records, 1):
        pipe.xadd(INTERACTIONS_STREAM, {"data": data}, maxlen=1_000_000, approximate=True)
        if i % chunk == 0:
            pipe.execute()
    pipe.execute()


def profile_report(prof: cProfile.Profile, top: int = 15) -> str:
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run_consume_bench(
    redis_url: str, tmp: Path, n: int, batch: int = 500, profile: bool = False, verbose: bool = False
) -> dict[str, Any]:
    if n <= batch:
        raise ValueError(f"publish more interactions than one batch ({batch})")
    client = redis.Redis.from_url(redis_url)
    client.delete(INTERACTIONS_STREAM)
    records = [r.SerializeToString() for r in stream_records(n, seed=1)]
    publish(client, records)
    engine = create_db_engine(f"sqlite:///{tmp / 'consume.db'}")
    migrate.MIGRATIONS.upgrade(engine)
    store = Store(engine)
    consumer = Consumer(
        client,
        store,
        stream=INTERACTIONS_STREAM,
        group=GROUP,
        name="bench-consumer",
        batch=batch,
        claim_idle_s=0.001,
    )
    consumer.ensure_group()
    # A replica that committed its first batch and died before its XACK.
    resp: Any = client.xreadgroup(GROUP, "dead-replica", {INTERACTIONS_STREAM: ">"}, count=batch)
    dead = resp[0][1]
    store.save_interactions([row(gpb.Interaction.FromString(f[b"data"]), f[b"data"]) for _, f in dead])

    meter = CpuMeter({})
    prof = cProfile.Profile(time.thread_time) if profile else None
    steps: list[float] = []
    todo = n - len(dead)
    before = meter.sample()
    t0, c0 = time.perf_counter(), time.thread_time()
    if prof:
        prof.enable()
    while consumer.consumed < todo:
        s = time.perf_counter()
        if not consumer.step(block_ms=5000):
            raise RuntimeError(f"the stream ran dry after {consumer.consumed} of {todo} entries")
        steps.append(time.perf_counter() - s)
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    used = CpuMeter.delta(before, meter.sample())

    time.sleep(0.01)  # the dead replica's entries are now idle longer than claim_idle_s
    claimed = consumer.claim()
    stored = store.count()
    pending = int(client.xpending(INTERACTIONS_STREAM, GROUP)["pending"])
    exactly_once = stored == n and claimed == len(dead) and pending == 0
    sizes = [len(r) for r in records]
    ours = used["bench"] + used.get("valkey", 0.0)
    out: dict[str, Any] = {
        "consume_n": n,
        "consume_batch": batch,
        "record_bytes_mean": statistics.mean(sizes),
        "interactions_consumed_per_s": todo / wall,
        "interactions_consumed_cpu_s_per_1k": cpu / todo * 1000,
        "interactions_consumed_per_cpu_s": todo / cpu,
        "consume_batch_p50_ms": statistics.median(steps) * 1000,
        "consume_batch_max_ms": max(steps) * 1000,
        "valkey_cpu_s_per_1k_consumed": used.get("valkey", 0.0) / todo * 1000,
        "consume_other_load_cores": max(0.0, used["machine"] - ours) / wall,
        "consume_redelivered": claimed,
        "consume_exactly_once": exactly_once,
    }
    if verbose:
        print(
            f"{todo:,} interactions ({out['record_bytes_mean']:,.0f} B each on average) from the stream "
            f"into SQLite in {wall:.2f}s: {out['interactions_consumed_per_s']:,.0f}/s wall; consumer "
            f"thread {cpu:.2f} CPU-s = {out['interactions_consumed_cpu_s_per_1k']:.3f} CPU-s per 1k "
            f"({out['interactions_consumed_per_cpu_s']:,.0f}/CPU-s); Valkey "
            f"{out['valkey_cpu_s_per_1k_consumed']:.3f} CPU-s per 1k; batch of {batch} "
            f"p50 {out['consume_batch_p50_ms']:.0f} ms, max {out['consume_batch_max_ms']:.0f} ms; other "
            f"processes {out['consume_other_load_cores']:.2f} cores",
            flush=True,
        )
        print(
            f"exactly once: a dead replica's batch of {len(dead)} (committed, never acknowledged) "
            f"claimed and acknowledged: {claimed}; rows {stored:,} of {n:,} (none lost, none twice), "
            f"pending {pending} -> {'ok' if exactly_once else 'FAILED'}",
            flush=True,
        )
        if prof:
            print("CPU-time profile of the timed drain (profiling inflates the times above):")
            print(profile_report(prof))
    some = [gpb.Interaction.FromString(r) for r in records[:2000]]
    out |= store_submit_cost(store, [(i.request_id, i.tenant) for i in some], profile, verbose)
    client.delete(INTERACTIONS_STREAM)
    client.close()
    engine.dispose()
    return out


def _timed(calls: list[Callable[[], object]], prof: cProfile.Profile | None) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, one call after another in this thread."""
    t0, c0 = time.perf_counter(), time.thread_time()
    if prof:
        prof.enable()
    for call in calls:
        call()
    if prof:
        prof.disable()
    return (time.thread_time() - c0) / len(calls) * 1000, (time.perf_counter() - t0) / len(calls) * 1000


def store_submit_cost(
    store: Store, completions: list[tuple[str, str]], profile: bool, verbose: bool
) -> dict[str, Any]:
    """A thumb for each (request id, tenant), half of them with a client_id: the first half through
    ``Store.submit``, the second through the gRPC servicer's ``SubmitFeedback`` called as a plain
    method (request message in, response message out, no transport)."""
    rng = random.Random(5)
    half = len(completions) // 2
    subs = [
        Submission(
            request_id=rid,
            tenant=tenant,
            client_id=f"core-{i}" if i % 2 else "",
            rater="key:bench",
            score=Score(kind="thumb", thumb=rng.choice((1, 2))),
        )
        for i, (rid, tenant) in enumerate(completions[:half])
    ]
    servicer = FeedbackServicer(store, Limits(), Exporter(store, "127.0.0.1:1"))  # the exporter is unused
    reqs = [
        pb.SubmitFeedbackRequest(
            request_id=rid,
            tenant=tenant,
            client_id=f"svc-{i}" if i % 2 else "",
            rater="key:bench",
            score=pb.Score(thumb=rng.choice((pb.THUMB_UP, pb.THUMB_DOWN))),
        )
        for i, (rid, tenant) in enumerate(completions[half:])
    ]
    prof = cProfile.Profile(time.thread_time) if profile else None
    cpu, wall = _timed([partial(store.submit, sub) for sub in subs], prof)
    svc_cpu, svc_wall = _timed([partial(servicer.SubmitFeedback, r, None) for r in reqs], None)
    out = {
        "store_submit_cpu_ms": cpu,
        "store_submit_wall_ms": wall,
        "servicer_submit_cpu_ms": svc_cpu,
        "servicer_submit_wall_ms": svc_wall,
    }
    if verbose:
        print(
            f"feedback core alone, one call after another in one thread: Store.submit {cpu:.2f} CPU-ms "
            f"({wall:.2f} ms wall, nearly all of it inside BEGIN IMMEDIATE..COMMIT+fsync) x "
            f"{len(subs):,}; the servicer's SubmitFeedback without gRPC {svc_cpu:.2f} CPU-ms ({svc_wall:.2f} "
            f"ms wall) x {len(reqs):,}. One SQLite writer holding its lock {wall:.2f} ms per submission "
            f"allows at most {1000 / wall:,.0f}/s",
            flush=True,
        )
        if prof:
            print("CPU-time profile of Store.submit:")
            print(profile_report(prof))
    return out
