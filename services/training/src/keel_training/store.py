"""Jobs, files, checkpoints, leases and events in Redis, shared by the API and the workers.

Records are the protobuf messages themselves (``Job``, ``File``, ``Checkpoint``,
``Evaluation``). A job is
changed only through ``update_job`` (optimistic WATCH/MULTI), so the API's cancel and a
worker's progress never overwrite each other. Events go through one Lua script that
numbers them and appends them, so sequences are gap-free and strictly increasing per job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import redis
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from keel.training.v1 import training_pb2 as pb
from keel_common.contract import TRAINING_KEY_PREFIX
from keel_common.errors import Aborted, NotFound
from keel_common.protoenum import enum_name

M = TypeVar("M", bound=Message)

TERMINAL = frozenset({pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED, pb.JOB_STATUS_CANCELLED})

_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'e', ARGV[1])
if ARGV[3] == '1' then redis.call('SET', KEYS[3], seq) end
return seq
"""


def now_ts() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def status_name(status: int) -> str:
    return enum_name(pb.JobStatus, status).lower()


class Store:
    def __init__(
        self, client: redis.Redis, prefix: str = TRAINING_KEY_PREFIX, events_maxlen: int = 20_000
    ) -> None:
        self.r: Any = client  # redis-py's return unions (bytes | str | Awaitable) say nothing here
        self.p = prefix
        self.events_maxlen = events_maxlen
        self._append = client.register_script(_APPEND)

    # --- keys --------------------------------------------------------------------------
    def k(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    # --- jobs --------------------------------------------------------------------------
    def put_new_job(self, job: pb.Job) -> None:
        score = job.created_at.ToMilliseconds()
        pipe = self.r.pipeline()
        pipe.set(self.k("job", job.id), job.SerializeToString())
        pipe.zadd(self.k("jobs"), {job.id: score})
        pipe.zadd(self.k("jobs", job.tenant), {job.id: score})
        pipe.execute()

    def get_job(self, job_id: str) -> pb.Job:
        raw = self.r.get(self.k("job", job_id)) if job_id else None
        if raw is None:
            raise NotFound(f"no fine-tuning job {job_id!r}", field="job_id")
        job = pb.Job.FromString(raw)
        job.last_event_sequence = int(self.r.get(self.k("seq", job_id)) or 0)
        return job

    def update_job(self, job_id: str, change: Callable[[pb.Job], bool | None]) -> pb.Job:
        """Apply ``change`` atomically; it returns False to leave the job as it is."""
        return self._update(self.k("job", job_id), pb.Job, change, f"fine-tuning job {job_id!r}", "job_id")

    def _update(
        self, key: str, kind: Callable[[], M], change: Callable[[M], bool | None], what: str, field: str
    ) -> M:
        for _ in range(50):
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise NotFound(f"no {what}", field=field)
                    msg = kind()
                    msg.ParseFromString(raw)
                    if change(msg) is False:
                        pipe.unwatch()
                        return msg
                    if "updated_at" in msg.DESCRIPTOR.fields_by_name:
                        msg.updated_at.CopyFrom(now_ts())  # type: ignore[attr-defined]
                    pipe.multi()
                    pipe.set(key, msg.SerializeToString())
                    pipe.execute()
                    return msg
                except redis.WatchError:
                    continue
        raise Aborted(f"{what} changed too often to update", field=field)

    # --- evaluations ---------------------------------------------------------------------
    def put_evaluation(self, ev: pb.Evaluation, ttl_s: int) -> None:
        self.r.set(self.k("eval", ev.id), ev.SerializeToString(), ex=ttl_s)

    def get_evaluation(self, evaluation_id: str) -> pb.Evaluation:
        raw = self.r.get(self.k("eval", evaluation_id)) if evaluation_id else None
        if raw is None:
            raise NotFound(f"no evaluation {evaluation_id!r}", field="evaluation_id")
        return pb.Evaluation.FromString(raw)

    def update_evaluation(
        self, evaluation_id: str, change: Callable[[pb.Evaluation], bool | None]
    ) -> pb.Evaluation:
        """Apply ``change`` atomically (keeping the record's expiry)."""
        key = self.k("eval", evaluation_id)
        ttl = int(self.r.ttl(key))
        ev = self._update(key, pb.Evaluation, change, f"evaluation {evaluation_id!r}", "evaluation_id")
        if ttl > 0:
            self.r.expire(key, ttl)
        return ev

    def _page_ids(self, key: str, after: str, limit: int, what: str) -> tuple[list[str], bool]:
        """Ids of one page of a newest-first index and whether more follow; ``after`` is the
        last id of the previous page."""
        start = 0
        if after:
            rank = self.r.zrevrank(key, after)
            if rank is None:
                raise NotFound(f"no {what} {after!r}", field="after")
            start = int(rank) + 1
        ids = [i.decode() for i in self.r.zrevrange(key, start, start + limit)]
        return ids[:limit], len(ids) > limit

    def transition(self, job_id: str, change: Callable[[pb.Job], bool | None]) -> tuple[pb.JobStatus, pb.Job]:
        """``update_job`` that also returns the status the change was applied to (for the
        status event's ``from``), read in the same transaction rather than before it."""
        before: list[pb.JobStatus] = []

        def recording(j: pb.Job) -> bool | None:
            before[:] = [j.status]
            return change(j)

        job = self.update_job(job_id, recording)
        return before[0], job

    def list_jobs(self, tenant: str, after: str, limit: int) -> tuple[list[pb.Job], bool]:
        """Newest first; every tenant's when ``tenant`` is empty."""
        key = self.k("jobs", tenant) if tenant else self.k("jobs")
        ids, more = self._page_ids(key, after, limit, "fine-tuning job")
        return [self.get_job(i) for i in ids], more

    def find_idempotent(self, tenant: str, key: str) -> str | None:
        raw = self.r.get(self.k("idem", tenant, key))
        return raw.decode() if raw else None

    def claim_idempotency(self, tenant: str, key: str, job_id: str) -> str:
        """The job id that owns the key: ``job_id`` if this call set it, else the earlier one."""
        if self.r.set(self.k("idem", tenant, key), job_id, nx=True):
            return job_id
        return self.find_idempotent(tenant, key) or job_id

    # --- cancel, leases, running set ----------------------------------------------------
    def request_cancel(self, job_id: str) -> None:
        self.r.set(self.k("cancel", job_id), "1", ex=30 * 86400)

    def clear_cancel(self, job_id: str) -> None:
        self.r.delete(self.k("cancel", job_id))

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.r.exists(self.k("cancel", job_id)))

    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        return bool(self.r.set(self.k("lease", job_id), owner, nx=True, px=int(ttl_s * 1000)))

    def renew_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        """Extend our lease; False when it is no longer ours (expired and taken over)."""
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
        )
        return bool(self.r.eval(script, 1, self.k("lease", job_id), owner, int(ttl_s * 1000)))

    def release_lease(self, job_id: str, owner: str) -> None:
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then "
            "return redis.call('DEL', KEYS[1]) else return 0 end"
        )
        self.r.eval(script, 1, self.k("lease", job_id), owner)

    def lease_alive(self, job_id: str) -> bool:
        return bool(self.r.exists(self.k("lease", job_id)))

    def mark_running(self, job_id: str, running: bool) -> None:
        (self.r.sadd if running else self.r.srem)(self.k("running"), job_id)

    def running_ids(self) -> list[str]:
        return sorted(i.decode() for i in self.r.smembers(self.k("running")))

    def once(self, name: str, ttl_s: int = 300) -> bool:
        """True for the first caller only (within ``ttl_s``): several API replicas reap safely."""
        return bool(self.r.set(self.k("once", name), "1", nx=True, ex=ttl_s))

    # --- events -------------------------------------------------------------------------
    def append_event(self, event: pb.JobEvent) -> int:
        """Number the event (its ``sequence``) and append it to the job's stream."""
        event.at.CopyFrom(now_ts())
        body = event.SerializeToString()
        status = event.WhichOneof("event") == "status"
        keys = [
            self.k("seq", event.job_id),
            self.k("events", event.job_id),
            self.k("status-seq", event.job_id),
        ]
        return int(self._append(keys=keys, args=[body, self.events_maxlen, "1" if status else "0"]))

    def status_sequence(self, job_id: str) -> int:
        """Sequence of the job's latest status change (a replay ends there, not at an older
        terminal status that a resume has since left)."""
        return int(self.r.get(self.k("status-seq", job_id)) or 0)

    def _decode(self, entries: Any) -> list[pb.JobEvent]:
        out = []
        for entry_id, fields in entries:
            ev = pb.JobEvent.FromString(fields[b"e"])
            ev.sequence = int(entry_id.decode().split("-", 1)[0])
            out.append(ev)
        return out

    def events_after(self, job_id: str, after: int, limit: int) -> list[pb.JobEvent]:
        entries = self.r.xrange(self.k("events", job_id), min=f"({after}-0", max="+", count=limit)
        return self._decode(entries)

    def events_before(self, job_id: str, before: int | None, limit: int) -> list[pb.JobEvent]:
        """Newest first, older than ``before`` (all when None)."""
        top = f"({before}-0" if before else "+"
        return self._decode(self.r.xrevrange(self.k("events", job_id), max=top, min="-", count=limit))

    def follow_events(self, job_id: str, after: int, block_ms: int = 1000) -> Iterator[list[pb.JobEvent]]:
        """Yield batches of new events forever (empty batches on idle, so callers can stop)."""
        cursor = f"{after}-0"
        while True:
            got = self.r.xread({self.k("events", job_id): cursor}, block=block_ms, count=100)
            batch: list[pb.JobEvent] = []
            for _stream, entries in got or []:
                batch = self._decode(entries)
                if entries:
                    cursor = entries[-1][0].decode()
            yield batch

    # --- checkpoints --------------------------------------------------------------------
    def add_checkpoint(self, ckpt: pb.Checkpoint) -> None:
        self.r.rpush(self.k("ckpts", ckpt.job_id), ckpt.SerializeToString())

    def checkpoints(self, job_id: str) -> list[pb.Checkpoint]:
        """Oldest first."""
        return [pb.Checkpoint.FromString(b) for b in self.r.lrange(self.k("ckpts", job_id), 0, -1)]

    # --- files --------------------------------------------------------------------------
    def put_file(self, f: pb.File) -> None:
        pipe = self.r.pipeline()
        pipe.set(self.k("file", f.id), f.SerializeToString())
        pipe.zadd(self.k("files", f.tenant), {f.id: f.created_at.ToMilliseconds()})
        pipe.execute()

    def get_file(self, file_id: str) -> pb.File | None:
        raw = self.r.get(self.k("file", file_id)) if file_id else None
        return pb.File.FromString(raw) if raw else None

    def delete_file(self, f: pb.File) -> None:
        pipe = self.r.pipeline()
        pipe.delete(self.k("file", f.id))
        pipe.zrem(self.k("files", f.tenant), f.id)
        pipe.execute()

    def list_files(self, tenant: str, after: str, limit: int) -> tuple[list[pb.File], bool]:
        ids, more = self._page_ids(self.k("files", tenant), after, limit, "file")
        return [f for f in (self.get_file(i) for i in ids) if f is not None], more
