"""gRPC transport for feedback: translate messages, call the core, nothing more. ``build`` also
starts the stream consumer (unless ``consume`` is off) and the quality snapshot for the gauges."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
import redis
from prometheus_client import REGISTRY

from keel.feedback.v1 import feedback_pb2 as pb
from keel.feedback.v1 import feedback_pb2_grpc as pb_grpc
from keel_common.errors import KeelError
from keel_common.grpc import GrpcService
from keel_common.grpc.metadata import actor
from keel_common.periodic import Periodic
from keel_common.redis import EmbeddedValkey, connect
from keel_common.sql import create_db_engine
from keel_feedback import metrics as m
from keel_feedback import migrate
from keel_feedback.config import FeedbackSettings
from keel_feedback.consumer import Consumer
from keel_feedback.core.filters import Filter
from keel_feedback.core.quality import quality
from keel_feedback.core.scores import Limits, Submission
from keel_feedback.core.store import Store
from keel_feedback.export_api import Exporter
from keel_feedback.protos import error_pb, feedback_pb, filter_of, quality_pb, stored_pb, submission_of

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FeedbackService"].full_name


class FeedbackServicer(pb_grpc.FeedbackServiceServicer):
    def __init__(self, store: Store, limits: Limits, exporter: Exporter) -> None:
        self.store = store
        self.limits = limits
        self.exporter = exporter

    def SubmitFeedback(
        self, request: pb.SubmitFeedbackRequest, context: grpc.ServicerContext
    ) -> pb.SubmitFeedbackResponse:
        (result,) = self._submit([request])
        if isinstance(result, KeelError):
            raise result
        return result

    def SubmitFeedbackBatch(
        self, request: pb.SubmitFeedbackBatchRequest, context: grpc.ServicerContext
    ) -> pb.SubmitFeedbackBatchResponse:
        return pb.SubmitFeedbackBatchResponse(
            results=[
                pb.SubmitFeedbackResult(error=error_pb(r))
                if isinstance(r, KeelError)
                else pb.SubmitFeedbackResult(submitted=r)
                for r in self._submit(request.submissions)
            ]
        )

    def _submit(
        self, requests: Sequence[pb.SubmitFeedbackRequest]
    ) -> list[pb.SubmitFeedbackResponse | KeelError]:
        """Each request's response or the error that refused it, from one transaction."""
        m.SUBMIT_BATCH.observe(len(requests))
        subs: list[Submission | KeelError] = []
        for r in requests:
            try:
                subs.append(submission_of(r, self.limits))
            except KeelError as exc:
                subs.append(exc)
        valid = [s for s in subs if isinstance(s, Submission)]
        stored = iter(self.store.submit_many(valid) if valid else [])
        out: list[pb.SubmitFeedbackResponse | KeelError] = []
        for sub in subs:
            done = next(stored) if isinstance(sub, Submission) else sub
            kind = sub.score.kind if isinstance(sub, Submission) and sub.score else "none"
            if isinstance(done, KeelError):
                m.SUBMITTED.labels(kind, "refused").inc()
                out.append(done)
                continue
            m.SUBMITTED.labels(kind, "created" if done.created else "repeated").inc()
            out.append(
                pb.SubmitFeedbackResponse(
                    feedback=feedback_pb(done.feedback),
                    created=done.created,
                    interaction_received=done.interaction_received,
                )
            )
        return out

    def GetInteraction(
        self, request: pb.GetInteractionRequest, context: grpc.ServicerContext
    ) -> pb.StoredInteraction:
        return stored_pb(self.store.get(request.request_id, request.tenant))

    def ListInteractions(
        self, request: pb.ListInteractionsRequest, context: grpc.ServicerContext
    ) -> pb.ListInteractionsResponse:
        rows, token = self.store.list(filter_of(request.filter), request.page_size, request.page_token)
        return pb.ListInteractionsResponse(interactions=[stored_pb(r) for r in rows], next_page_token=token)

    def ExportDataset(
        self, request: pb.ExportDatasetRequest, context: grpc.ServicerContext
    ) -> pb.ExportDatasetResponse:
        return self.exporter.export(request, actor(request.creator, context))

    def GetQualityMetrics(
        self, request: pb.GetQualityMetricsRequest, context: grpc.ServicerContext
    ) -> pb.GetQualityMetricsResponse:
        rows = quality(self.store, filter_of(request.filter))
        return pb.GetQualityMetricsResponse(versions=[quality_pb(q) for q in rows])


def limits_of(settings: FeedbackSettings) -> Limits:
    return Limits(
        correction=settings.max_correction_chars,
        comment=settings.max_comment_chars,
        text=settings.max_text_chars,
        category=settings.max_category_chars,
    )


def consumer_of(settings: FeedbackSettings, store: Store, client: redis.Redis) -> Consumer:
    return Consumer(
        client,
        store,
        stream=settings.interactions_stream,
        group=settings.consumer_group,
        name=settings.consumer_name,
        batch=settings.batch,
        block_ms=settings.block_ms,
        claim_idle_s=settings.claim_idle_s,
        claim_interval_s=settings.claim_interval_s,
    )


def build(settings: FeedbackSettings) -> GrpcService:
    """Wire feedback from settings: database (migrated), Redis (the stream), gRPC, the consumer."""
    engine = create_db_engine(settings.resolved_database_url())
    if settings.migrate_on_start:
        migrate.MIGRATIONS.upgrade(engine)
    store = Store(engine)
    client, embedded = connect(settings.redis_url, Path(settings.data_dir))
    consumer = consumer_of(settings, store, client)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), name="feedback-consumer", daemon=True)

    snapshot: list[tuple[str, str, str, dict[str, float]]] = []

    def refresh() -> None:
        snapshot[:] = [
            (
                q.model,
                str(q.model_version),
                q.base_model,
                {
                    "interactions": q.interactions,
                    "rated": q.rated,
                    "thumbs_up_rate": q.thumbs_up_rate,
                    "mean_rating": q.mean_rating,
                    "correction_rate": q.correction_rate,
                    "guardrail_block_rate": q.guardrail_block_rate,
                },
            )
            for q in quality(store, Filter())
        ]

    refresher = Periodic("feedback-quality", settings.quality_refresh_s, refresh)
    collectors = [m.LagCollector(consumer.lag), m.QualityCollector(lambda: list(snapshot))]
    for c in collectors:
        REGISTRY.register(c)

    def start() -> None:
        if settings.consume:
            thread.start()
        refresher.start()

    def check_redis() -> None:
        client.ping()

    def stop_deps() -> None:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=settings.block_ms / 1000 + 5)
        refresher.stop()
        for c in collectors:
            REGISTRY.unregister(c)
        client.close()
        if isinstance(embedded, EmbeddedValkey):
            embedded.stop()
        engine.dispose()

    return GrpcService(
        "feedback",
        settings,
        lambda server: pb_grpc.add_FeedbackServiceServicer_to_server(  # type: ignore[no-untyped-call]
            FeedbackServicer(store, limits_of(settings), Exporter(store, settings.ingestion_target)), server
        ),
        [SERVICE_NAME],
        {"database": lambda: migrate.MIGRATIONS.check(engine), "redis": check_redis},
        on_stop=stop_deps,
        on_start=start,
    )
