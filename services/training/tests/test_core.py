"""The job API's core on a real Valkey and artifact directory, with SmolLM2's real tokenizer:
hyperparameter checks, job creation (and its refusals), idempotency, cancel, resume and the
reaper of jobs whose worker was lost. Nothing here trains: ``enqueue`` only records."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import Aborted, AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from keel_training.config import TrainingSettings
from keel_training.core import TrainingCore
from keel_training.core.datasets import ResolvedDataset
from keel_training.store import Store
from keel_training.worker.job_run import Runner

SMOL = "smollm2-135m-instruct"
TINY = "tiny-llama"


# --- files ---------------------------------------------------------------------------------------
def test_upload_validates_stores_and_deletes(core: TrainingCore, chat_file: Callable[..., bytes]) -> None:
    f = core.upload_file("t1", "train.jsonl", "fine-tune", chat_file(12))
    assert (f.tenant, f.filename, f.examples, f.status, f.bytes) == (
        "t1",
        "train.jsonl",
        12,
        "processed",
        len(chat_file(12)),
    )
    assert core.artifacts.get_bytes(f.uri) == chat_file(12)
    assert core.get_file(f.id) == f
    with pytest.raises(NotFound):
        core.get_file(f.id, tenant="t2")
    files, token = core.list_files("t1", "", 0, "")
    assert ([x.id for x in files], token) == ([f.id], "")

    bad = chat_file(12) + b'{"messages": []}\n'
    with pytest.raises(InvalidArgument, match="line 13: 'messages' must be a non-empty list") as err:
        core.upload_file("t1", "bad.jsonl", "fine-tune", bad)
    assert err.value.field == "file"
    with pytest.raises(InvalidArgument, match="at least 10") as err:
        core.upload_file("t1", "small.jsonl", "fine-tune", chat_file(3))
    for args, field in [
        (("", "a.jsonl", "fine-tune"), "tenant"),
        (("t1", "a.jsonl", "assistants"), "purpose"),
        (("t1", "dir/a.jsonl", "fine-tune"), "filename"),
        (("t1", "", "fine-tune"), "filename"),
    ]:
        with pytest.raises(InvalidArgument) as err:
            core.upload_file(*args, chat_file(12))
        assert err.value.field == field
    assert [x.id for x in core.list_files("t1", "", 0, "")[0]] == [f.id]  # nothing refused was stored

    assert core.delete_file(f.id, "t1") == f
    with pytest.raises(NotFound):
        core.get_file(f.id)
    assert core.list_files("t1", "", 0, "")[0] == []


# --- creating jobs -------------------------------------------------------------------------------
def request(file_id: str, **kw: Any) -> pb.CreateJobRequest:
    kw.setdefault("tenant", "t1")
    kw.setdefault("base_model", SMOL)
    return pb.CreateJobRequest(training_data=pb.TrainingData(file_id=file_id), **kw)


def events(store: Store, job_id: str) -> list[pb.JobEvent]:
    return store.events_after(job_id, 0, 1000)


def statuses(store: Store, job_id: str) -> list[tuple[int, int]]:
    return [
        (e.status.from_status, e.status.to_status)
        for e in events(store, job_id)
        if e.WhichOneof("event") == "status"
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"tenant": ""}, "tenant"),
        ({"base_model": "gpt-4"}, "model"),
        ({"suffix": "has space"}, "suffix"),
        ({"suffix": "x" * 41}, "suffix"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        (
            {"hyperparameters": pb.LoraHyperparameters(learning_rate=1e-3, learning_rate_multiplier=2)},
            "hyperparameters",
        ),
        ({"hyperparameters": pb.LoraHyperparameters(max_seq_len=9000)}, "hyperparameters.max_seq_len"),
        ({"training_file": "file-nope"}, "training_file"),
        ({"training_file": "other-tenant"}, "training_file"),
        ({"training_file": ""}, "training_file"),
        ({"validation_file": "file-nope"}, "validation_file"),
    ],
)
def test_create_job_refusals_name_the_field_and_queue_nothing(
    core: TrainingCore, upload: Callable[..., Any], enqueued: list[Any], change: dict[str, Any], field: str
) -> None:
    f = upload("t1")
    other = upload("t2")
    req = request(f.id)
    for key, value in change.items():
        if key == "training_file":
            req.training_data.Clear()
            if value:
                req.training_data.file_id = other.id if value == "other-tenant" else value
        elif key == "validation_file":
            req.validation_data.file_id = value
        elif key == "metadata":
            req.metadata.update(value)
        elif key == "hyperparameters":
            req.hyperparameters.CopyFrom(value)
        else:
            setattr(req, key, value)
    with pytest.raises(InvalidArgument) as err:
        core.create_job(req)
    assert err.value.field == field
    assert enqueued == []
    assert core.list_jobs("", 0, 0, "") == ([], "")


def test_create_job_refuses_an_unreadable_or_invalid_training_uri(
    core: TrainingCore, artifacts: ArtifactStore, enqueued: list[Any]
) -> None:
    missing = pb.CreateJobRequest(
        tenant="t1",
        base_model=SMOL,
        training_data=pb.TrainingData(file_uri=artifacts.uri_for("nothing/here.jsonl")),
    )
    with pytest.raises(InvalidArgument, match="cannot be read") as err:
        core.create_job(missing)
    assert err.value.field == "training_file"
    ref = artifacts.put_bytes("raw/bad.jsonl", b"{}\n" * 12)
    with pytest.raises(InvalidArgument, match="line 1: has no 'messages' list") as err:
        core.create_job(
            pb.CreateJobRequest(tenant="t1", base_model=SMOL, training_data=pb.TrainingData(file_uri=ref.uri))
        )
    assert err.value.field == "training_file"
    assert enqueued == []


def test_a_training_uri_outside_the_store_names_the_training_file(core: TrainingCore, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text("{}\n")
    req = pb.CreateJobRequest(
        tenant="t1", base_model=SMOL, training_data=pb.TrainingData(file_uri=f"file://{outside}")
    )
    with pytest.raises(InvalidArgument) as err:
        core.create_job(req)
    assert err.value.field == "training_file"


def test_create_job_validates_then_queues_once(
    core: TrainingCore, upload: Callable[..., Any], enqueued: list[Any], store: Store
) -> None:
    f = upload("t1", n=10)
    val = upload("t1", n=3 + 10, offset=100)
    req = request(
        f.id,
        creator="alice",
        suffix="v1",
        metadata={"team": "search"},
        validation_data=pb.TrainingData(file_id=val.id),
        hyperparameters=pb.LoraHyperparameters(batch_size=4, epochs=2),
    )
    job = core.create_job(req)
    assert job.id.startswith("ftjob_")
    assert enqueued == [(job.id, "train.gpu")]
    assert job.status == pb.JOB_STATUS_QUEUED
    assert (job.tenant, job.creator, job.base_model, job.suffix) == ("t1", "alice", SMOL, "v1")
    assert dict(job.metadata) == {"team": "search"}
    assert job.output_model == "t1-ft-smollm2-135m-instruct"
    assert job.training_file_uri == f.uri and job.validation_file_uri == val.uri
    assert job.validation_data.file_id == val.id
    # Effective hyperparameters are recorded; 10 examples / batch 4 = 3 steps, 2 epochs.
    assert (job.hyperparameters.batch_size, job.hyperparameters.rank, job.hyperparameters.seed) == (4, 8, 42)
    assert job.progress.total_steps == 6
    assert job.truncated_examples == 0
    assert job.attempt == 0
    assert job.created_at.ToMilliseconds() <= job.updated_at.ToMilliseconds()

    # the learning rate and warm-up were left "auto": chosen, recorded, and said why
    assert list(job.hyperparameters.auto) == ["learning_rate", "warmup_steps"]
    assert job.hyperparameters.learning_rate == pytest.approx(2e-4 * math.sqrt(7e9 / 134_479_872))
    assert job.hyperparameters.warmup_steps == 1

    evs = events(store, job.id)
    assert [e.sequence for e in evs] == [1, 2, 3, 4]
    assert statuses(store, job.id) == [
        (pb.JOB_STATUS_UNSPECIFIED, pb.JOB_STATUS_VALIDATING_FILES),
        (pb.JOB_STATUS_VALIDATING_FILES, pb.JOB_STATUS_QUEUED),
    ]
    assert evs[1].log.message == "training file: 10 examples, validation file: 13; about 6 steps"
    assert evs[2].log.message == (
        "hyperparameters chosen: learning_rate 0.00144 (auto: LoRA on 134M parameters); "
        "warmup_steps 1 (auto: 6% of 6 steps, then linear decay)"
    )
    assert job.last_event_sequence == 4
    assert core.get_job(job.id, "t1") == job
    with pytest.raises(NotFound):
        core.get_job(job.id, "t2")

    # The file can be deleted; the job keeps the URI it resolved.
    core.delete_file(f.id)
    assert core.get_job(job.id).training_file_uri == f.uri


def test_same_idempotency_key_returns_the_same_job_and_queues_once(
    core: TrainingCore, upload: Callable[..., Any], enqueued: list[Any]
) -> None:
    f = upload("t1")
    first = core.create_job(request(f.id, idempotency_key="k1"))
    again = core.create_job(request(f.id, idempotency_key="k1"))
    assert again.id == first.id
    assert enqueued == [(first.id, "train.gpu")]
    # The key is per tenant, and another key is another job.
    g = upload("t2")
    other_tenant = core.create_job(request(g.id, tenant="t2", idempotency_key="k1"))
    other_key = core.create_job(request(f.id, idempotency_key="k2"))
    assert len({first.id, other_tenant.id, other_key.id}) == 3
    assert len(enqueued) == 3

    f2 = upload("t1", offset=50)
    with pytest.raises(AlreadyExists) as err:
        core.create_job(request(f2.id, idempotency_key="k1"))
    assert err.value.field == "idempotency_key"
    with pytest.raises(AlreadyExists):
        core.create_job(request(f.id, base_model=TINY, idempotency_key="k1"))
    assert len(enqueued) == 3


def test_same_key_with_other_hyperparameters_is_already_exists(
    core: TrainingCore, upload: Callable[..., Any], enqueued: list[Any]
) -> None:
    f = upload("t1")
    core.create_job(request(f.id, idempotency_key="k"))
    with pytest.raises(AlreadyExists):
        core.create_job(
            request(f.id, idempotency_key="k", hyperparameters=pb.LoraHyperparameters(learning_rate=1e-3))
        )


def test_concurrent_retry_with_the_same_key_is_told_to_retry_then_gets_the_job(
    core: TrainingCore,
    settings: TrainingSettings,
    store: Store,
    artifacts: ArtifactStore,
    upload: Callable[..., Any],
    enqueued: list[Any],
) -> None:
    entered, gate = threading.Event(), threading.Event()

    class Gated(Store):
        """Holds the first request just before it writes its job record."""

        def put_new_job(self, job: pb.Job) -> None:
            entered.set()
            assert gate.wait(30)
            super().put_new_job(job)

    class Opens(Store):
        """The retry's store: the first request goes on once the retry has looked for the job
        (so a fix that waits for the job, or one that writes it before claiming, both pass)."""

        def get_job(self, job_id: str) -> pb.Job:
            try:
                return super().get_job(job_id)
            finally:
                gate.set()

    slow = TrainingCore(settings, Gated(store.r, store.p, store.events_maxlen), artifacts, enqueued)
    retry = TrainingCore(settings, Opens(store.r, store.p, store.events_maxlen), artifacts, enqueued)
    slow.tokenizers = retry.tokenizers = core.tokenizers
    req = request(upload("t1").id, idempotency_key="k")
    first: list[pb.Job] = []
    t = threading.Thread(target=lambda: first.append(slow.create_job(req)))
    t.start()
    try:
        assert entered.wait(30)
        # While the first request is still creating the job, a retry is told to come back
        # (ABORTED, retryable) rather than told the job does not exist.
        with pytest.raises(Aborted) as err:
            retry.create_job(req)
        assert err.value.field == "idempotency_key"
    finally:
        gate.set()
        t.join(30)
    assert retry.create_job(req).id == first[0].id


def test_examples_longer_than_max_seq_len_are_counted_and_warned(
    core: TrainingCore, upload: Callable[..., Any], store: Store
) -> None:
    f = upload("t1", n=10)
    # SmolLM2's template alone (its default system prompt) is over 16 tokens.
    job = core.create_job(request(f.id, hyperparameters=pb.LoraHyperparameters(max_seq_len=16)))
    assert job.truncated_examples == 10
    warnings = [e.log.message for e in events(store, job.id) if e.log.severity == pb.LOG_SEVERITY_WARNING]
    assert warnings == ["10 example(s) exceed max_seq_len=16 tokens and will be truncated"]


# --- listing -------------------------------------------------------------------------------------
def test_list_jobs_pages_newest_first(core: TrainingCore, upload: Callable[..., Any]) -> None:
    f = upload("t1")
    ids = [core.create_job(request(f.id)).id for _ in range(3)]
    g = upload("t2")
    core.create_job(request(g.id, tenant="t2"))
    seen: list[str] = []
    token = ""
    while True:
        jobs, token = core.list_jobs("t1", 0, 2, token)
        seen += [j.id for j in jobs]
        if not token:
            break
    assert seen == ids[::-1]
    assert len(core.list_jobs("", 0, 10, "")[0]) == 4
    with pytest.raises(InvalidArgument) as err:
        core.list_jobs("t1", 0, 2, "not-a-token")
    assert err.value.field == "page_token"


def test_list_jobs_by_status_finds_matches_beyond_the_first_page(
    core: TrainingCore, upload: Callable[..., Any]
) -> None:
    f = upload("t1")
    old = core.create_job(request(f.id))
    core.create_job(request(f.id))
    core.cancel_job(old.id)
    found: list[str] = []
    token = ""
    for _ in range(10):
        jobs, token = core.list_jobs("t1", pb.JOB_STATUS_CANCELLED, 1, token)
        found += [j.id for j in jobs]
        if not token:
            break
    assert found == [old.id]


# --- cancel, resume, the runner's first checks ---------------------------------------------------
def test_cancel_of_a_queued_job_is_immediate_and_the_worker_skips_it(
    core: TrainingCore,
    upload: Callable[..., Any],
    store: Store,
    settings: TrainingSettings,
    artifacts: ArtifactStore,
) -> None:
    job = core.create_job(request(upload("t1").id))
    with pytest.raises(NotFound):
        core.cancel_job(job.id, tenant="t2")
    cancelled = core.cancel_job(job.id, tenant="t1", actor="alice")
    assert cancelled.status == pb.JOB_STATUS_CANCELLED
    assert cancelled.cancel_requested
    assert cancelled.status_message == "cancelled by alice before it started"
    assert cancelled.HasField("finished_at")
    assert store.cancel_requested(job.id)
    assert statuses(store, job.id)[-1] == (pb.JOB_STATUS_QUEUED, pb.JOB_STATUS_CANCELLED)
    with pytest.raises(FailedPrecondition):
        core.cancel_job(job.id)

    seq = store.get_job(job.id).last_event_sequence
    outcome = Runner(settings, store, artifacts).run(job.id)
    assert outcome == "skipped: already JOB_STATUS_CANCELLED"
    after = store.get_job(job.id)
    assert after.status == pb.JOB_STATUS_CANCELLED and after.attempt == 0
    assert after.last_event_sequence == seq
    assert not store.lease_alive(job.id)


def running(store: Store, job_id: str, attempt: int, step: int = 0, owner: str | None = "w1") -> None:
    """What a worker does when it starts a job (without training anything)."""
    if owner:
        assert store.acquire_lease(job_id, owner, 30)

    def start(j: pb.Job) -> None:
        j.status = pb.JOB_STATUS_RUNNING
        j.attempt = attempt
        j.progress.step = step

    store.update_job(job_id, start)
    store.mark_running(job_id, True)


def test_cancel_of_a_running_job_asks_the_worker(
    core: TrainingCore, upload: Callable[..., Any], store: Store
) -> None:
    job = core.create_job(request(upload("t1").id))
    running(store, job.id, attempt=1)
    after = core.cancel_job(job.id, actor="bob")
    assert after.status == pb.JOB_STATUS_RUNNING
    assert after.cancel_requested
    assert store.cancel_requested(job.id)
    last = events(store, job.id)[-1]
    assert last.log.message == "cancel requested by bob"


def test_resume_requeues_a_cancelled_job(
    core: TrainingCore, upload: Callable[..., Any], store: Store, enqueued: list[Any]
) -> None:
    job = core.create_job(request(upload("t1").id))
    with pytest.raises(FailedPrecondition):
        core.resume_job(job.id)
    core.cancel_job(job.id)
    resumed = core.resume_job(job.id, tenant="t1")
    assert resumed.status == pb.JOB_STATUS_QUEUED
    assert not resumed.cancel_requested
    assert not resumed.HasField("finished_at")
    assert resumed.status_message == "resumed by request"
    assert not store.cancel_requested(job.id)
    assert enqueued == [(job.id, "train.gpu")] * 2
    assert statuses(store, job.id)[-1] == (pb.JOB_STATUS_CANCELLED, pb.JOB_STATUS_QUEUED)


def test_watch_ends_at_the_latest_terminal_status_not_an_older_one(
    core: TrainingCore, upload: Callable[..., Any], store: Store
) -> None:
    job = core.create_job(request(upload("t1").id))
    core.cancel_job(job.id)
    # Cancelled and fully seen: a watch from the end returns at once instead of hanging.
    last = store.get_job(job.id).last_event_sequence
    assert list(core.watch(job.id, last, True, lambda: True)) == []
    replay = list(core.watch(job.id, 0, True, lambda: True))
    assert replay[-1].status.to_status == pb.JOB_STATUS_CANCELLED
    # Resumed and cancelled again: a replay runs past the first CANCELLED to the second.
    core.resume_job(job.id)
    core.cancel_job(job.id)
    replay = list(core.watch(job.id, 0, True, lambda: True))
    ends = [e.status.to_status for e in replay if e.WhichOneof("event") == "status"]
    assert ends[-3:] == [pb.JOB_STATUS_CANCELLED, pb.JOB_STATUS_QUEUED, pb.JOB_STATUS_CANCELLED]
    assert replay[-1].sequence == store.get_job(job.id).last_event_sequence


def test_a_fine_tuned_name_over_the_registry_tag_limit_is_refused_up_front(
    core: TrainingCore, upload: Callable[..., Any], enqueued: list[Any]
) -> None:
    tenant = "t" * 60
    with pytest.raises(InvalidArgument) as err:
        core.create_job(request(upload(tenant).id, tenant=tenant, suffix="s" * 40))
    assert err.value.field == "suffix" and enqueued == []


# --- the reaper ----------------------------------------------------------------------------------
def test_reaper_requeues_a_job_whose_lease_is_gone_then_fails_it_after_max_attempts(
    core: TrainingCore, upload: Callable[..., Any], store: Store, enqueued: list[Any]
) -> None:
    job = core.create_job(request(upload("t1").id))
    running(store, job.id, attempt=1, step=7)
    assert core.reap() == []  # the worker is alive
    assert store.get_job(job.id).status == pb.JOB_STATUS_RUNNING

    store.release_lease(job.id, "w1")  # the worker died: nobody renews its lease
    assert core.reap() == [job.id]
    after = store.get_job(job.id)
    assert after.status == pb.JOB_STATUS_QUEUED
    assert after.status_message == "worker lost at step 7; re-queued to resume from its last checkpoint"
    assert enqueued == [(job.id, "train.gpu")] * 2
    assert store.running_ids() == []
    assert statuses(store, job.id)[-1] == (pb.JOB_STATUS_RUNNING, pb.JOB_STATUS_QUEUED)
    assert core.reap() == []

    # The last allowed run is lost too: the job fails instead of looping forever.
    running(store, job.id, attempt=core.settings.max_attempts, owner=None)
    assert core.reap() == [job.id]
    failed = store.get_job(job.id)
    assert failed.status == pb.JOB_STATUS_FAILED
    assert failed.error.code == "worker_lost"
    assert failed.error.message == "the worker running this job was lost 3 times"
    assert failed.HasField("finished_at")
    assert statuses(store, job.id)[-1] == (pb.JOB_STATUS_RUNNING, pb.JOB_STATUS_FAILED)
    assert len(enqueued) == 2
    assert store.running_ids() == []


def test_reaper_drops_stale_entries_and_acts_once_across_replicas(
    core: TrainingCore,
    settings: TrainingSettings,
    store: Store,
    artifacts: ArtifactStore,
    upload: Callable[..., Any],
    enqueued: list[Any],
) -> None:
    store.mark_running("ftjob_gone", True)
    done = core.create_job(request(upload("t1").id))
    core.cancel_job(done.id)
    store.mark_running(done.id, True)
    assert core.reap() == []
    assert store.running_ids() == []
    assert store.get_job(done.id).status == pb.JOB_STATUS_CANCELLED

    lost = core.create_job(request(upload("t1").id))
    running(store, lost.id, attempt=1, owner=None)
    replicas = [core] + [TrainingCore(settings, store, artifacts, enqueued) for _ in range(3)]
    barrier = threading.Barrier(len(replicas))
    acted: list[list[str]] = [[] for _ in replicas]

    def reap(i: int) -> None:
        barrier.wait()
        acted[i] = replicas[i].reap()

    threads = [threading.Thread(target=reap, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(j for a in acted for j in a) == [lost.id]
    assert [e for e in enqueued if e[0] == lost.id] == [(lost.id, "train.gpu")] * 2
    assert statuses(store, lost.id).count((pb.JOB_STATUS_RUNNING, pb.JOB_STATUS_QUEUED)) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_job_resumed_after_lost_workers_runs_again(
    core: TrainingCore, upload: Callable[..., Any], store: Store, artifacts: ArtifactStore
) -> None:
    job = core.create_job(
        request(
            upload("t1").id,
            base_model=TINY,
            hyperparameters=pb.LoraHyperparameters(max_steps=1, batch_size=2),
        )
    )
    running(store, job.id, attempt=core.settings.max_attempts, owner=None)
    assert core.reap() == [job.id]
    assert store.get_job(job.id).error.code == "worker_lost"
    core.resume_job(job.id)
    # A worker takes the job; if it trains, registering fails fast (no registry there), which
    # is fine: what matters is that the resumed job was run at all.
    settings = core.settings.model_copy(
        update={"registry_target": f"127.0.0.1:{_closed_port()}", "torch_threads": 1}
    )
    outcome = Runner(settings, store, artifacts).run(job.id)
    assert outcome != "failed: too many attempts"
    assert statuses(store, job.id)[-1][0] == pb.JOB_STATUS_RUNNING


class Versions:
    """Dataset versions as ingestion would resolve them, over JSONL files in the real artifact
    store (the integration and e2e tests resolve through the real ingestion service)."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts
        self.versions: dict[tuple[str, int], ResolvedDataset] = {}

    def add(self, ds: str, version: int, fmt: str, n_train: int, n_val: int, status: str = "READY") -> None:
        def put(name: str, n: int, offset: int) -> str:
            if not n:
                return ""
            rows = [
                {
                    "messages": [
                        {"role": "user", "content": f"{i} + {i}?"},
                        {"role": "assistant", "content": str(2 * i)},
                    ]
                }
                for i in range(offset, offset + n)
            ]
            data = "".join(json.dumps(r) + "\n" for r in rows).encode()
            return self.artifacts.put_bytes(f"datasets/{ds}/{version}/{name}", data).uri

        self.versions[(ds, version)] = ResolvedDataset(
            ds, version, fmt, status, put("train.jsonl", n_train, 0), put("validation.jsonl", n_val, 500)
        )

    def resolve(self, dataset_id: str, version: int, tenant: str, field: str) -> ResolvedDataset:
        if tenant != "t1":
            raise NotFound("no such dataset", field=field)
        key = (dataset_id, version or max(v for d, v in self.versions if d == dataset_id))
        if key not in self.versions:
            raise NotFound("no such dataset", field=field)
        return self.versions[key]


def test_a_dataset_version_trains_with_its_own_validation_split(
    settings: TrainingSettings, store: Store, artifacts: ArtifactStore, enqueued: Any, shared_tokenizers: Any
) -> None:
    versions = Versions(artifacts)
    versions.add("ds_abc", 1, "qa_with_context", 12, 4)
    versions.add("ds_abc", 2, "qa_with_context", 20, 5)
    versions.add("ds_txt", 1, "text", 12, 0)
    versions.add("ds_bad", 1, "qa_with_context", 12, 0, status="FAILED")
    core = TrainingCore(settings, store, artifacts, enqueued, versions)
    core.tokenizers = shared_tokenizers

    def ds_request(ref: str, version: int) -> pb.CreateJobRequest:
        return pb.CreateJobRequest(
            tenant="t1", base_model=SMOL,
            training_data=pb.TrainingData(dataset=pb.DatasetRef(dataset_id=ref, version=version)),
        )  # fmt: skip

    job = core.create_job(ds_request("ds_abc", 0))
    # "latest" is pinned on the job, and the version's validation split comes with it
    assert job.training_data.dataset.version == 2
    assert job.training_file_uri == versions.versions[("ds_abc", 2)].train_uri
    assert job.validation_file_uri == versions.versions[("ds_abc", 2)].validation_uri
    assert "training file: 20 examples, validation file: 5" in events(store, job.id)[1].log.message
    for ref, version, err, message in [
        ("ds_txt", 1, InvalidArgument, "continued pre-training"),
        ("ds_bad", 1, FailedPrecondition, "not READY"),
        ("ds_zzz", 3, NotFound, "no such dataset"),
    ]:
        with pytest.raises(err) as refused:
            core.create_job(ds_request(ref, version))
        assert refused.value.field == "training_file" and message in refused.value.message
    # without an ingestion service a dataset is refused clearly
    with pytest.raises(InvalidArgument, match="ingestion service"):
        TrainingCore(settings, store, artifacts, enqueued).create_job(ds_request("ds_abc", 1))
