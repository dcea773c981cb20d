"""The training service's RPCs as the gateway calls them, typed: the generated gRPC stub is
untyped, so calls on it would return ``Any``. ``TrainingServiceStub(channel)`` satisfies this."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Protocol

from keel.training.v1 import training_pb2 as pb

Metadata = Sequence[tuple[str, str]]


class StreamCall(Protocol):
    """A server-streaming call in flight: iterate it; ``cancel()`` ends it early."""

    def __aiter__(self) -> AsyncIterator[pb.JobEvent]: ...
    def cancel(self) -> bool: ...


class TrainingStub(Protocol):
    def CreateJob(
        self, request: pb.CreateJobRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Job]: ...
    def GetJob(
        self, request: pb.GetJobRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Job]: ...
    def ListJobs(
        self, request: pb.ListJobsRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.ListJobsResponse]: ...
    def CancelJob(
        self, request: pb.CancelJobRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Job]: ...
    def ResumeJob(
        self, request: pb.ResumeJobRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Job]: ...
    def WatchJob(self, request: pb.WatchJobRequest, *, metadata: Metadata = ()) -> StreamCall: ...
    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.ListCheckpointsResponse]: ...
    def ListJobEvents(
        self, request: pb.ListJobEventsRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.ListJobEventsResponse]: ...
    def UploadFile(
        self, request: pb.UploadFileRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.File]: ...
    def GetFile(
        self, request: pb.GetFileRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.File]: ...
    def ListFiles(
        self, request: pb.ListFilesRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.ListFilesResponse]: ...
    def DeleteFile(
        self, request: pb.DeleteFileRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.File]: ...
    def CreateEvaluation(
        self, request: pb.CreateEvaluationRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Evaluation]: ...
    def GetEvaluation(
        self, request: pb.GetEvaluationRequest, *, timeout: float, metadata: Metadata = ()
    ) -> Awaitable[pb.Evaluation]: ...
