"""``/v1/evaluations``: evaluation by generation (the training scope). Base models and the
tenant's registry versions answer the same questions of a dataset version, scored by exact
match, token F1, embedding similarity and, for questions asked with a passage, closed book. It
runs on a training worker: create it, then poll it. Another tenant's evaluation is a 404, as a
missing one is."""

from __future__ import annotations

from fastapi import APIRouter

from keel_gateway.evaluation_schemas import CreateEvaluationRequest, Evaluation
from keel_gateway.http_api.deps import EvaluationsDep, TrainingKey, actor

router = APIRouter(tags=["evaluations"])


@router.post("/v1/evaluations")
async def create_evaluation(
    body: CreateEvaluationRequest, key: TrainingKey, evals: EvaluationsDep
) -> Evaluation:
    """Queue an evaluation of `models` (base model ids, `name`, `name@alias`, `name/N`, `ft:…`)
    on the questions of `dataset` (`ds_…@N`); poll `GET /v1/evaluations/{id}` until it has
    succeeded or failed."""
    return await evals.create(key.tenant, actor(key), body)


@router.get("/v1/evaluations/{evaluation_id}")
async def get_evaluation(evaluation_id: str, key: TrainingKey, evals: EvaluationsDep) -> Evaluation:
    """The evaluation: its status, each model's scores and a few answers, and a gate's outcome."""
    return await evals.get(key.tenant, evaluation_id)
