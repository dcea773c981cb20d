"""``/v1/feedback`` (what users say about an answer: a score, a correction, a comment) and
``/v1/interactions`` (the answers the gateway served, with their feedback, for annotators and
trainers), both over the feedback service. Rating takes the inference or the training scope;
reading conversations and quality takes the training scope."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from keel_gateway.feedback import interaction_filter
from keel_gateway.feedback_schemas import ExportRequest, FeedbackRequest
from keel_gateway.http_api.deps import FeedbackDep, RaterKey, TrainingKey, actor

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback")
async def submit_feedback(body: FeedbackRequest, key: RaterKey, fb: FeedbackDep) -> dict[str, Any]:
    """Rate or correct a completion by its `id`. Accepted before the gateway's record of the
    completion has reached the feedback service; joined when it arrives."""
    return await fb.submit(key.tenant, key.id, body)


@router.get("/v1/interactions")
async def list_interactions(
    key: TrainingKey,
    fb: FeedbackDep,
    model: str | None = None,
    version: int | None = None,
    base_model: str | None = None,
    rated: str | None = None,
    thumbs: str | None = None,
    verdict: str | None = None,
    since: int | None = None,
    until: int | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Newest first. `rated`: rated, unrated or corrected; `thumbs`: up or down; `verdict`:
    blocked, flagged or clean; `since`/`until`: Unix seconds."""
    f = interaction_filter(key.tenant, model, version, base_model, rated, thumbs, verdict, since, until)
    return await fb.list_interactions(f, after, limit)


@router.get("/v1/interactions/{completion_id}")
async def get_interaction(completion_id: str, key: TrainingKey, fb: FeedbackDep) -> dict[str, Any]:
    return await fb.get_interaction(key.tenant, completion_id)


@router.post("/v1/feedback/exports")
async def export_feedback(body: ExportRequest, key: TrainingKey, fb: FeedbackDep) -> dict[str, Any]:
    """The next training set from rated answers (SFT examples, DPO preference pairs in OpenAI's
    shape, or KTO rows), registered as a dataset version: train on it with
    `training_file="ds_…@N"`. `dry_run` only counts."""
    return await fb.export(key.tenant, actor(key), body)


@router.get("/v1/feedback/stats")
async def feedback_stats(
    key: TrainingKey,
    fb: FeedbackDep,
    model: str | None = None,
    version: int | None = None,
    base_model: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """Quality per model version: answers, rated, thumbs-up rate, mean rating, correction and
    guardrail block rates."""
    return await fb.quality(
        interaction_filter(key.tenant, model, version, base_model, since=since, until=until)
    )
