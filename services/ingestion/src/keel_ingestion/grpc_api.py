"""gRPC transport for ingestion: translate messages, call the core, nothing more."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
from prometheus_client import REGISTRY

from keel.ingestion.v1 import ingestion_pb2 as pb
from keel.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from keel_common.artifacts import ArtifactStore
from keel_common.errors import InvalidArgument
from keel_common.grpc import GrpcService
from keel_common.grpc.metadata import actor
from keel_common.periodic import Periodic
from keel_common.protoenum import enum_name
from keel_common.redis import EmbeddedValkey, connect
from keel_common.sql import create_db_engine
from keel_ingestion import migrate
from keel_ingestion.config import IngestionSettings
from keel_ingestion.core import inspect
from keel_ingestion.core.datasets import Datasets
from keel_ingestion.core.documents import Documents
from keel_ingestion.core.imports import import_version
from keel_ingestion.core.runs import Builds
from keel_ingestion.metrics import StateCollector
from keel_ingestion.protos import (
    dataset_pb,
    document_pb,
    example_pb,
    operation_pb,
    recipe_of,
    stats_pb,
    status_name,
    version_pb,
)
from keel_ingestion.worker.celery_app import CeleryLauncher, make_celery

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["IngestionService"].full_name


class IngestionServicer(pb_grpc.IngestionServiceServicer):
    def __init__(self, documents: Documents, datasets: Datasets) -> None:
        self.docs = documents
        self.ds = datasets

    # --- documents --------------------------------------------------------------------------
    def UploadDocument(
        self, request_iterator: Iterator[pb.UploadDocumentRequest], context: grpc.ServicerContext
    ) -> pb.UploadDocumentResponse:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument("the first message must carry the header", field="header")
        h = first.header
        parts, size = [], 0
        for msg in request_iterator:
            size += len(msg.chunk)
            self.docs.check_size(size)  # stop reading an oversized upload early
            parts.append(msg.chunk)
        doc, existed = self.docs.upload(
            h.tenant, h.filename, b"".join(parts), content_type=h.content_type, sha256=h.sha256,
            metadata=dict(h.metadata), creator=actor(h.creator, context),
        )  # fmt: skip
        return pb.UploadDocumentResponse(document=document_pb(doc), already_existed=existed)

    def GetDocument(self, request: pb.GetDocumentRequest, context: grpc.ServicerContext) -> pb.Document:
        return document_pb(self.docs.get(request.document_id, request.tenant))

    def ListDocuments(
        self, request: pb.ListDocumentsRequest, context: grpc.ServicerContext
    ) -> pb.ListDocumentsResponse:
        status = status_name(pb.DocumentStatus, request.status)
        docs, token = self.docs.list_documents(
            request.tenant, request.query, status, request.page_size, request.page_token
        )
        return pb.ListDocumentsResponse(documents=[document_pb(d) for d in docs], next_page_token=token)

    def DeleteDocument(self, request: pb.DeleteDocumentRequest, context: grpc.ServicerContext) -> pb.Document:
        return document_pb(self.docs.delete(request.document_id, request.tenant))

    # --- datasets ---------------------------------------------------------------------------
    def CreateDataset(self, request: pb.CreateDatasetRequest, context: grpc.ServicerContext) -> pb.Operation:
        op = self.ds.create(
            request.tenant, request.name, recipe_of(request.build_spec),
            list(request.build_spec.document_ids), description=request.description,
            creator=actor(request.creator, context),
        )  # fmt: skip
        return operation_pb(op)

    def CreateDatasetVersion(
        self, request: pb.CreateDatasetVersionRequest, context: grpc.ServicerContext
    ) -> pb.Operation:
        op = self.ds.create_version(
            request.dataset_id, request.tenant, recipe_of(request.build_spec),
            list(request.build_spec.document_ids), actor(request.creator, context),
        )  # fmt: skip
        return operation_pb(op)

    def GetDataset(self, request: pb.GetDatasetRequest, context: grpc.ServicerContext) -> pb.Dataset:
        return dataset_pb(self.ds.get(request.dataset_id, request.tenant))

    def ListDatasets(
        self, request: pb.ListDatasetsRequest, context: grpc.ServicerContext
    ) -> pb.ListDatasetsResponse:
        rows, token = self.ds.list_datasets(
            request.tenant, request.query, request.page_size, request.page_token
        )
        return pb.ListDatasetsResponse(datasets=[dataset_pb(d) for d in rows], next_page_token=token)

    def ListDatasetVersions(
        self, request: pb.ListDatasetVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListDatasetVersionsResponse:
        status = status_name(pb.DatasetVersionStatus, request.status)
        rows, token = self.ds.versions(
            request.dataset_id, request.tenant, status, request.page_size, request.page_token
        )
        return pb.ListDatasetVersionsResponse(versions=[version_pb(r) for r in rows], next_page_token=token)

    def GetDatasetVersion(
        self, request: pb.GetDatasetVersionRequest, context: grpc.ServicerContext
    ) -> pb.DatasetVersion:
        return version_pb(self.ds.version(request.dataset_id, request.version, request.tenant))

    def PreviewDatasetVersion(
        self, request: pb.PreviewDatasetVersionRequest, context: grpc.ServicerContext
    ) -> pb.PreviewDatasetVersionResponse:
        split = request.split or "train"
        rows, total = inspect.preview(
            self.ds, request.dataset_id, request.version, request.tenant, split, request.limit, request.offset
        )
        names = {d: self._filename(d) for d in {r["document_id"] for r in rows}}
        return pb.PreviewDatasetVersionResponse(
            examples=[example_pb(r, names[r["document_id"]], split) for r in rows], total=total
        )

    def _filename(self, document_id: str) -> str:
        try:
            return self.docs.get(document_id).filename
        except Exception:  # deleted since the build: the example still names its document id
            return ""

    def DiffDatasetVersions(
        self, request: pb.DiffDatasetVersionsRequest, context: grpc.ServicerContext
    ) -> pb.DiffDatasetVersionsResponse:
        d = inspect.diff(
            self.ds, request.dataset_id, request.tenant, request.from_version, request.to_version
        )
        return pb.DiffDatasetVersionsResponse(
            documents_added=d.documents_added, documents_removed=d.documents_removed,
            examples_added=d.examples_added, examples_removed=d.examples_removed,
            examples_unchanged=d.examples_unchanged, from_stats=stats_pb(d.from_counts),
            to_stats=stats_pb(d.to_counts), recipe_changes=d.recipe_changes,
        )  # fmt: skip

    def ImportDatasetVersion(
        self, request: pb.ImportDatasetVersionRequest, context: grpc.ServicerContext
    ) -> pb.DatasetVersion:
        try:
            lineage = json.loads(request.lineage_json or "{}")
        except ValueError:
            lineage = None
        if not isinstance(lineage, dict):
            raise InvalidArgument("must be a JSON object", field="lineage_json")
        files: dict[str, bytes] = {}
        for i, f in enumerate(request.files):
            if f.split in files:
                raise InvalidArgument(f"{f.split} given twice", field=f"files[{i}].split")
            files[f.split] = f.content
        fmt = enum_name(pb.OutputFormat, request.format).lower() if request.format else ""
        ver = import_version(
            self.ds, request.tenant, fmt, files, lineage, dataset_id=request.dataset_id,
            dataset_name=request.dataset_name, description=request.description,
            creator=actor(request.creator, context),
        )  # fmt: skip
        return version_pb(ver)

    # --- operations -------------------------------------------------------------------------
    def GetOperation(self, request: pb.GetOperationRequest, context: grpc.ServicerContext) -> pb.Operation:
        return operation_pb(self.ds.operation(request.operation_id, request.tenant, request.include_events))

    def CancelOperation(
        self, request: pb.CancelOperationRequest, context: grpc.ServicerContext
    ) -> pb.Operation:
        return operation_pb(self.ds.cancel(request.operation_id, request.tenant))


def build(settings: IngestionSettings) -> GrpcService:
    """Wire ingestion from settings: database (migrated), artifact store, Redis (the Celery
    broker), gRPC."""
    engine = create_db_engine(settings.resolved_database_url())
    if settings.migrate_on_start:
        migrate.MIGRATIONS.upgrade(engine)
    store = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
    client, embedded = connect(settings.redis_url, Path(settings.data_dir))
    broker_url = settings.redis_url or (embedded.url if embedded else None) or ""
    celery = make_celery(settings, broker_url)
    documents = Documents(
        engine, store, max_bytes=settings.max_document_bytes, max_text_chars=settings.max_text_chars,
        max_pages=settings.max_pages,
    )  # fmt: skip
    launcher = CeleryLauncher(celery, settings.queue)
    datasets = Datasets(engine, store, launcher)
    builds = Builds(
        engine, store, counter=_api_only, generator=_api_only, shard_documents=settings.shard_documents
    )

    def reap() -> None:
        for op_id, stage, shard in builds.lost(settings.stale_after_s):
            log.warning("build task sent again", extra={"operation": op_id, "stage": stage, "shard": shard})
            launcher.send(op_id, stage, shard)

    reaper = Periodic("ingestion-reaper", settings.reaper_interval_s, reap)
    collector = StateCollector(documents.counts, lambda: int(client.llen(settings.queue)))
    REGISTRY.register(collector)

    def check_redis() -> None:
        client.ping()

    def stop_deps() -> None:
        reaper.stop()
        REGISTRY.unregister(collector)
        client.close()
        if isinstance(embedded, EmbeddedValkey):
            embedded.stop()
        engine.dispose()

    return GrpcService(
        "ingestion",
        settings,
        lambda server: pb_grpc.add_IngestionServiceServicer_to_server(  # type: ignore[no-untyped-call]
            IngestionServicer(documents, datasets), server
        ),
        [SERVICE_NAME],
        {"database": lambda: migrate.MIGRATIONS.check(engine), "redis": check_redis, "artifacts": store.ping},
        on_stop=stop_deps,
        on_start=reaper.start,
    )


def _api_only(_: str) -> Any:
    raise RuntimeError("the API process does not run build stages; workers do")
