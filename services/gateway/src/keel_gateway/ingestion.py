"""Documents and datasets over the ingestion service's gRPC API, in Keel's JSON shapes.

The tenant boundary is the key's: every call carries the caller's tenant, and the service
answers NOT_FOUND for another tenant's document, dataset or operation.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import grpc

from keel.ingestion.v1 import ingestion_pb2 as pb
from keel_common.contract import ACTOR_HEADER
from keel_common.paging import encode_token
from keel_common.protoenum import enum_name, enum_value
from keel_gateway.dataset_schemas import BuildSpec, CreateDatasetRequest
from keel_gateway.errors import ApiError, from_grpc
from keel_gateway.ingestion_stub import IngestionStub, Metadata
from keel_gateway.listing import limit_of, page

T = TypeVar("T")
UPLOAD_CHUNK = 1024 * 1024
_STATUS: dict[str, pb.DocumentStatus] = {
    "ready": pb.DOCUMENT_STATUS_READY,
    "failed": pb.DOCUMENT_STATUS_FAILED,
}


class _Params(dict[str, str]):
    """The service's field names → the request's ("document_ids[2]" → "documents[2]")."""

    _RENAME = {
        "build_spec.document_ids": "documents", "chunking.size": "chunking.max_tokens",
        "chunking.overlap": "chunking.overlap_tokens", "dedup.threshold": "dedup.near_threshold",
        "document_id": "document_id", "dataset_id": "dataset_id", "operation_id": "operation_id",
    }  # fmt: skip

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        m = re.fullmatch(r"document_ids(\[\d+\])?", key)
        if m:
            return "documents" + (m.group(1) or "")
        return self._RENAME.get(key, key)


_PARAMS = _Params()


def _status(enum: Any, value: int) -> str:
    return enum_name(enum, value).lower() if value else "unknown"


def document_object(d: pb.Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "document",
        "filename": d.filename,
        "bytes": d.size_bytes,
        "content_type": d.content_type,
        "sha256": d.sha256,
        "pages": d.pages,
        "text_chars": d.text_chars,
        "status": _status(pb.DocumentStatus, d.status),
        "status_details": d.status_message or None,
        "created_at": d.created_at.seconds,
        "metadata": dict(d.metadata),
    }


def dataset_object(d: pb.Dataset) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "dataset",
        "name": d.name,
        "description": d.description,
        "created_at": d.created_at.seconds,
        "updated_at": d.updated_at.seconds,
        "latest_version": d.latest_version,
        "latest_ready_version": d.latest_ready_version,
    }


def version_object(v: pb.DatasetVersion) -> dict[str, Any]:
    manifest = json.loads(v.manifest_json) if v.manifest_json else {}
    return {
        "object": "dataset.version",
        "id": f"{v.dataset_id}@{v.version}",
        "dataset_id": v.dataset_id,
        "version": v.version,
        "status": _status(pb.DatasetVersionStatus, v.status),
        "status_details": v.status_message or None,
        "format": enum_name(pb.OutputFormat, v.format).lower() if v.format else "text",
        "documents": list(v.build_spec.document_ids),
        "recipe": manifest.get("recipe", {}),
        "counts": manifest.get("counts", {}),
        "files": {f.split: {"uri": f.uri, "sha256": f.sha256, "bytes": f.size_bytes, "examples": f.examples}
                  for f in v.files},
        "fingerprint": v.fingerprint,
        "code_version": manifest.get("code_version", ""),
        "inputs": manifest.get("inputs", []),
        "operation_id": v.operation_id,
        "created_at": v.created_at.seconds,
        "updated_at": v.updated_at.seconds,
    }  # fmt: skip


def operation_object(op: pb.Operation) -> dict[str, Any]:
    return {
        "object": "dataset.operation",
        "id": op.id,
        "status": _status(pb.OperationStatus, op.status),
        "stage": op.progress.stage,
        "progress": {
            "done": op.progress.done,
            "total": op.progress.total,
            "fraction": round(op.progress.fraction, 4),
        },
        "error": op.error or None,
        "dataset_id": op.dataset_id,
        "version": op.dataset_version,
        "result": version_object(op.result) if op.HasField("result") else None,
        "created_at": op.created_at.seconds,
        "finished_at": op.finished_at.seconds if op.HasField("finished_at") else None,
        "events": [{"at": e.at.seconds, "stage": e.stage, "message": e.message} for e in op.events],
    }


def example_object(e: pb.Example) -> dict[str, Any]:
    return {
        "id": e.id,
        "split": e.split,
        "source": {
            "document_id": e.document_id, "filename": e.filename, "page": e.page or None,
            "page_end": e.page_end or None, "char_start": e.char_start, "char_end": e.char_end,
            "heading": e.heading,
        },
        "text": e.text or None,
        "messages": [{"role": m.role, "content": m.content} for m in e.messages] or None,
        "quality": json.loads(e.quality_json) if e.quality_json else {},
    }  # fmt: skip


def build_spec(body: BuildSpec) -> pb.BuildSpec:
    spec = pb.BuildSpec(document_ids=body.documents, base_model=body.base_model or "")
    if body.chunking is not None:
        spec.chunking.CopyFrom(pb.Chunking(**body.chunking.model_dump(exclude_none=True)))
    if body.quality is not None:
        spec.quality.CopyFrom(pb.QualityFilters(**body.quality.model_dump(exclude_none=True)))
    if body.dedup is not None:
        spec.dedup.CopyFrom(pb.Dedup(**body.dedup.model_dump(exclude_none=True)))
    if body.pii:
        spec.pii.CopyFrom(pb.PiiPolicy(actions=body.pii))
    if body.format is not None:
        spec.format = enum_value(pb.OutputFormat, body.format)  # type: ignore[assignment]
    if body.qa_synthesis is not None:
        spec.qa_synthesis.CopyFrom(pb.QaSynthesis(**body.qa_synthesis.model_dump(exclude_none=True)))
    if body.split is not None:
        spec.split.CopyFrom(pb.Split(**body.split.model_dump(exclude_none=True)))
    return spec


class Ingestion:
    def __init__(self, stub: IngestionStub, timeout_s: float = 120.0) -> None:
        self.stub = stub
        self.timeout_s = timeout_s

    @staticmethod
    def _meta(actor: str) -> Metadata:
        return ((ACTOR_HEADER, actor),) if actor else ()

    @staticmethod
    async def _call(pending: Awaitable[T]) -> T:
        try:
            return await pending
        except grpc.RpcError as err:
            api = from_grpc(err, "ingestion", _PARAMS)
            if api.status == 404:
                api.code = "not_found"
            if err.code() == grpc.StatusCode.OUT_OF_RANGE and api.param == "file":
                api.status, api.code = 413, "request_too_large"
            raise api from None

    # --- documents ----------------------------------------------------------------------------
    async def upload(
        self,
        tenant: str,
        actor: str,
        filename: str,
        content_type: str,
        content: bytes,
        metadata: dict[str, str],
    ) -> dict[str, Any]:
        async def parts() -> AsyncIterator[pb.UploadDocumentRequest]:
            header = pb.UploadDocumentHeader(
                tenant=tenant, filename=filename, content_type=content_type, metadata=metadata, creator=actor
            )
            yield pb.UploadDocumentRequest(header=header)
            for i in range(0, len(content), UPLOAD_CHUNK):
                yield pb.UploadDocumentRequest(chunk=content[i : i + UPLOAD_CHUNK])

        resp = await self._call(
            self.stub.UploadDocument(parts(), timeout=self.timeout_s, metadata=self._meta(actor))
        )
        return {**document_object(resp.document), "already_existed": resp.already_existed}

    async def list_documents(
        self, tenant: str, after: str | None, limit: int | None, query: str | None, status: str | None
    ) -> dict[str, Any]:
        if status is not None and status not in _STATUS:
            raise ApiError(400, "status must be 'ready' or 'failed'.", param="status", code="invalid_value")
        req = pb.ListDocumentsRequest(
            tenant=tenant,
            query=query or "",
            status=_STATUS.get(status or "", pb.DOCUMENT_STATUS_UNSPECIFIED),
            page_size=limit_of(limit),
            page_token=encode_token({"id": after}) if after else "",
        )
        resp = await self._call(self.stub.ListDocuments(req, timeout=self.timeout_s))
        return page([document_object(d) for d in resp.documents], bool(resp.next_page_token))

    async def get_document(self, tenant: str, document_id: str) -> dict[str, Any]:
        req = pb.GetDocumentRequest(document_id=document_id, tenant=tenant)
        return document_object(await self._call(self.stub.GetDocument(req, timeout=self.timeout_s)))

    async def delete_document(self, tenant: str, document_id: str) -> dict[str, Any]:
        req = pb.DeleteDocumentRequest(document_id=document_id, tenant=tenant)
        d = await self._call(self.stub.DeleteDocument(req, timeout=self.timeout_s))
        return {"id": d.id, "object": "document", "deleted": True}

    # --- datasets -----------------------------------------------------------------------------
    async def create_dataset(self, tenant: str, actor: str, body: CreateDatasetRequest) -> dict[str, Any]:
        req = pb.CreateDatasetRequest(
            name=body.name, description=body.description or "", tenant=tenant, creator=actor,
            build_spec=build_spec(body),
        )  # fmt: skip
        op = await self._call(
            self.stub.CreateDataset(req, timeout=self.timeout_s, metadata=self._meta(actor))
        )
        return operation_object(op)

    async def create_version(
        self, tenant: str, actor: str, dataset_id: str, body: BuildSpec
    ) -> dict[str, Any]:
        req = pb.CreateDatasetVersionRequest(
            dataset_id=dataset_id, tenant=tenant, creator=actor, build_spec=build_spec(body)
        )
        call = self.stub.CreateDatasetVersion(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return operation_object(await self._call(call))

    async def list_datasets(
        self, tenant: str, after: str | None, limit: int | None, query: str | None
    ) -> dict[str, Any]:
        req = pb.ListDatasetsRequest(
            tenant=tenant, query=query or "", page_size=limit_of(limit),
            page_token=encode_token({"id": after}) if after else "",
        )  # fmt: skip
        resp = await self._call(self.stub.ListDatasets(req, timeout=self.timeout_s))
        return page([dataset_object(d) for d in resp.datasets], bool(resp.next_page_token))

    async def get_dataset(self, tenant: str, dataset_id: str) -> dict[str, Any]:
        req = pb.GetDatasetRequest(dataset_id=dataset_id, tenant=tenant)
        return dataset_object(await self._call(self.stub.GetDataset(req, timeout=self.timeout_s)))

    async def list_versions(self, tenant: str, dataset_id: str, limit: int | None) -> dict[str, Any]:
        req = pb.ListDatasetVersionsRequest(dataset_id=dataset_id, tenant=tenant, page_size=limit_of(limit))
        resp = await self._call(self.stub.ListDatasetVersions(req, timeout=self.timeout_s))
        return page([version_object(v) for v in resp.versions], bool(resp.next_page_token))

    async def get_version(self, tenant: str, dataset_id: str, version: int) -> dict[str, Any]:
        req = pb.GetDatasetVersionRequest(dataset_id=dataset_id, version=version, tenant=tenant)
        return version_object(await self._call(self.stub.GetDatasetVersion(req, timeout=self.timeout_s)))

    async def preview(
        self, tenant: str, dataset_id: str, version: int, split: str, limit: int, offset: int
    ) -> dict[str, Any]:
        req = pb.PreviewDatasetVersionRequest(
            dataset_id=dataset_id, version=version, tenant=tenant, split=split, limit=limit, offset=offset
        )
        resp = await self._call(self.stub.PreviewDatasetVersion(req, timeout=self.timeout_s))
        return {"object": "list", "data": [example_object(e) for e in resp.examples], "total": resp.total}

    async def diff(self, tenant: str, dataset_id: str, a: int, b: int) -> dict[str, Any]:
        req = pb.DiffDatasetVersionsRequest(
            dataset_id=dataset_id, tenant=tenant, from_version=a, to_version=b
        )
        d = await self._call(self.stub.DiffDatasetVersions(req, timeout=self.timeout_s))
        return {
            "object": "dataset.diff", "dataset_id": dataset_id, "from": a, "to": b,
            "documents_added": list(d.documents_added), "documents_removed": list(d.documents_removed),
            "examples_added": d.examples_added, "examples_removed": d.examples_removed,
            "examples_unchanged": d.examples_unchanged, "recipe_changes": list(d.recipe_changes),
            "from_counts": counts_of(d.from_stats), "to_counts": counts_of(d.to_stats),
        }  # fmt: skip

    # --- operations ---------------------------------------------------------------------------
    async def get_operation(self, tenant: str, operation_id: str, events: bool) -> dict[str, Any]:
        req = pb.GetOperationRequest(operation_id=operation_id, tenant=tenant, include_events=events)
        return operation_object(await self._call(self.stub.GetOperation(req, timeout=self.timeout_s)))

    async def cancel_operation(self, tenant: str, actor: str, operation_id: str) -> dict[str, Any]:
        req = pb.CancelOperationRequest(operation_id=operation_id, tenant=tenant)
        call = self.stub.CancelOperation(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return operation_object(await self._call(call))


def counts_of(s: pb.DatasetStats) -> dict[str, Any]:
    """Stage counts in the shape of a version's ``counts``."""
    return {
        "documents": s.documents, "chunks": s.chunks, "dropped": dict(s.dropped), "pii": dict(s.pii),
        "duplicates": {"exact": s.duplicates_exact, "near": s.duplicates_near},
        "qa_passages": s.qa_passages, "qa_proposed": s.qa_proposed, "qa_kept": s.qa_kept,
        "question_duplicates": s.question_duplicates,
        "examples": {"train": s.examples_train, "validation": s.examples_validation},
    }  # fmt: skip
