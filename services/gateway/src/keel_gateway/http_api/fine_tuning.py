"""``/v1/fine_tuning/jobs``: create, list, get, cancel and resume jobs, their events (a page,
or followed live as SSE) and checkpoints (the training scope)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from keel_gateway.http_api.deps import FineTuningDep, TrainingKey, actor
from keel_gateway.http_api.sse import sse_line, sse_response
from keel_gateway.schemas import CreateFineTuningJobRequest

router = APIRouter(tags=["fine-tuning"])


@router.post("/v1/fine_tuning/jobs")
async def create_job(
    req: CreateFineTuningJobRequest,
    key: TrainingKey,
    ft: FineTuningDep,
    idempotency_key: str | None = Header(None, max_length=200),
) -> dict[str, Any]:
    return await ft.create_job(key.tenant, actor(key), req, idempotency_key or "")


@router.get("/v1/fine_tuning/jobs")
async def list_jobs(
    key: TrainingKey,
    ft: FineTuningDep,
    after: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return await ft.list_jobs(key.tenant, after, limit)


@router.get("/v1/fine_tuning/jobs/{job_id}")
async def get_job(
    job_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
) -> dict[str, Any]:
    return await ft.get_job(key.tenant, job_id)


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel")
async def cancel_job(
    job_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
) -> dict[str, Any]:
    return await ft.cancel_job(key.tenant, actor(key), job_id)


@router.post("/v1/fine_tuning/jobs/{job_id}/resume")
async def resume_job(
    job_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
) -> dict[str, Any]:
    """A failed or cancelled job trains on from its newest checkpoint (same job id)."""
    return await ft.resume_job(key.tenant, actor(key), job_id)


@router.get("/v1/fine_tuning/jobs/{job_id}/events", response_model=None)
async def job_events(
    job_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
    after: str | None = None,
    limit: int | None = None,
    stream: bool = False,
) -> dict[str, Any] | StreamingResponse:
    """``stream=true`` follows the job live (SSE, oldest first from ``after``) until it ends."""
    if not stream:
        return await ft.list_events(key.tenant, job_id, after, limit)
    await ft.get_job(key.tenant, job_id)  # an unknown job is a 404, not a stream
    feed = ft.follow(key.tenant, job_id, after)

    async def events() -> AsyncIterator[str]:
        yield ": following the job\n\n"  # headers go out now; a quiet queued job may take a while
        async for ev in feed:
            yield sse_line(ev)
        yield sse_line("[DONE]")

    return sse_response(events())


@router.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
async def job_checkpoints(
    job_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
    after: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return await ft.checkpoints(key.tenant, job_id, after, limit)
