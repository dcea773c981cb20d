"""Export time for 10k interactions: one tenant's interactions with ratings and corrections
become an SFT and a DPO training set.

Set-up (untimed, before the services start): ``n`` interactions of ``EXPORT_TENANT`` over
``n * 0.3`` distinct questions (so most prompts were asked about three times, with different
answers: what DPO pairs are made of), stored with ``Store.save_interactions``; then feedback with
``Store.submit``: 40% of the answers get a thumb, 30% a 1-5 rating, 10% a correction, 15% a second
rating by another rater. The set-up's own connections skip SQLite's fsync (PRAGMA synchronous=OFF)
to save time; the service's do not.

Timed, for each kind:
- core: ``keel_feedback.core.exports.export(store, ExportSpec(kind, Filter(tenant)), turns)`` in
  this process (wall and CPU);
- full: ``POST /v1/feedback/exports`` through the gateway, which calls the feedback service's
  ExportDataset, which builds the same export and registers it in the ingestion API
  (ImportDatasetVersion: every line checked against its format, files stored, a dataset version).
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
from corpus import answer, question, record
from sqlalchemy import event

from keel_common.sql import create_db_engine
from keel_feedback import migrate
from keel_feedback.core.exports import ExportSpec, Kind, export
from keel_feedback.core.filters import Filter
from keel_feedback.core.scores import Score, Submission
from keel_feedback.core.store import Store
from keel_feedback.records import row, turns

EXPORT_TENANT = "northwind"
KINDS: tuple[Kind, ...] = ("sft", "dpo")


def seed_export_data(database_url: str, n: int, seed: int = 4) -> dict[str, Any]:
    engine = create_db_engine(database_url)

    @event.listens_for(engine, "connect")
    def _fast(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=OFF")

    migrate.MIGRATIONS.upgrade(engine)
    store = Store(engine)
    rng = random.Random(seed)
    prompts = [question(rng) for _ in range(max(1, n * 3 // 10))]
    records = [record(rng, EXPORT_TENANT, rng.choice(prompts)) for _ in range(n)]
    for start in range(0, n, 500):
        store.save_interactions([row(r, r.SerializeToString()) for r in records[start : start + 500]])
    submitted = 0
    for r in records:
        subs: list[Submission] = []
        roll = rng.random()
        if roll < 0.4:
            subs.append(
                Submission(r.request_id, EXPORT_TENANT, score=Score("thumb", thumb=rng.choice((1, 2))))
            )
        elif roll < 0.7:
            subs.append(
                Submission(
                    r.request_id, EXPORT_TENANT, score=Score("rating", value=rng.randint(1, 5), min=1, max=5)
                )
            )
        if rng.random() < 0.1:
            subs.append(
                Submission(r.request_id, EXPORT_TENANT, source=2, correction=answer(rng, question(rng)))
            )
        if subs and rng.random() < 0.15:
            second = Score("rating", value=rng.randint(1, 5), min=1, max=5)
            subs.append(Submission(r.request_id, EXPORT_TENANT, rater="annotator-2", score=second))
        for s in subs:
            store.submit(s)
        submitted += len(subs)
    engine.dispose()
    return {"export_interactions": n, "export_feedback": submitted}


def core_export(database_url: str, kind: Kind) -> dict[str, Any]:
    engine = create_db_engine(database_url)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        done = export(Store(engine), ExportSpec(kind=kind, filter=Filter(tenant=EXPORT_TENANT)), turns)
        return {
            "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "examples": sum(done.examples.values()),
            "bytes": sum(len(b) for b in done.files.values()),
            "pii_redacted": done.counts["pii_redacted"],
        }
    finally:
        engine.dispose()


def gateway_export(gateway_url: str, training_key: str, kind: Kind, dataset: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = httpx.post(
        f"{gateway_url}/v1/feedback/exports",
        json={"kind": kind, "dataset": dataset},
        headers={"Authorization": f"Bearer {training_key}"},
        timeout=300,
    )
    seconds = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"{kind} export through the gateway: HTTP {r.status_code} {r.text[:500]}")
    body = r.json()
    return {
        "seconds": seconds,
        "examples": sum(body["examples"].values()),
        "training_file": body["training_file"],
    }
