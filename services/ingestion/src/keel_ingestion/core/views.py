"""Plain views of ingestion's rows, what the core returns and the transports render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keel_common.sql import as_utc
from keel_ingestion.db import Dataset, DatasetVersion, Operation

# Version and operation states
BUILDING, READY, FAILED = "BUILDING", "READY", "FAILED"
PENDING, RUNNING, SUCCEEDED, CANCELLED = "PENDING", "RUNNING", "SUCCEEDED", "CANCELLED"
FINISHED = (SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True)
class DatasetView:
    id: str
    tenant: str
    name: str
    description: str
    creator: str
    latest_version: int
    latest_ready_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class VersionView:
    dataset_id: str
    version: int
    status: str
    status_message: str
    format: str
    recipe: dict[str, Any]
    document_ids: list[str]
    fingerprint: str
    manifest: dict[str, Any]
    operation_id: str
    creator: str
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.dataset_id}@{self.version}"

    def file(self, split: str) -> dict[str, Any]:
        """A file in the manifest ("train", "validation": Parquet; "train.jsonl", …: JSONL):
        uri, sha256, size_bytes, examples."""
        files: dict[str, dict[str, Any]] = self.manifest.get("files", {})
        return files.get(split, {})


@dataclass(frozen=True)
class OperationView:
    id: str
    kind: str
    tenant: str
    dataset_id: str
    dataset_version: int
    status: str
    stage: str
    done: int
    total: int
    fraction: float
    error: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    # the version it built (or found already built), once SUCCEEDED
    result: VersionView | None = None
    events: list[tuple[datetime, str, str]] = field(default_factory=list)


def dataset_view(row: Dataset, latest_ready: int) -> DatasetView:
    return DatasetView(
        row.id, row.tenant, row.name, row.description, row.creator, row.latest_version, latest_ready,
        as_utc(row.created_at), as_utc(row.updated_at),
    )  # fmt: skip


def version_view(row: DatasetVersion) -> VersionView:
    return VersionView(
        row.dataset_id, row.version, row.status, row.status_message, row.format, dict(row.recipe),
        list(row.document_ids), row.fingerprint, dict(row.manifest or {}), row.operation_id, row.creator,
        as_utc(row.created_at), as_utc(row.updated_at),
    )  # fmt: skip


def operation_view(row: Operation, result: VersionView | None = None) -> OperationView:
    return OperationView(
        row.id, row.kind, row.tenant, row.dataset_id, row.dataset_version, row.status, row.stage, row.done,
        row.total, row.fraction, row.error, as_utc(row.created_at), as_utc(row.updated_at),
        as_utc(row.finished_at) if row.finished_at else None, result,
    )  # fmt: skip
