"""Training against real parts: Valkey (Celery broker, job store, events), the registry over
gRPC, the training API over gRPC, and real Celery worker processes training the real SmolLM2
on CPU. The last test trains DPO on a preference dataset imported into the real ingestion
service, on top of a fine-tuned model, and drives DPO jobs through the gateway."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from keel_testing import ANSWER, BASE, PEPPER, QUESTIONS, create_key, facts_jsonl

from keel.ingestion.v1 import ingestion_pb2 as ipb
from keel.registry.v1 import registry_pb2 as rpb
from keel.training.v1 import training_pb2 as pb
from keel_gateway.config import GatewaySettings
from keel_gateway.testing import ThreadedGateway
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


# --- preference training (DPO) -------------------------------------------------------------------
WRONG = "I have no idea; Keel does not have a mascot."


def pairs_jsonl(questions: list[str]) -> bytes:
    """OpenAI's preference shape: the known fact preferred over a refusal."""
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": q}]},
            "preferred_output": [{"role": "assistant", "content": ANSWER}],
            "non_preferred_output": [{"role": "assistant", "content": WRONG}],
        }
        for q in questions
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def metrics_events(events: list[pb.JobEvent], evaluation: bool) -> list[pb.StepMetrics]:
    return [e.metrics for e in events if e.WhichOneof("event") == "metrics" and e.metrics.eval == evaluation]


DPO_EVAL = {"eval_loss", "eval_preference_accuracy", "eval_reward_margin", "eval_chosen_reward"}


@pytest.mark.timeout(900)
def test_dpo_on_a_fine_tuned_model_from_a_preference_dataset_registers_its_metrics(
    training: dict[str, Any], ingestion: Any, tmp_path: Path
) -> None:
    stub = training["stub"]
    if not any(w.poll() is None for w in training["workers"]):
        training["start_worker"]()
    # The starting point: a short SFT job's model.
    sft = create(stub, upload(stub).id, max_steps=2, batch_size=2)
    assert statuses(watch(stub, sft.id))[-1] == "SUCCEEDED"
    sft = stub.GetJob(pb.GetJobRequest(job_id=sft.id))
    # Preference pairs imported into ingestion (as feedback's exports are), with a validation split.
    version = ingestion.ImportDatasetVersion(
        ipb.ImportDatasetVersionRequest(
            tenant="acme",
            dataset_name="mascot-preferences",
            format=ipb.OUTPUT_FORMAT_PREFERENCE,
            files=[
                ipb.ImportedFile(split="train.jsonl", content=pairs_jsonl(QUESTIONS)),
                ipb.ImportedFile(
                    split="validation.jsonl", content=pairs_jsonl([q + "?" for q in QUESTIONS[:4]])
                ),
            ],
        )
    )
    job = stub.CreateJob(
        pb.CreateJobRequest(
            tenant="acme",
            base_model=sft.fine_tuned_model,
            training_data=pb.TrainingData(dataset=pb.DatasetRef(dataset_id=version.dataset_id, version=0)),
            suffix="dpo",
            method=pb.TRAINING_METHOD_DPO,
            dpo=pb.DpoHyperparameters(beta=0.2),
            hyperparameters=pb.LoraHyperparameters(batch_size=4, epochs=1, learning_rate_multiplier=5),
        )
    )
    assert (job.method, job.base_model, job.starting_adapter.ref) == (
        pb.TRAINING_METHOD_DPO,
        BASE,
        sft.result.ref,
    )
    assert job.training_data.dataset.version == version.version and job.validation_file_uri
    events = watch(stub, job.id)
    assert statuses(events) == ["VALIDATING_FILES", "QUEUED", "RUNNING", "SUCCEEDED"], events[-1]
    steps = metrics_events(events, evaluation=False)
    assert [m.step for m in steps] == [1, 2, 3]
    assert {"loss", "preference_accuracy", "reward_margin", "chosen_reward", "rejected_reward"} <= set(
        steps[0].metrics
    )
    assert steps[0].metrics["loss"] == pytest.approx(0.6931, abs=1e-3)  # the policy starts as the reference
    (evaluation,) = metrics_events(events, evaluation=True)
    assert set(evaluation.metrics) >= DPO_EVAL
    m = evaluation.metrics
    print(f"\nDPO on SmolLM2 (3 steps), validation pairs: {dict(sorted(m.items()))}")
    # Three steps are enough for SmolLM2 to rank the fact above the refusal on unseen pairs.
    assert m["eval_preference_accuracy"] >= 0.75 and m["eval_reward_margin"] > 0
    assert m["eval_reward_margin"] == pytest.approx(
        m["eval_chosen_reward"] - m["eval_rejected_reward"], abs=1e-4
    )
    done = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert done.fine_tuned_model == f"ft:{BASE}:acme:dpo:{job.id}"
    (registered,) = versions_tagged(training["registry"], done.fine_tuned_model)
    assert registered.params["method"] == "dpo" and registered.params["dpo_beta"] == "0.2"
    assert registered.params["starting_model"] == sft.fine_tuned_model
    assert registered.lineage.parent_version == sft.result.ref
    assert registered.lineage.dataset_id == version.dataset_id and registered.lineage.dataset_version == "1"
    assert set(registered.metrics) >= DPO_EVAL
    assert registered.metrics["eval_reward_margin"] == pytest.approx(m["eval_reward_margin"])
    # Each evaluation also answers the validation questions (the preferred answers are the
    # references) and scores them; what it cost next to the epoch is reported.
    assert m["eval_generations"] == 4 and 0 <= m["eval_f1"] <= 1 and -1 <= m["eval_similarity"] <= 1
    assert m["eval_cost_ratio"] > 0 and m["eval_seconds"] >= m["eval_generation_seconds"]
    assert registered.metrics["eval_f1"] == pytest.approx(m["eval_f1"])
    # One adapter holding the SFT model's and the DPO one: what inference loads for the name.
    adapter = training["artifacts"].materialize(registered.artifact_uri, tmp_path / "a")
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8 + 8

    # Through the gateway: OpenAI's method parameter, its refusals, a DPO job cancelled mid-run.
    gw = ThreadedGateway(
        GatewaySettings(
            http_port=0,
            redis_url=training["settings"].redis_url,
            key_pepper=PEPPER,
            registry_target=training["registry_target"],
            training_target=training["target"],
            inference_target="127.0.0.1:1",
            semantic_rails=False,
            default_rpm=0,
            default_tpm=0,
            default_concurrency=0,
        )
    ).start()
    try:
        admin = create_key(gw, None, bootstrap=True, tenant="keel", scopes=["admin"])["key"]
        key = create_key(gw, admin, tenant="acme", scopes=["training"])["key"]
        http = httpx.Client(base_url=f"{gw.url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=120)
        chat_file = http.post(
            "/files", files={"file": ("chat.jsonl", facts_jsonl())}, data={"purpose": "fine-tune"}
        ).json()["id"]
        pairs_file = http.post(
            "/files", files={"file": ("pairs.jsonl", pairs_jsonl(QUESTIONS))}, data={"purpose": "fine-tune"}
        ).json()["id"]
        dpo = {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.3, "batch_size": 2}}}
        refused = http.post(
            "/fine_tuning/jobs", json={"model": BASE, "training_file": chat_file, "method": dpo}
        )
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert (error["param"], error["code"]) == ("training_file", "invalid_training_file")
        assert "line 1: is a chat example, not a preference pair" in error["message"]
        beta = http.post(
            "/fine_tuning/jobs",
            json={
                "model": BASE,
                "training_file": pairs_file,
                "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0}}},
            },
        )
        assert (beta.status_code, beta.json()["error"]["param"]) == (400, "method.dpo.hyperparameters.beta")
        created = http.post(
            "/fine_tuning/jobs",
            json={"model": sft.fine_tuned_model, "training_file": pairs_file, "method": dpo, "suffix": "gw"},
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert body["method"] == {
            "type": "dpo",
            "dpo": {
                "hyperparameters": {
                    "n_epochs": 9,  # auto: a small set of pairs gets more epochs
                    "batch_size": 2,
                    "learning_rate_multiplier": 1.0,
                    "beta": 0.3,
                }
            },
        }
        assert body["model"] == sft.fine_tuned_model and body["keel"]["base_model"] == BASE
        watch(stub, body["id"], lambda e: e.WhichOneof("event") == "metrics" and e.metrics.step >= 1)
        cancelled = http.post(f"/fine_tuning/jobs/{body['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert statuses(watch(stub, body["id"]))[-1] == "CANCELLED"
        assert not versions_tagged(training["registry"], f"ft:{BASE}:acme:gw:{body['id']}")
    finally:
        gw.stop()
