"""The feedback service's RPCs as the gateway calls them, typed: the generated gRPC stub is
untyped. ``FeedbackServiceStub(channel)`` satisfies this."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Protocol

from keel.feedback.v1 import feedback_pb2 as pb

Metadata = Sequence[tuple[str, str]]


class FeedbackStub(Protocol):
    def SubmitFeedback(
        self, request: pb.SubmitFeedbackRequest, *, timeout: float
    ) -> Awaitable[pb.SubmitFeedbackResponse]: ...
    def SubmitFeedbackBatch(
        self, request: pb.SubmitFeedbackBatchRequest, *, timeout: float
    ) -> Awaitable[pb.SubmitFeedbackBatchResponse]: ...
    def GetInteraction(
        self, request: pb.GetInteractionRequest, *, timeout: float
    ) -> Awaitable[pb.StoredInteraction]: ...
    def ListInteractions(
        self, request: pb.ListInteractionsRequest, *, timeout: float
    ) -> Awaitable[pb.ListInteractionsResponse]: ...
    def ExportDataset(
        self, request: pb.ExportDatasetRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.ExportDatasetResponse]: ...
    def GetQualityMetrics(
        self, request: pb.GetQualityMetricsRequest, *, timeout: float
    ) -> Awaitable[pb.GetQualityMetricsResponse]: ...
