"""The Redis store on a real Valkey: gap-free event numbering, optimistic job updates,
leases, idempotency keys, newest-first paging and files."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from google.protobuf.timestamp_pb2 import Timestamp

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import NotFound
from keel_common.redis import redis_from_url
from keel_training.store import Store, status_name

T0 = 1_700_000_000_000


def ts(ms: int) -> Timestamp:
    t = Timestamp()
    t.FromMilliseconds(ms)
    return t


def new_job(store: Store, job_id: str, tenant: str = "t1", at_ms: int = T0) -> pb.Job:
    job = pb.Job(id=job_id, tenant=tenant, status=pb.JOB_STATUS_QUEUED, created_at=ts(at_ms))
    store.put_new_job(job)
    return job


def log(job_id: str, text: str) -> pb.JobEvent:
    return pb.JobEvent(job_id=job_id, log=pb.LogLine(severity=pb.LOG_SEVERITY_INFO, message=text))


def in_threads(url: str, prefix: str, n: int, work: Callable[[Store, int], Any]) -> list[Any]:
    """Run ``work(store, i)`` for i in range(n) on n threads released together, each with a
    client of its own (as separate API replicas and workers have); their results."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        with redis_from_url(url) as client:
            s = Store(client, prefix)
            start.wait()
            return work(s, i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# --- events --------------------------------------------------------------------------------------
def test_concurrent_appends_number_events_without_gaps(valkey_url: str, prefix: str, store: Store) -> None:
    threads, each = 6, 40

    def append(s: Store, i: int) -> list[int]:
        return [s.append_event(log("job_a", f"{i}:{k}")) for k in range(each)]

    got = in_threads(valkey_url, prefix, threads, append)
    for seqs in got:
        assert seqs == sorted(seqs) and len(set(seqs)) == each
    everything = sorted(s for seqs in got for s in seqs)
    assert everything == list(range(1, threads * each + 1))

    events = store.events_after("job_a", 0, 10_000)
    assert [e.sequence for e in events] == everything
    # Every event is stored under the number its append returned.
    by_seq = {e.sequence: e.log.message for e in events}
    for i, seqs in enumerate(got):
        assert [by_seq[s] for s in seqs] == [f"{i}:{k}" for k in range(each)]
    assert all(e.job_id == "job_a" and e.at.seconds > 0 for e in events)


def test_event_numbers_are_per_job(store: Store) -> None:
    assert [store.append_event(log("a", "x")) for _ in range(3)] == [1, 2, 3]
    assert store.append_event(log("b", "y")) == 1
    new_job(store, "a")
    assert store.get_job("a").last_event_sequence == 3


def test_events_after_and_before_page_both_ways(store: Store) -> None:
    for k in range(1, 11):
        store.append_event(log("j", f"m{k}"))

    def seqs(events: list[pb.JobEvent]) -> list[int]:
        return [e.sequence for e in events]

    assert seqs(store.events_after("j", 0, 4)) == [1, 2, 3, 4]
    assert seqs(store.events_after("j", 4, 4)) == [5, 6, 7, 8]
    assert seqs(store.events_after("j", 8, 4)) == [9, 10]
    assert store.events_after("j", 10, 4) == []
    assert store.events_after("nobody", 0, 4) == []

    assert seqs(store.events_before("j", None, 3)) == [10, 9, 8]
    assert seqs(store.events_before("j", 8, 3)) == [7, 6, 5]
    assert seqs(store.events_before("j", 2, 3)) == [1]
    assert store.events_before("j", 1, 3) == []
    assert [e.log.message for e in store.events_before("j", 6, 2)] == ["m5", "m4"]


def test_follow_events_replays_then_yields_new_ones(store: Store) -> None:
    for k in range(3):
        store.append_event(log("f", f"m{k}"))
    feed = store.follow_events("f", 1, block_ms=50)
    assert [e.sequence for e in next(feed)] == [2, 3]
    assert next(feed) == []  # idle: an empty batch after block_ms, so callers can stop
    store.append_event(log("f", "late"))
    batch = next(feed)
    assert [(e.sequence, e.log.message) for e in batch] == [(4, "late")]


# --- jobs ----------------------------------------------------------------------------------------
def test_get_and_update_job(store: Store) -> None:
    with pytest.raises(NotFound) as err:
        store.get_job("job_missing")
    assert err.value.field == "job_id"
    with pytest.raises(NotFound):
        store.get_job("")
    new_job(store, "j1")

    def running(j: pb.Job) -> None:
        j.status = pb.JOB_STATUS_RUNNING

    before = time.time()
    job = store.update_job("j1", running)
    assert job.status == pb.JOB_STATUS_RUNNING
    assert job.updated_at.ToMilliseconds() >= int(before * 1000) - 1
    assert store.get_job("j1").status == pb.JOB_STATUS_RUNNING
    # A change that returns False leaves the record alone.
    job = store.update_job("j1", lambda j: (setattr(j, "status", pb.JOB_STATUS_FAILED), False)[1])
    assert store.get_job("j1").status == pb.JOB_STATUS_RUNNING
    with pytest.raises(NotFound):
        store.update_job("job_missing", running)
    assert status_name(pb.JOB_STATUS_CANCELLED) == "cancelled"


def test_concurrent_updates_lose_nothing(valkey_url: str, prefix: str, store: Store) -> None:
    """Workers' progress and the API's cancel race on one record; every change must survive."""
    new_job(store, "j")
    threads, each = 4, 25

    def bump(s: Store, i: int) -> None:
        key = f"thread{i}"
        for _ in range(each):

            def change(j: pb.Job) -> None:
                j.progress.step += 1
                j.progress.metrics[key] = j.progress.metrics[key] + 1 if key in j.progress.metrics else 1

            s.update_job("j", change)
        s.update_job("j", lambda j: setattr(j, "cancel_requested", True) if i == 0 else None)

    in_threads(valkey_url, prefix, threads, bump)
    job = store.get_job("j")
    assert job.progress.step == threads * each
    assert dict(job.progress.metrics) == {f"thread{i}": float(each) for i in range(threads)}
    assert job.cancel_requested


def _put_jobs(store: Store, ids: list[tuple[str, str]]) -> None:
    for k, (job_id, tenant) in enumerate(ids):
        new_job(store, job_id, tenant, T0 + 1000 * k)


def test_list_jobs_newest_first_with_after_paging(store: Store) -> None:
    _put_jobs(store, [("j0", "a"), ("j1", "b"), ("j2", "a"), ("j3", "a"), ("j4", "b"), ("j5", "a")])

    def page(tenant: str, after: str, limit: int) -> tuple[list[str], bool]:
        jobs, more = store.list_jobs(tenant, after, limit)
        return [j.id for j in jobs], more

    assert page("a", "", 2) == (["j5", "j3"], True)
    assert page("a", "j3", 2) == (["j2", "j0"], False)
    assert page("a", "j0", 2) == ([], False)
    assert page("b", "", 5) == (["j4", "j1"], False)
    assert page("", "", 4) == (["j5", "j4", "j3", "j2"], True)
    assert page("", "j2", 4) == (["j1", "j0"], False)
    assert page("nobody", "", 3) == ([], False)
    with pytest.raises(NotFound) as err:
        store.list_jobs("a", "j1", 2)  # j1 is b's
    assert err.value.field == "after"


# --- leases, cancel, running set, once -----------------------------------------------------------
def test_lease_is_exclusive_and_only_its_owner_renews_or_releases(store: Store, rclient: redis.Redis) -> None:
    assert store.acquire_lease("j", "w1", 30)
    assert not store.acquire_lease("j", "w2", 30)
    assert store.lease_alive("j")
    assert 0 < rclient.pttl(store.k("lease", "j")) <= 30_000

    assert not store.renew_lease("j", "w2", 60)
    assert rclient.pttl(store.k("lease", "j")) <= 30_000
    assert store.renew_lease("j", "w1", 60)
    assert 30_000 < rclient.pttl(store.k("lease", "j")) <= 60_000

    store.release_lease("j", "w2")
    assert store.lease_alive("j")
    assert rclient.get(store.k("lease", "j")) == b"w1"
    store.release_lease("j", "w1")
    assert not store.lease_alive("j")
    assert not store.renew_lease("j", "w1", 30)  # gone: a renewal cannot bring it back
    assert not store.lease_alive("j")
    assert store.acquire_lease("j", "w2", 30)


def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_renew(store: Store) -> None:
    assert store.acquire_lease("j", "w1", 0.05)
    deadline = time.monotonic() + 5
    while store.lease_alive("j"):  # Valkey expires the key on its own clock
        assert time.monotonic() < deadline, "the lease never expired"
    assert store.acquire_lease("j", "w2", 30)
    assert not store.renew_lease("j", "w1", 30)
    store.release_lease("j", "w1")
    assert store.lease_alive("j")


def test_concurrent_lease_acquisition_has_one_winner(valkey_url: str, prefix: str) -> None:
    won = in_threads(valkey_url, prefix, 8, lambda s, i: s.acquire_lease("j", f"w{i}", 30))
    assert sorted(won) == [False] * 7 + [True]


def test_cancel_flag_running_set_and_once(store: Store) -> None:
    assert not store.cancel_requested("j")
    store.request_cancel("j")
    assert store.cancel_requested("j")
    assert not store.cancel_requested("other")

    store.mark_running("b", True)
    store.mark_running("a", True)
    store.mark_running("a", True)
    assert store.running_ids() == ["a", "b"]
    store.mark_running("b", False)
    assert store.running_ids() == ["a"]

    assert store.once("reap:j:1")
    assert not store.once("reap:j:1")
    assert store.once("reap:j:2")


# --- idempotency ---------------------------------------------------------------------------------
def test_idempotency_key_is_claimed_once_per_tenant(store: Store) -> None:
    assert store.find_idempotent("t1", "k") is None
    assert store.claim_idempotency("t1", "k", "job_a") == "job_a"
    assert store.claim_idempotency("t1", "k", "job_b") == "job_a"
    assert store.find_idempotent("t1", "k") == "job_a"
    assert store.claim_idempotency("t2", "k", "job_c") == "job_c"


def test_concurrent_claims_agree_on_one_owner(valkey_url: str, prefix: str) -> None:
    owners = in_threads(valkey_url, prefix, 6, lambda s, i: s.claim_idempotency("t", "key", f"job_{i}"))
    assert len(set(owners)) == 1
    assert owners[0] in {f"job_{i}" for i in range(6)}


# --- checkpoints and files -----------------------------------------------------------------------
def test_checkpoints_oldest_first(store: Store) -> None:
    assert store.checkpoints("j") == []
    for step in (10, 20, 30):
        store.add_checkpoint(
            pb.Checkpoint(id=f"c{step}", job_id="j", step=step, metrics={"loss": 1.0 / step})
        )
    got = store.checkpoints("j")
    assert [c.step for c in got] == [10, 20, 30]
    assert got[1].metrics["loss"] == pytest.approx(0.05)


def test_files_put_get_list_delete(store: Store) -> None:
    def put(file_id: str, tenant: str, k: int) -> pb.File:
        f = pb.File(
            id=file_id,
            tenant=tenant,
            filename=f"{file_id}.jsonl",
            purpose="fine-tune",
            bytes=k,
            created_at=ts(T0 + k),
        )
        store.put_file(f)
        return f

    files = [put(f"file-{k}", "a" if k != 2 else "b", k) for k in range(5)]
    assert store.get_file("file-3") == files[3]
    assert store.get_file("file-missing") is None
    assert store.get_file("") is None

    def page(tenant: str, after: str, limit: int) -> tuple[list[str], bool]:
        got, more = store.list_files(tenant, after, limit)
        return [f.id for f in got], more

    assert page("a", "", 3) == (["file-4", "file-3", "file-1"], True)
    assert page("a", "file-1", 3) == (["file-0"], False)
    assert page("b", "", 3) == (["file-2"], False)
    with pytest.raises(NotFound) as err:
        store.list_files("a", "file-2", 3)
    assert err.value.field == "after"

    store.delete_file(files[3])
    assert store.get_file("file-3") is None
    assert page("a", "", 10) == (["file-4", "file-1", "file-0"], False)
