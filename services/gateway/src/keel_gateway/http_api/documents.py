"""``/v1/documents``: the documents datasets are built from (the training scope), stored and
extracted by the ingestion service. Uploading the same bytes twice gives the same document."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, File, Form, UploadFile

from keel_gateway.errors import ApiError
from keel_gateway.http_api.deps import IngestionDep, TrainingKey, actor

router = APIRouter(tags=["documents"])


@router.post("/v1/documents")
async def upload_document(
    key: TrainingKey,
    ing: IngestionDep,
    file: UploadFile = File(...),
    metadata: str | None = Form(None, description='a JSON object of string pairs, e.g. {"source": "wiki"}'),
) -> dict[str, Any]:
    meta: dict[str, str] = {}
    if metadata:
        try:
            meta = json.loads(metadata)
        except ValueError:
            meta = None  # type: ignore[assignment]
        if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise ApiError(
                400, "metadata must be a JSON object of strings.", param="metadata", code="invalid_value"
            )
    content = await file.read()
    return await ing.upload(
        key.tenant, actor(key), file.filename or "upload", file.content_type or "", content, meta
    )


@router.get("/v1/documents")
async def list_documents(
    key: TrainingKey,
    ing: IngestionDep,
    after: str | None = None,
    limit: int | None = None,
    query: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    return await ing.list_documents(key.tenant, after, limit, query, status)


@router.get("/v1/documents/{document_id}")
async def get_document(document_id: str, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    return await ing.get_document(key.tenant, document_id)


@router.delete("/v1/documents/{document_id}")
async def delete_document(document_id: str, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    return await ing.delete_document(key.tenant, document_id)
