"""Evaluations by generation and eval-gated promotion over the training service's gRPC API, in
Keel's JSON shapes.

An evaluation runs on a training worker; the client polls it. The gateway owns the tenant
boundary: an evaluation is fetched and checked against the caller's tenant before it is shown,
and another tenant's looks missing. A gated promotion first checks, as an ungated one does, that
the model is the tenant's and the version a ready one of it, then queues the evaluation that
moves the alias when the candidate scores at least as well as what the alias serves now. The
questions' location in the artifact store (``questions_uri``) is never shown."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TypeVar

import grpc

from keel.training.v1 import training_pb2 as pb
from keel_common.contract import ACTOR_HEADER
from keel_common.protoenum import enum_name
from keel_gateway.errors import ApiError, from_grpc
from keel_gateway.evaluation_schemas import (
    CreateEvaluationRequest,
    Evaluation,
    EvaluationAnswer,
    EvaluationResult,
    Gate,
    GateOutcome,
)
from keel_gateway.registry import Registry
from keel_gateway.registry_schemas import PromoteRequest, Promotion
from keel_gateway.training_stub import Metadata, TrainingStub

T = TypeVar("T")
MAX_MODELS = 64  # what the request body accepts; the training service allows fewer
DATASET_REF = re.compile(r"^(ds_[0-9a-z]+)(?:@(\d+))?$")
# The training service's field names → the evaluation request's.
EVALUATION_PARAMS = {
    "models": "models",
    **{f"models[{i}]": f"models[{i}]" for i in range(MAX_MODELS)},
    "dataset": "dataset",
    "split": "split",
    "limit": "limit",
    "evaluation_id": "evaluation_id",
}
# … and → the gated promotion's (``POST /v1/registry/models/{model}/promote``).
PROMOTION_PARAMS = {
    "gate.model": "model",
    "gate.version": "version",
    "gate.alias": "alias",
    **{f"gate.{name}": f"gate.{name}" for name in ("metric", "margin", "min_examples")},
    "dataset": "gate.dataset",
    "split": "gate.split",
    "limit": "gate.limit",
}


def dataset_ref(value: str, param: str) -> pb.DatasetRef:
    """``ds_…@N`` (``ds_…`` alone: its latest READY version, pinned by the training service)."""
    m = DATASET_REF.match(value.strip())
    if not m or len(m.group(2) or "") > 18:
        raise ApiError(
            400,
            f"'{value}' is not a dataset version: use ds_…@N (ds_… alone: its latest ready version).",
            param=param,
            code="invalid_value",
        )
    return pb.DatasetRef(dataset_id=m.group(1), version=int(m.group(2) or 0))


def _not_found(evaluation_id: str) -> ApiError:
    return ApiError(404, f"No evaluation with id '{evaluation_id}'.", param="evaluation_id", code="not_found")


def _gate(g: pb.EvaluationGate) -> Gate:
    return Gate(
        model=g.model,
        version=g.version,
        alias=g.alias,
        metric=g.metric,
        margin=g.margin,
        min_examples=g.min_examples,
    )


def _outcome(o: pb.GateOutcome) -> GateOutcome:
    return GateOutcome(
        passed=o.passed,
        promoted=o.promoted,
        current_ref=o.current_ref or None,
        candidate_score=o.candidate_score,
        current_score=o.current_score,
        message=o.message,
    )


def _result(r: pb.EvaluationResult) -> EvaluationResult:
    return EvaluationResult(
        model=r.model,
        ref=r.ref,
        metrics=dict(sorted(r.metrics.items())),
        answers=[
            EvaluationAnswer(
                question=a.question,
                reference=a.reference,
                answer=a.answer,
                closed_book_answer=a.closed_book_answer or None,
            )
            for a in r.answers
        ],
    )


def evaluation_object(e: pb.Evaluation) -> Evaluation:
    """The tenant's view of an evaluation (everything but where its questions are stored)."""
    ds = e.dataset
    return Evaluation(
        id=e.id,
        status=enum_name(pb.EvaluationStatus, e.status).lower(),
        status_message=e.status_message,
        models=list(e.models),
        dataset=f"{ds.dataset_id}@{ds.version}" if ds.dataset_id else None,
        split=e.split,
        limit=e.limit,
        examples=e.examples,
        results=[_result(r) for r in e.results],
        gate=_gate(e.gate) if e.HasField("gate") else None,
        gate_outcome=_outcome(e.gate_outcome) if e.HasField("gate_outcome") else None,
        job_id=e.job_id or None,
        created_at=e.created_at.seconds,
        finished_at=e.finished_at.seconds if e.HasField("finished_at") else None,
    )


def _error(err: grpc.RpcError, params: dict[str, str]) -> ApiError:
    api = from_grpc(err, "training", params)
    if api.status == 404:  # a dataset version (a model the service does not know is a 400)
        api.code = "not_found"
    return api


class Evaluations:
    def __init__(self, stub: TrainingStub, registry: Registry, timeout_s: float = 60.0) -> None:
        self.stub = stub
        self.registry = registry
        self.timeout_s = timeout_s

    @staticmethod
    def _meta(actor: str) -> Metadata:
        return ((ACTOR_HEADER, actor),) if actor else ()

    @staticmethod
    async def _call(pending: Awaitable[T], params: dict[str, str]) -> T:
        try:
            return await pending
        except grpc.RpcError as err:
            raise _error(err, params) from None

    async def create(self, tenant: str, actor: str, body: CreateEvaluationRequest) -> Evaluation:
        """Queue an evaluation of ``body.models`` on the dataset version's questions."""
        req = pb.CreateEvaluationRequest(
            tenant=tenant,
            creator=actor,
            models=body.models,
            dataset=dataset_ref(body.dataset, "dataset"),
            split=body.split or "",
            limit=body.limit or 0,
        )
        call = self.stub.CreateEvaluation(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return evaluation_object(await self._call(call, EVALUATION_PARAMS))

    async def get(self, tenant: str, evaluation_id: str) -> Evaluation:
        """The evaluation when it is the tenant's; a missing one and another tenant's are one 404."""
        req = pb.GetEvaluationRequest(evaluation_id=evaluation_id)
        try:
            ev = await self.stub.GetEvaluation(req, timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise _not_found(evaluation_id) from None
            raise _error(err, EVALUATION_PARAMS) from None
        if not tenant or ev.tenant != tenant:
            raise _not_found(evaluation_id)
        return evaluation_object(ev)

    async def promote(self, tenant: str, actor: str, name: str, body: PromoteRequest) -> Promotion:
        """Queue the evaluation that moves ``body.alias`` to ``body.version`` if the gate passes.
        Nothing moves now (``moved`` is false): the evaluation says what became of it."""
        gate = body.gate
        if gate is None:
            return await self.registry.promote(tenant, actor, name, body)
        if body.reason:  # the alias history records the gate's scores instead
            raise ApiError(
                400,
                "A gated promotion records the gate's scores as its reason; leave out 'reason'.",
                param="reason",
                code="invalid_value",
            )
        model = await self.registry.ready_version(tenant, name, body.version)
        req = pb.CreateEvaluationRequest(
            tenant=tenant,
            creator=actor,
            gate=pb.EvaluationGate(
                model=name,
                version=body.version,
                alias=body.alias,
                metric=gate.metric or "",
                margin=gate.margin or 0.0,
                min_examples=gate.min_examples or 0,
            ),
            split=gate.split or "",
            limit=gate.limit or 0,
        )
        if gate.dataset:
            req.dataset.CopyFrom(dataset_ref(gate.dataset, "gate.dataset"))
        call = self.stub.CreateEvaluation(req, timeout=self.timeout_s, metadata=self._meta(actor))
        ev = evaluation_object(await self._call(call, PROMOTION_PARAMS))
        g = ev.gate
        alias, metric = (g.alias, g.metric) if g else (body.alias, "")
        rule = f"{metric} at least {alias}'s + {g.margin:g} on {g.min_examples}+ questions" if g else ""
        return Promotion(
            model=name,
            alias=alias,
            version=body.version,
            previous_version=model.aliases.get(alias) or None,
            moved=False,
            reason=f"through the gate ({rule}) of evaluation {ev.id} on {ev.dataset} ({ev.split})",
            updated_by=actor,
            updated_at=ev.created_at,
            evaluation=ev,
        )
