"""``/v1/datasets``: recipes over documents, built into immutable versions by the ingestion
service's workers, and ``/v1/dataset_operations`` to follow or cancel a build (training scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from keel_gateway.dataset_schemas import BuildSpec, CreateDatasetRequest
from keel_gateway.errors import ApiError
from keel_gateway.http_api.deps import IngestionDep, TrainingKey, actor

router = APIRouter(tags=["datasets"])


def _version(value: str, param: str = "version") -> int:
    """A version number, or "latest" (the newest READY one)."""
    if value == "latest":
        return 0
    if not value.isdigit() or int(value) < 1:
        raise ApiError(
            400, f"{param} must be a version number or 'latest'.", param=param, code="invalid_value"
        )
    return int(value)


@router.post("/v1/datasets")
async def create_dataset(req: CreateDatasetRequest, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    """Creates the dataset and starts building version 1; returns the build's operation."""
    return await ing.create_dataset(key.tenant, actor(key), req)


@router.get("/v1/datasets")
async def list_datasets(
    key: TrainingKey,
    ing: IngestionDep,
    after: str | None = None,
    limit: int | None = None,
    query: str | None = None,
) -> dict[str, Any]:
    return await ing.list_datasets(key.tenant, after, limit, query)


@router.get("/v1/datasets/{dataset_id}")
async def get_dataset(dataset_id: str, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    return await ing.get_dataset(key.tenant, dataset_id)


@router.post("/v1/datasets/{dataset_id}/versions")
async def create_version(
    dataset_id: str, req: BuildSpec, key: TrainingKey, ing: IngestionDep
) -> dict[str, Any]:
    """Starts building the next version (or returns the existing one with the same fingerprint)."""
    return await ing.create_version(key.tenant, actor(key), dataset_id, req)


@router.get("/v1/datasets/{dataset_id}/versions")
async def list_versions(
    dataset_id: str, key: TrainingKey, ing: IngestionDep, limit: int | None = None
) -> dict[str, Any]:
    return await ing.list_versions(key.tenant, dataset_id, limit)


@router.get("/v1/datasets/{dataset_id}/versions/{version}")
async def get_version(dataset_id: str, version: str, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    return await ing.get_version(key.tenant, dataset_id, _version(version))


@router.get("/v1/datasets/{dataset_id}/versions/{version}/examples")
async def preview(
    dataset_id: str,
    version: str,
    key: TrainingKey,
    ing: IngestionDep,
    split: str = "train",
    limit: int = Query(5, ge=1, le=100),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Examples with their source: document, file name, page and characters."""
    return await ing.preview(key.tenant, dataset_id, _version(version), split, limit, offset)


@router.get("/v1/datasets/{dataset_id}/diff")
async def diff(
    dataset_id: str,
    key: TrainingKey,
    ing: IngestionDep,
    from_: str = Query(..., alias="from"),
    to: str = "latest",
) -> dict[str, Any]:
    return await ing.diff(key.tenant, dataset_id, _version(from_, "from"), _version(to, "to"))


@router.get("/v1/dataset_operations/{operation_id}")
async def get_operation(
    operation_id: str, key: TrainingKey, ing: IngestionDep, events: bool = False
) -> dict[str, Any]:
    return await ing.get_operation(key.tenant, operation_id, events)


@router.post("/v1/dataset_operations/{operation_id}/cancel")
async def cancel_operation(operation_id: str, key: TrainingKey, ing: IngestionDep) -> dict[str, Any]:
    return await ing.cancel_operation(key.tenant, actor(key), operation_id)
