"""Training against real parts: Valkey (Celery broker, job store, events), the registry over
gRPC, the training API over gRPC, and real Celery worker processes training the real SmolLM2
on CPU. The last test goes through the gateway with the official ``openai`` client and asks
Ray Serve inference for the fine-tuned model."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest
from keel_testing import BASE, facts_jsonl

from keel.registry.v1 import registry_pb2 as rpb
from keel.training.v1 import training_pb2 as pb
from keel_training.worker.job_run import Runner


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
    # Metrics: jobs by state and queue lengths from the API, step time and tokens from the worker.
    api = httpx.get(f"http://127.0.0.1:{training['api_http_port']}/metrics").text
    assert (
        'keel_training_jobs{state="succeeded"} 1.0' in api
        and 'keel_training_queue_length{queue="train.cpu"} 0.0' in api
    )
    worker_http = f"http://127.0.0.1:{training['worker_metrics_ports'][0]}"
    assert httpx.get(f"{worker_http}/readyz").json() == {"status": "ready"}
    worker = httpx.get(f"{worker_http}/metrics").text
    assert "keel_training_step_duration_seconds_count 6.0" in worker
    assert f"keel_training_trained_tokens_total {float(done.progress.trained_tokens)}" in worker
    assert 'keel_training_job_duration_seconds_count{outcome="succeeded"} 1.0' in worker
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


def test_sigterm_checkpoints_and_requeues_then_another_worker_resumes(training: dict[str, Any]) -> None:
    stub = training["stub"]
    f = upload(stub, content=facts_jsonl(24))
    job = create(stub, f.id, batch_size=2, epochs=1)  # no save_steps: only the pause checkpoints
    worker = next(w for w in reversed(training["workers"]) if w.poll() is None)
    watch(stub, job.id, lambda e: e.WhichOneof("event") == "metrics" and e.metrics.step >= 2)
    worker.send_signal(signal.SIGTERM)  # what Kubernetes does to a pod it stops
    assert worker.wait(timeout=120) == 0
    paused = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert paused.status == pb.JOB_STATUS_QUEUED and "worker shutting down" in paused.status_message
    (ckpt,) = stub.ListCheckpoints(pb.ListCheckpointsRequest(job_id=job.id)).checkpoints
    assert f"resume from step {ckpt.step}" in paused.status_message and ckpt.step >= 2
    assert paused.attempt == 0  # a drained run does not use up an attempt
    training["start_worker"]()
    events = watch(stub, job.id)
    assert statuses(events) == ["VALIDATING_FILES", "QUEUED", "RUNNING", "QUEUED", "RUNNING", "SUCCEEDED"]
    logs = [e.log.message for e in events if e.WhichOneof("event") == "log"]
    assert any(f"resuming from step {ckpt.step}" in m for m in logs), logs
    done = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert done.attempt == 1 and done.progress.step == 12


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
