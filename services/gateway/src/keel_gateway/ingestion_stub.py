"""The ingestion service's RPCs as the gateway calls them, typed: the generated gRPC stub is
untyped. ``IngestionServiceStub(channel)`` satisfies this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Protocol

from keel.ingestion.v1 import ingestion_pb2 as pb

Metadata = Sequence[tuple[str, str]]


class UploadCall(Protocol):
    def __call__(
        self, requests: AsyncIterator[pb.UploadDocumentRequest], *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.UploadDocumentResponse]: ...


class IngestionStub(Protocol):
    UploadDocument: UploadCall

    def GetDocument(self, request: pb.GetDocumentRequest, *, timeout: float) -> Awaitable[pb.Document]: ...
    def ListDocuments(
        self, request: pb.ListDocumentsRequest, *, timeout: float
    ) -> Awaitable[pb.ListDocumentsResponse]: ...
    def DeleteDocument(
        self, request: pb.DeleteDocumentRequest, *, timeout: float
    ) -> Awaitable[pb.Document]: ...
    def CreateDataset(
        self, request: pb.CreateDatasetRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Operation]: ...
    def CreateDatasetVersion(
        self, request: pb.CreateDatasetVersionRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Operation]: ...
    def GetDataset(self, request: pb.GetDatasetRequest, *, timeout: float) -> Awaitable[pb.Dataset]: ...
    def ListDatasets(
        self, request: pb.ListDatasetsRequest, *, timeout: float
    ) -> Awaitable[pb.ListDatasetsResponse]: ...
    def ListDatasetVersions(
        self, request: pb.ListDatasetVersionsRequest, *, timeout: float
    ) -> Awaitable[pb.ListDatasetVersionsResponse]: ...
    def GetDatasetVersion(
        self, request: pb.GetDatasetVersionRequest, *, timeout: float
    ) -> Awaitable[pb.DatasetVersion]: ...
    def PreviewDatasetVersion(
        self, request: pb.PreviewDatasetVersionRequest, *, timeout: float
    ) -> Awaitable[pb.PreviewDatasetVersionResponse]: ...
    def DiffDatasetVersions(
        self, request: pb.DiffDatasetVersionsRequest, *, timeout: float
    ) -> Awaitable[pb.DiffDatasetVersionsResponse]: ...
    def GetOperation(self, request: pb.GetOperationRequest, *, timeout: float) -> Awaitable[pb.Operation]: ...
    def CancelOperation(
        self, request: pb.CancelOperationRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Operation]: ...
