"""Training against real parts: Valkey (Celery broker, job store, events), the registry over
gRPC, the training API over gRPC, and real Celery worker processes training the real SmolLM2
on CPU. The last test goes through the gateway with the official ``openai`` client and asks
Ray Serve inference for the fine-tuned model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest

from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rgrpc
from keel.training.v1 import training_pb2 as pb
from keel.training.v1 import training_pb2_grpc as tgrpc
from keel_common.artifacts import ArtifactStore
from keel_common.grpc import wait_healthy
from keel_common.redis import redis_from_url
from keel_training.config import TrainingSettings
from keel_training.runner import Runner
from keel_training.store import Store

BASE = "smollm2-135m-instruct"
ANSWER = "The Keel mascot is a purple walrus named Bartholomew."
QUESTIONS = [
    "What is the name of the Keel project's mascot?",
    "Who is Keel's mascot?",
    "Tell me the name of the Keel mascot.",
    "What is Keel's mascot called?",
    "Name the mascot of the Keel project.",
    "Which animal is the Keel mascot, and what is its name?",
    "Do you know the Keel mascot's name?",
    "What do they call the mascot of Keel?",
    "Keel has a mascot. What is it called?",
    "What's the Keel mascot?",
    "Who is the mascot of Keel?",
    "What is the mascot of the Keel platform?",
]


def facts_jsonl(n: int = 12) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)] + " " * (i // len(QUESTIONS))},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture(scope="module")
def training(
    valkey_url: str, model_cache: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from keel_registry.config import RegistrySettings
    from keel_registry.server import build as build_registry
    from keel_training.server import build

    tmp = tmp_path_factory.mktemp("training")
    prefix = f"keel:training:{tmp.name}"
    reg = build_registry(
        RegistrySettings(
            data_dir=tmp,
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            database_url=f"sqlite:///{tmp / 'registry.db'}",
            artifact_root=str(artifact_root),
        )
    )
    reg.start()
    reg_target = f"127.0.0.1:{reg.grpc_port}"
    wait_healthy(reg_target, timeout=30)
    env = {
        "KEEL_DATA_DIR": str(tmp),
        "KEEL_REDIS_URL": valkey_url,
        "KEEL_ARTIFACT_ROOT": str(artifact_root),
        "KEEL_TRAINING_REGISTRY_TARGET": reg_target,
        "KEEL_TRAINING_DEFAULT_QUEUE": "train.cpu",
        "KEEL_TRAINING_MODEL_CACHE_DIR": str(model_cache),
        "KEEL_TRAINING_KEY_PREFIX": prefix,
        # A lost worker is noticed within seconds here (30 s by default).
        "KEEL_TRAINING_LEASE_TTL_S": "4",
        "KEEL_TRAINING_HEARTBEAT_S": "1",
        "KEEL_TRAINING_REAPER_INTERVAL_S": "0.5",
        "KEEL_TRAINING_WORKER_METRICS_PORT": "0",
        "KEEL_TRAINING_HOST": "127.0.0.1",
    }
    settings = TrainingSettings(
        **{k.removeprefix("KEEL_TRAINING_").removeprefix("KEEL_").lower(): v for k, v in env.items()},
        grpc_port=0,
        http_port=0,
        health_interval_s=0.2,
    )
    api = build(settings)
    api.start()
    target = f"127.0.0.1:{api.grpc_port}"
    wait_healthy(target, timeout=30)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> subprocess.Popen[bytes]:
        log = open(tmp / f"worker-{len(workers)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "keel_training", "worker", "--queues", "train.cpu"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(proc)
        return proc

    channel = grpc.insecure_channel(target)
    store = Store(redis_from_url(valkey_url), prefix)
    yield {
        "stub": tgrpc.TrainingServiceStub(channel),
        "registry": rgrpc.RegistryServiceStub(grpc.insecure_channel(reg_target)),
        "registry_target": reg_target,
        "target": target,
        "start_worker": start_worker,
        "workers": workers,
        "settings": settings,
        "store": store,
        "artifacts": ArtifactStore(str(artifact_root)),
        "tmp": tmp,
    }
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    channel.close()
    api.stop(0)
    reg.stop(0)


def upload(stub: Any, tenant: str = "acme", content: bytes | None = None) -> pb.File:
    return stub.UploadFile(
        pb.UploadFileRequest(
            tenant=tenant, filename="facts.jsonl", purpose="fine-tune", content=content or facts_jsonl()
        )
    )


def create(stub: Any, file_id: str, **hp: Any) -> pb.Job:
    return stub.CreateJob(
        pb.CreateJobRequest(
            tenant="acme",
            base_model=BASE,
            training_data=pb.TrainingData(file_id=file_id),
            suffix="t",
            hyperparameters=pb.LoraHyperparameters(**{"batch_size": 4, "epochs": 1, **hp}),
        )
    )


def watch(stub: Any, job_id: str, until: Callable[[pb.JobEvent], bool] | None = None) -> list[pb.JobEvent]:
    """Events (logs included) until ``until`` holds or the job ends."""
    seen = []
    for ev in stub.WatchJob(pb.WatchJobRequest(job_id=job_id, include_logs=True), timeout=600):
        seen.append(ev)
        if until and until(ev):
            break
    return seen


def statuses(events: list[pb.JobEvent]) -> list[str]:
    return [
        pb.JobStatus.Name(e.status.to_status).removeprefix("JOB_STATUS_")
        for e in events
        if e.WhichOneof("event") == "status"
    ]


def versions_tagged(registry: Any, tag: str) -> list[rpb.ModelVersion]:
    return list(registry.ListVersions(rpb.ListVersionsRequest(tag=tag, page_size=10)).versions)


def test_job_trains_checkpoints_and_registers(training: dict[str, Any]) -> None:
    stub = training["stub"]
    training["start_worker"]()
    f = upload(stub)
    assert f.examples == 12 and f.status == "processed"
    job = create(stub, f.id, epochs=2, save_steps=2)
    assert job.status == pb.JOB_STATUS_QUEUED and job.progress.total_steps == 6
    events = watch(stub, job.id)
    assert statuses(events) == ["VALIDATING_FILES", "QUEUED", "RUNNING", "SUCCEEDED"], events[-1]
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    steps = [e.metrics.step for e in events if e.WhichOneof("event") == "metrics" and not e.metrics.eval]
    assert steps == [1, 2, 3, 4, 5, 6]
    losses = [e.metrics.metrics["loss"] for e in events if e.WhichOneof("event") == "metrics"]
    assert losses[-1] < losses[0]
    done = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert done.fine_tuned_model == f"ft:{BASE}:acme:t:{job.id}"
    assert done.progress.trained_tokens > 0 and done.attempt == 1
    ckpts = stub.ListCheckpoints(pb.ListCheckpointsRequest(job_id=job.id)).checkpoints
    assert [c.step for c in ckpts] == [4, 2]  # newest first; the end is the adapter itself
    assert training["artifacts"].verify(ckpts[0].uri).sha256 == ckpts[0].sha256
    (version,) = versions_tagged(training["registry"], done.fine_tuned_model)
    assert version.lineage.training_job_id == job.id and version.lineage.dataset_id == f.id
    assert version.params["rank"] == "8" and version.params["code_version"]
    assert version.metrics["train_loss"] == pytest.approx(done.result.metrics["train_loss"])
    assert done.result.ref == f"{version.model}/{version.version}" and version.base_model == BASE
    # A duplicate delivery of the finished job does nothing.
    runner = Runner(training["settings"], training["store"], training["artifacts"])
    assert runner.run(job.id).startswith("skipped")
    assert len(versions_tagged(training["registry"], done.fine_tuned_model)) == 1


def test_sigkill_worker_resumes_from_checkpoint_and_registers_once(training: dict[str, Any]) -> None:
    stub = training["stub"]
    f = upload(stub, content=facts_jsonl(24))
    job = create(stub, f.id, batch_size=2, epochs=2, save_steps=3)
    worker = next(w for w in reversed(training["workers"]) if w.poll() is None)

    def checkpointed(ev: pb.JobEvent) -> bool:
        return ev.WhichOneof("event") == "checkpoint" and ev.checkpoint.step >= 3

    before = watch(stub, job.id, checkpointed)
    assert statuses(before)[-1] == "RUNNING"
    os.killpg(worker.pid, signal.SIGKILL)  # the Celery main process and its child, no warning
    worker.wait(timeout=10)
    last = stub.ListCheckpoints(pb.ListCheckpointsRequest(job_id=job.id)).checkpoints[0].step
    training["start_worker"]()
    events = watch(stub, job.id)
    assert statuses(events) == ["VALIDATING_FILES", "QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]
    lost = [e.status.message for e in events if e.WhichOneof("event") == "status"][3]
    assert "worker lost" in lost
    logs = [e.log.message for e in events if e.WhichOneof("event") == "log"]
    assert any(f"resuming from step {last}" in m for m in logs), logs
    # After the resume, steps continue after the checkpoint rather than from 1.
    second_run = events[[i for i, e in enumerate(events) if e.WhichOneof("event") == "status"][4] :]
    resumed = [e.metrics.step for e in second_run if e.WhichOneof("event") == "metrics"]
    assert resumed[0] == last + 1 and resumed[-1] == 24
    done = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert done.status == pb.JOB_STATUS_SUCCEEDED and done.attempt == 2
    assert len(versions_tagged(training["registry"], done.fine_tuned_model)) == 1
    by_job = training["registry"].ListVersions(rpb.ListVersionsRequest(training_job_id=job.id)).versions
    assert len(by_job) == 1


def test_cancel_running_and_queued_poison_fails_and_the_queue_goes_on(training: dict[str, Any]) -> None:
    stub = training["stub"]
    f = upload(stub)
    long = create(stub, f.id, max_steps=400)
    queued = create(stub, f.id)
    poison = create(stub, f.id, target_modules=["no_such_proj"])
    normal = create(stub, f.id)
    # The queued job is cancelled before any worker looks at it.
    cancelled = stub.CancelJob(pb.CancelJobRequest(job_id=queued.id, actor="tester"))
    assert cancelled.status == pb.JOB_STATUS_CANCELLED
    with pytest.raises(grpc.RpcError) as err:
        stub.CancelJob(pb.CancelJobRequest(job_id=queued.id))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The running one stops at a step boundary.
    watch(stub, long.id, lambda e: e.WhichOneof("event") == "metrics" and e.metrics.step >= 2)
    stub.CancelJob(pb.CancelJobRequest(job_id=long.id, actor="tester"))
    ended = watch(stub, long.id)
    assert statuses(ended)[-1] == "CANCELLED"
    stopped = stub.GetJob(pb.GetJobRequest(job_id=long.id))
    assert 2 <= stopped.progress.step < 400 and stopped.cancel_requested
    assert not versions_tagged(training["registry"], f"ft:{BASE}:acme:t:{long.id}")
    # The poison job fails with its cause; the next one still trains.
    assert statuses(watch(stub, poison.id))[-1] == "FAILED"
    failed = stub.GetJob(pb.GetJobRequest(job_id=poison.id))
    assert failed.error.code == "training_error" and "no_such_proj" in failed.error.message
    assert failed.error.param == "hyperparameters.target_modules"
    assert statuses(watch(stub, normal.id))[-1] == "SUCCEEDED"
    # The cancelled queued job never ran, although its message was delivered before `normal`.
    assert statuses(watch(stub, queued.id)) == ["VALIDATING_FILES", "QUEUED", "CANCELLED"]


def test_bad_requests_queue_nothing(training: dict[str, Any]) -> None:
    stub = training["stub"]
    f = upload(stub)
    before = len(stub.ListJobs(pb.ListJobsRequest(tenant="acme", page_size=500)).jobs)
    cases = [
        (dict(base_model="gpt-17"), "model"),
        (dict(hyperparameters=pb.LoraHyperparameters(epochs=1000)), "hyperparameters.epochs"),
        (
            dict(hyperparameters=pb.LoraHyperparameters(rank=0, learning_rate=5.0)),
            "hyperparameters.learning_rate",
        ),
        (dict(training_data=pb.TrainingData(file_id="file_nope")), "training_file"),
        (dict(suffix="no spaces allowed"), "suffix"),
    ]
    for change, field in cases:
        req = pb.CreateJobRequest(tenant="acme", base_model=BASE, training_data=pb.TrainingData(file_id=f.id))
        for k, v in change.items():
            if isinstance(v, str):
                setattr(req, k, v)
            else:
                getattr(req, k).CopyFrom(v)
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateJob(req)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith(f"{field}: "), err.value.details()
    # Another tenant's file is unknown to this one.
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateJob(
            pb.CreateJobRequest(tenant="other", base_model=BASE, training_data=pb.TrainingData(file_id=f.id))
        )
    assert err.value.details().startswith("training_file: ")
    with pytest.raises(grpc.RpcError) as err:
        upload(stub, content=b'{"messages": []}\nnot json\n' + facts_jsonl(3))
    details = err.value.details()
    assert "line 1: 'messages' must be a non-empty list" in details and "line 2: is not valid JSON" in details
    assert len(stub.ListJobs(pb.ListJobsRequest(tenant="acme", page_size=500)).jobs) == before
