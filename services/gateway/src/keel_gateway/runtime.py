"""What one gateway process runs on: its Redis client, gRPC channels, the core objects and their
background tasks, built when the app starts and closed when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from keel.feedback.v1 import feedback_pb2_grpc as fgrpc
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel.ingestion.v1 import ingestion_pb2_grpc as ingrpc
from keel.registry.v1 import registry_pb2_grpc as rgrpc
from keel.training.v1 import training_pb2_grpc as tgrpc
from keel_common.grpc.client import aio_channel
from keel_gateway import metrics as m
from keel_gateway.config import GatewaySettings
from keel_gateway.core import Gateway
from keel_gateway.evaluations import Evaluations
from keel_gateway.feedback import Feedback
from keel_gateway.finetuning import FineTuning
from keel_gateway.guardrails.pipeline import Guard
from keel_gateway.guardrails.policy import Policy
from keel_gateway.guardrails.semantic import Embedder
from keel_gateway.ingestion import Ingestion
from keel_gateway.interactions import InteractionLog
from keel_gateway.keys import KeyStore
from keel_gateway.ratelimit import RateLimiter
from keel_gateway.registry import Registry
from keel_gateway.routing import Router


@dataclass
class Runtime:
    gateway: Gateway
    finetuning: FineTuning
    ingestion: Ingestion
    feedback: Feedback
    redis: aioredis.Redis
    inference_channel: grpc.aio.Channel
    registry: Registry
    evaluations: Evaluations


@contextlib.asynccontextmanager
async def running(
    settings: GatewaySettings, policy: Policy, embedder: Embedder | None = None
) -> AsyncIterator[Runtime]:
    """Build everything, start the listeners and the interaction writer; on exit drain the log
    and close what was opened. An ``embedder`` passed in is shared and left open."""
    emb = embedder
    if emb is None and settings.semantic_rails:
        emb = await asyncio.to_thread(Embedder, settings.embed_threads, settings.embed_max_batch)
    # One quick attempt: with Redis down, the paths that go on without it (cached keys, rate
    # limits failing open, the buffered log) must not wait through redis-py's retry backoff.
    client = aioredis.Redis.from_url(
        settings.redis_url or "redis://127.0.0.1:6379/0",
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    reg_ch, inf_ch = aio_channel(settings.registry_target), aio_channel(settings.inference_target)
    train_ch = aio_channel(settings.training_target)
    ingest_ch = aio_channel(settings.ingestion_target)
    feedback_ch = aio_channel(settings.feedback_target)
    inference = igrpc.InferenceServiceStub(inf_ch)  # type: ignore[no-untyped-call]
    registry = rgrpc.RegistryServiceStub(reg_ch)  # type: ignore[no-untyped-call]
    keys = KeyStore(client, settings.pepper_bytes(), settings.key_cache_ttl_s, settings.key_cache_stale_s)
    router = Router(registry, inference, settings.route_cache_ttl_s)
    log = InteractionLog(
        client,
        settings.interactions_stream,
        settings.interactions_maxlen,
        settings.interactions_buffer,
        settings.interactions_batch,
        m.INTERACTIONS_DROPPED,
        m.INTERACTIONS_WRITTEN,
        m.INTERACTIONS_BUFFERED,
    )
    gateway = Gateway(settings, keys, RateLimiter(client), router, Guard(policy, emb), inference, log)
    training = tgrpc.TrainingServiceStub(train_ch)  # type: ignore[no-untyped-call]
    finetuning = FineTuning(training)
    ingestion = Ingestion(ingrpc.IngestionServiceStub(ingest_ch))  # type: ignore[no-untyped-call]
    feedback = Feedback(fgrpc.FeedbackServiceStub(feedback_ch), gateway.ids)  # type: ignore[no-untyped-call]
    models = Registry(registry)  # the same channel and stub as model routing
    evaluations = Evaluations(training, models)
    tasks = [
        asyncio.create_task(keys.listen(), name="keys-listen"),
        asyncio.create_task(router.listen(client, settings.alias_channel), name="alias-listen"),
        asyncio.create_task(log.run(), name="interactions"),
    ]
    try:
        yield Runtime(gateway, finetuning, ingestion, feedback, client, inf_ch, models, evaluations)
    finally:
        await log.drain()
        await _cancel(tasks)
        for ch in (reg_ch, inf_ch, train_ch, ingest_ch, feedback_ch):
            await ch.close(grace=None)
        await client.aclose()
        if embedder is None and emb is not None:
            emb.close()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel and wait. A pub/sub listener cancelled while redis-py is still subscribing can
    swallow the cancel and wait on a reply forever, so what is still running is cancelled again."""
    pending = set(tasks)
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
