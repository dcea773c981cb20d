"""gRPC transport for the training API: translate messages, call the core, nothing more.
The process also runs the reaper that re-queues jobs whose worker died."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
from prometheus_client import REGISTRY

from keel.training.v1 import training_pb2 as pb
from keel.training.v1 import training_pb2_grpc as pb_grpc
from keel_common.artifacts import ArtifactStore
from keel_common.errors import ResourceExhausted
from keel_common.grpc import GrpcService
from keel_common.grpc.client import channel
from keel_common.grpc.metadata import actor
from keel_common.periodic import Periodic
from keel_common.redis import EmbeddedValkey, connect
from keel_training.config import QUEUES, TrainingSettings
from keel_training.core import TrainingCore
from keel_training.ingestion_client import IngestionDatasets
from keel_training.metrics import StateCollector
from keel_training.registry_client import RegistryModels
from keel_training.store import Store
from keel_training.worker.celery_app import make_celery, sender

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrainingService"].full_name


class TrainingServicer(pb_grpc.TrainingServiceServicer):
    def __init__(self, core: TrainingCore, max_watches: int = 48) -> None:
        self.c = core
        self._watches = threading.BoundedSemaphore(max_watches)

    def CreateJob(self, request: pb.CreateJobRequest, context: grpc.ServicerContext) -> pb.Job:
        if not request.creator:
            request.creator = actor("", context)
        return self.c.create_job(request)

    def GetJob(self, request: pb.GetJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return self.c.get_job(request.job_id)

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        jobs, token = self.c.list_jobs(request.tenant, request.status, request.page_size, request.page_token)
        return pb.ListJobsResponse(jobs=jobs, next_page_token=token)

    def CancelJob(self, request: pb.CancelJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return self.c.cancel_job(request.job_id, actor=actor(request.actor, context))

    def ResumeJob(self, request: pb.ResumeJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return self.c.resume_job(request.job_id)

    def WatchJob(self, request: pb.WatchJobRequest, context: grpc.ServicerContext) -> Iterator[pb.JobEvent]:
        if not self._watches.acquire(blocking=False):
            raise ResourceExhausted(
                "too many live event streams on this replica; retry, or poll ListJobEvents"
            )
        try:
            yield from self.c.watch(
                request.job_id, request.after_sequence, request.include_logs, context.is_active
            )
        finally:
            self._watches.release()

    def ListJobEvents(
        self, request: pb.ListJobEventsRequest, context: grpc.ServicerContext
    ) -> pb.ListJobEventsResponse:
        events, more = self.c.list_events(
            request.job_id,
            request.after_sequence,
            request.limit,
            request.include_logs,
            request.newest_first,
            request.before_sequence,
        )
        return pb.ListJobEventsResponse(events=events, has_more=more)

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        ckpts, token = self.c.list_checkpoints(request.job_id, request.page_size, request.page_token)
        return pb.ListCheckpointsResponse(checkpoints=ckpts, next_page_token=token)

    def UploadFile(self, request: pb.UploadFileRequest, context: grpc.ServicerContext) -> pb.File:
        return self.c.upload_file(request.tenant, request.filename, request.purpose, request.content)

    def GetFile(self, request: pb.GetFileRequest, context: grpc.ServicerContext) -> pb.File:
        return self.c.get_file(request.file_id, request.tenant)

    def ListFiles(self, request: pb.ListFilesRequest, context: grpc.ServicerContext) -> pb.ListFilesResponse:
        files, token = self.c.list_files(
            request.tenant, request.purpose, request.page_size, request.page_token
        )
        return pb.ListFilesResponse(files=files, next_page_token=token)

    def DeleteFile(self, request: pb.DeleteFileRequest, context: grpc.ServicerContext) -> pb.File:
        return self.c.delete_file(request.file_id, request.tenant)

    def CreateEvaluation(
        self, request: pb.CreateEvaluationRequest, context: grpc.ServicerContext
    ) -> pb.Evaluation:
        if not request.creator:
            request.creator = actor("", context)
        return self.c.evaluations.create(request)

    def GetEvaluation(self, request: pb.GetEvaluationRequest, context: grpc.ServicerContext) -> pb.Evaluation:
        return self.c.evaluations.get(request.evaluation_id)


def build(settings: TrainingSettings) -> GrpcService:
    """Wire the training API from settings: Redis (jobs, events, Celery broker), artifacts, gRPC."""
    client, embedded = connect(settings.redis_url, Path(settings.data_dir))
    broker_url = settings.redis_url or (embedded.url if embedded else None) or ""
    artifacts = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
    store = Store(client, settings.key_prefix, settings.events_maxlen)
    celery = make_celery(settings, broker_url)
    ingestion = channel(settings.ingestion_target) if settings.ingestion_target else None
    datasets = IngestionDatasets(ingestion) if ingestion is not None else None
    # Fine-tuned models as starting points ("ft:…", "name/N") are looked up in the registry.
    registry = channel(settings.registry_target)
    core = TrainingCore(settings, store, artifacts, sender(celery), datasets, RegistryModels(registry))

    def reap() -> None:
        for job_id in core.reap():
            log.warning("worker lost; job handled", extra={"job_id": job_id})

    reaper = Periodic("training-reaper", settings.reaper_interval_s, reap)
    collector = StateCollector(store, QUEUES)
    REGISTRY.register(collector)

    def check_redis() -> None:
        client.ping()

    def stop_deps() -> None:
        reaper.stop()
        if ingestion is not None:
            ingestion.close()
        registry.close()
        REGISTRY.unregister(collector)
        client.close()
        if isinstance(embedded, EmbeddedValkey):
            embedded.stop()

    return GrpcService(
        "training",
        settings,
        lambda server: pb_grpc.add_TrainingServiceServicer_to_server(  # type: ignore[no-untyped-call]
            TrainingServicer(core, settings.max_watches), server
        ),
        [SERVICE_NAME],
        {"redis": check_redis, "artifacts": artifacts.ping},
        on_stop=stop_deps,
        on_start=reaper.start,
    )
