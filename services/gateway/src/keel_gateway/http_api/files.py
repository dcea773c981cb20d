"""``/v1/files``: fine-tuning data files (the training scope), stored by the training service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, UploadFile

from keel_gateway.http_api.deps import FineTuningDep, TrainingKey, actor

router = APIRouter(tags=["fine-tuning"])


@router.post("/v1/files")
async def upload_file(
    key: TrainingKey,
    ft: FineTuningDep,
    file: UploadFile = File(...),
    purpose: str = Form(...),
) -> dict[str, Any]:
    content = await file.read()
    return await ft.upload_file(key.tenant, actor(key), file.filename or "upload.jsonl", purpose, content)


@router.get("/v1/files")
async def list_files(
    key: TrainingKey,
    ft: FineTuningDep,
    purpose: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    return await ft.list_files(key.tenant, purpose, after, limit)


@router.get("/v1/files/{file_id}")
async def get_file(
    file_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
) -> dict[str, Any]:
    return await ft.get_file(key.tenant, file_id)


@router.delete("/v1/files/{file_id}")
async def delete_file(
    file_id: str,
    key: TrainingKey,
    ft: FineTuningDep,
) -> dict[str, Any]:
    return await ft.delete_file(key.tenant, file_id)
