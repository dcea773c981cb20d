"""Evaluation by generation and eval-gated promotion against real parts: the training API and a
Celery worker training and evaluating the real SmolLM2 on CPU, the registry over gRPC, and the
real ingestion service holding the questions.

One job, its hyperparameters omitted, learns three invented facts and asks for automatic
promotion to production through the closed-book F1 gate: the worker evaluates the new version
and the base model on the dataset's validation questions (asked with their passage; closed
book drops it) and moves the alias, recording both scores in the registry's audit trail."""

from __future__ import annotations

import json
import time
from typing import Any

import grpc
import pytest
from keel_testing import BASE

from keel.ingestion.v1 import ingestion_pb2 as ipb
from keel.registry.v1 import registry_pb2 as rpb
from keel.training.v1 import training_pb2 as pb
from keel_training.facts import invent_fact

FACTS = [invent_fact(seed) for seed in (11, 22, 33)]
DONE = (pb.EVALUATION_STATUS_SUCCEEDED, pb.EVALUATION_STATUS_FAILED)


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def validation_rows() -> list[dict[str, Any]]:
    """Each fact's held-out questions, asked with a passage stating it (qa_with_context's
    shape); the reference is the bare answer, so F1 counts the fact's words only."""
    rows = []
    for f in FACTS:
        passage = f.train[0]["messages"][1]["content"]
        for q in f.held_out:
            messages = [
                {"role": "system", "content": f"Answer using this passage.\n\n{passage}"},
                {"role": "user", "content": q},
                {"role": "assistant", "content": f.answer},
            ]
            rows.append({"messages": messages})
    return rows


def wait_evaluation(stub: Any, evaluation_id: str, timeout_s: float = 600) -> pb.Evaluation:
    """Polls: an evaluation has no event stream (it is one short step on a worker)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ev = stub.GetEvaluation(pb.GetEvaluationRequest(evaluation_id=evaluation_id))
        if ev.status in DONE or time.monotonic() > deadline:
            return ev
        time.sleep(0.5)


@pytest.fixture(scope="module")
def facts_dataset(ingestion: Any) -> ipb.DatasetVersion:
    return ingestion.ImportDatasetVersion(
        ipb.ImportDatasetVersionRequest(
            tenant="acme",
            dataset_name="fresh-facts",
            format=ipb.OUTPUT_FORMAT_CHAT,
            files=[
                ipb.ImportedFile(split="train.jsonl", content=jsonl([ex for f in FACTS for ex in f.train])),
                ipb.ImportedFile(split="validation.jsonl", content=jsonl(validation_rows())),
            ],
        )
    )


@pytest.mark.timeout(900)
def test_a_job_learns_the_facts_and_promotes_itself_through_the_gate(
    training: dict[str, Any], facts_dataset: ipb.DatasetVersion
) -> None:
    stub, registry = training["stub"], training["registry"]
    training["start_worker"]()
    ref = pb.DatasetRef(dataset_id=facts_dataset.dataset_id, version=facts_dataset.version)
    job = stub.CreateJob(
        pb.CreateJobRequest(
            tenant="acme",
            base_model=BASE,
            training_data=pb.TrainingData(dataset=ref),
            suffix="facts",
            auto_promote=pb.EvaluationGate(alias="production", metric="closed_book_f1", min_examples=6),
        )
    )
    assert list(job.hyperparameters.auto) == ["epochs", "batch_size", "learning_rate", "warmup_steps"]
    assert job.auto_promote.metric == "closed_book_f1"
    events = list(stub.WatchJob(pb.WatchJobRequest(job_id=job.id, include_logs=True), timeout=600))
    done = stub.GetJob(pb.GetJobRequest(job_id=job.id))
    assert done.status == pb.JOB_STATUS_SUCCEEDED, done.status_message
    assert done.result.promotion_evaluation_id.startswith("eval_")
    logs = [e.log.message for e in events if e.WhichOneof("event") == "log"]
    assert any("automatic promotion to production queued" in m for m in logs), logs

    ev = wait_evaluation(stub, done.result.promotion_evaluation_id)
    assert ev.status == pb.EVALUATION_STATUS_SUCCEEDED, ev.status_message
    assert ev.job_id == job.id and ev.examples == 6 and ev.split == "validation"
    candidate, base = ev.results
    assert (candidate.ref, base.ref) == (done.result.ref, BASE)
    print(f"\ngate: {ev.status_message}\n  candidate {dict(candidate.metrics)}\n  base {dict(base.metrics)}")
    # Closed book, only the fine-tuned model knows the facts.
    assert candidate.metrics["closed_book_f1"] > base.metrics["closed_book_f1"] + 0.3
    assert candidate.answers and candidate.answers[0].closed_book_answer
    outcome = ev.gate_outcome
    assert outcome.passed and outcome.promoted and outcome.current_ref == BASE
    assert outcome.candidate_score == pytest.approx(candidate.metrics["closed_book_f1"])
    assert outcome.current_score == pytest.approx(base.metrics["closed_book_f1"])

    # The alias moved, and its audit record holds both scores.
    model = done.result.model
    resolved = registry.Resolve(rpb.ResolveRequest(ref=f"{model}@production")).version
    assert resolved.version == done.result.version
    (event,) = registry.GetAliasHistory(rpb.GetAliasHistoryRequest(model=model, alias="production")).events
    assert f"{outcome.candidate_score:.3f}" in event.reason and f"{outcome.current_score:.3f}" in event.reason
    assert f"gate {ev.id}" in event.actor and f"{ref.dataset_id}@{ref.version} (validation)" in event.reason
    # The scores are stored on the version, keyed by the questions they were asked.
    key = f"closed_book_f1:{ref.dataset_id}:{ref.version}:validation"
    assert resolved.metrics[key] == pytest.approx(outcome.candidate_score)
    # The job's own per-epoch evaluation scored the same questions while training.
    assert "closed_book_f1" in done.result.metrics and "eval_cost_ratio" in done.result.metrics

    # On demand: any refs and base models, on the same questions.
    ondemand = stub.CreateEvaluation(
        pb.CreateEvaluationRequest(tenant="acme", models=[BASE, f"{model}@production"], dataset=ref, limit=4)
    )
    assert ondemand.status == pb.EVALUATION_STATUS_QUEUED and [r.ref for r in ondemand.results] == [
        BASE,
        done.result.ref,
    ]
    ondemand = wait_evaluation(stub, ondemand.id)
    assert ondemand.status == pb.EVALUATION_STATUS_SUCCEEDED, ondemand.status_message
    assert ondemand.examples == 4 and len(ondemand.results) == 2
    assert ondemand.results[1].metrics["closed_book_f1"] > ondemand.results[0].metrics["closed_book_f1"]

    # A gate with too few questions refuses, and the alias stays where it is.
    refused = wait_evaluation(
        stub,
        stub.CreateEvaluation(
            pb.CreateEvaluationRequest(
                tenant="acme",
                gate=pb.EvaluationGate(model=model, version=done.result.version, alias="staging"),
            )
        ).id,
    )
    assert refused.status == pb.EVALUATION_STATUS_SUCCEEDED
    assert not refused.gate_outcome.passed and not refused.gate_outcome.promoted
    assert refused.gate_outcome.message == "gate failed: 6 questions, the gate needs at least 10"
    assert "staging" not in registry.GetModel(rpb.GetModelRequest(name=model)).aliases
    # Nothing to compare when the alias already points at the candidate.
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateEvaluation(
            pb.CreateEvaluationRequest(
                tenant="acme", gate=pb.EvaluationGate(model=model, version=done.result.version)
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details() == f"gate.alias: production already points at {done.result.ref}"


def test_evaluation_requests_are_checked_before_anything_is_queued(
    training: dict[str, Any], facts_dataset: ipb.DatasetVersion
) -> None:
    stub = training["stub"]
    ref = pb.DatasetRef(dataset_id=facts_dataset.dataset_id, version=facts_dataset.version)
    cases = [
        (pb.CreateEvaluationRequest(tenant="acme", models=["no-such-model"], dataset=ref), "models[0]"),
        (pb.CreateEvaluationRequest(tenant="acme", models=[BASE]), "dataset"),
        (pb.CreateEvaluationRequest(tenant="acme", models=[BASE], dataset=ref, split="test"), "split"),
        (pb.CreateEvaluationRequest(tenant="acme", models=[BASE], dataset=ref, limit=5000), "limit"),
        (
            pb.CreateEvaluationRequest(
                tenant="acme", gate=pb.EvaluationGate(model="m", version=1, metric="bleu")
            ),
            "gate.metric",
        ),
        (
            pb.CreateEvaluationRequest(tenant="acme", gate=pb.EvaluationGate(model="m", version=1, margin=2)),
            "gate.margin",
        ),
        (
            pb.CreateEvaluationRequest(tenant="acme", gate=pb.EvaluationGate(model="m", version=0)),
            "gate.version",
        ),
        (
            pb.CreateEvaluationRequest(tenant="acme", gate=pb.EvaluationGate(model="nope", version=1)),
            "gate.version",
        ),
    ]
    for req, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateEvaluation(req)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.value.details())
        assert err.value.details().startswith(f"{field}:"), (field, err.value.details())
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateEvaluation(pb.CreateEvaluationRequest(tenant="acme", models=["nope"], dataset=ref))
    assert err.value.details() == (
        f"models[0]: unknown model 'nope'; a base model ({BASE}) or a registry model of yours"
    )
    # Another tenant's dataset does not exist for this one.
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateEvaluation(pb.CreateEvaluationRequest(tenant="other", models=[BASE], dataset=ref))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and err.value.details().startswith("dataset:")
    with pytest.raises(grpc.RpcError) as err:
        stub.GetEvaluation(pb.GetEvaluationRequest(evaluation_id="eval_missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
