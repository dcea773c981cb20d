"""Gateway test fixtures: the MiniLM embedder (loaded once per session, ~5 s), Redis clients,
and gateways on localhost over a scripted inference server.

The Redis tests run on the session's embedded Valkey (``valkey_url`` from the root conftest).
pytest-asyncio is not used: a test runs its coroutine with ``asyncio.run`` and opens its clients
inside it, since a ``redis.asyncio`` client belongs to the loop that first used it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel_client.registry import RegistryClient
from keel_gateway.config import GatewaySettings
from keel_gateway.keys import KeyStore
from keel_gateway.testing import ThreadedGateway


@pytest.fixture(scope="session")
def embedder() -> Iterator[Any]:
    from keel_gateway.guardrails.semantic import Embedder

    emb = Embedder()
    yield emb
    emb.close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def dead_redis(closed_port: int) -> Callable[[], aioredis.Redis]:
    """Makes a client for a Redis that is down. Retries are off: redis-py's default (10 retries
    with backoff) would take ~4 s to give up on each command."""

    def make() -> aioredis.Redis:
        return aioredis.Redis(
            host="127.0.0.1", port=closed_port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    return make


# --- an HTTP gateway on localhost over real Valkey and real gRPC upstreams ----------------------
#
# Inference is a scripted gRPC server on localhost, not the real Ray Serve app with SmolLM2: the
# router and golden tests need exact, repeatable text and usage (the real stack is driven by
# tests/integration/test_gateway.py). Everything else is real: Valkey, uvicorn on a socket,
# gRPC over TCP, and a real registry where a test needs one.

BASE = "smollm2-135m-instruct"  # what the scripted inference serves (DEFAULT_BASE_MODEL)
PEPPER = "gateway-unit-test-pepper"


class ScriptedInference(igrpc.InferenceServiceServicer):
    """Answers ``reply`` (split into word pieces when streamed) for the one base model, and
    remembers the requests it was sent."""

    def __init__(self) -> None:
        self.reply = "Bartholomew the walrus."
        self.requests: list[ipb.GenerateRequest] = []

    def _usage(self) -> cpb.Usage:
        return cpb.Usage(prompt_tokens=9, completion_tokens=5, total_tokens=14)

    def ListModels(self, request: ipb.ListModelsRequest, context: Any) -> ipb.ListModelsResponse:
        return ipb.ListModelsResponse(models=[ipb.BaseModel(id=BASE, ready=True)])

    def Generate(self, request: ipb.GenerateRequest, context: Any) -> ipb.GenerateResponse:
        self.requests.append(request)
        return ipb.GenerateResponse(
            request_id=request.request_id,
            text=self.reply,
            finish_reason=cpb.FINISH_REASON_STOP,
            usage=self._usage(),
            model=request.model,
            adapter_ref=request.adapter.ref,
        )

    def GenerateStream(
        self, request: ipb.GenerateRequest, context: Any
    ) -> Iterator[ipb.GenerateStreamResponse]:
        self.requests.append(request)
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            text = word if i == 0 else f" {word}"
            yield ipb.GenerateStreamResponse(
                request_id=request.request_id, delta=ipb.TokenDelta(text=text, token_ids=[i])
            )
        yield ipb.GenerateStreamResponse(
            request_id=request.request_id,
            done=ipb.GenerateDone(finish_reason=cpb.FINISH_REASON_STOP, usage=self._usage()),
        )

    def CountTokens(self, request: ipb.CountTokensRequest, context: Any) -> ipb.CountTokensResponse:
        text = request.prompt or "".join(m.content for m in request.messages.messages)
        return ipb.CountTokensResponse(token_count=len(text.encode()))


@dataclass
class Upstream:
    servicer: ScriptedInference
    target: str


@pytest.fixture(scope="session")
def inference() -> Iterator[Upstream]:
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    servicer = ScriptedInference()
    igrpc.add_InferenceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    health = HealthServicer()
    health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield Upstream(servicer, f"127.0.0.1:{port}")
    server.stop(0)


def gateway_settings(valkey_url: str, inference: str, closed: int, **over: Any) -> GatewaySettings:
    base: dict[str, Any] = {
        "http_port": 0,
        "redis_url": valkey_url,
        "key_pepper": PEPPER,
        "registry_target": f"127.0.0.1:{closed}",
        "inference_target": inference,
        "training_target": f"127.0.0.1:{closed}",
        "semantic_rails": False,
        "default_rpm": 0,
        "default_tpm": 0,
        "default_concurrency": 0,
        "max_body_bytes": 4096,
        "max_file_bytes": 8192,
    }
    return GatewaySettings(**(base | over))


@pytest.fixture
def make_gateway(
    valkey_url: str, inference: Upstream, closed_port: int
) -> Iterator[Callable[..., ThreadedGateway]]:
    """``make(**settings)``: a started gateway (stopped at teardown); upstreams it is not given
    point at a closed port."""
    started: list[ThreadedGateway] = []

    def make(**over: Any) -> ThreadedGateway:
        gw = ThreadedGateway(gateway_settings(valkey_url, inference.target, closed_port, **over)).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def new_key(valkey_url: str, tenant: str, scopes: list[str], **limits: int) -> str:
    """A key made straight in Valkey (as ``keel-gateway keys create`` does)."""

    async def create() -> str:
        client = aioredis.Redis.from_url(valkey_url)
        try:
            store = KeyStore(client, PEPPER.encode())
            _, token = await store.create(tenant, scopes, rpm=limits.get("rpm", 0), tpm=limits.get("tpm", 0))
            return token
        finally:
            await client.aclose()

    return asyncio.run(create())


@pytest.fixture
def key(valkey_url: str) -> Callable[..., str]:
    """``key(tenant, *scopes)``: a fresh API key."""
    return lambda tenant, *scopes, **limits: new_key(valkey_url, tenant, list(scopes), **limits)


@pytest.fixture
def acme_registry(registry_factory: Callable[..., Any], tmp_path: Path) -> Any:
    """A registry where tenant acme owns acme-bot: version 1 (production), version 2 (staging)."""
    reg = registry_factory(None)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with RegistryClient(f"127.0.0.1:{reg.grpc_port}", actor="test") as rc:
        rc.create_model("acme-bot", tenant="acme")
        for _ in (1, 2):
            ref = rc.upload_dir("acme-bot", adapter)
            rc.create_version("acme-bot", BASE, artifact_uri=ref.uri, artifact_sha256=ref.sha256)
        rc.set_alias("acme-bot", "production", 1)
        rc.set_alias("acme-bot", "staging", 2)
    return reg


@pytest.fixture
def settings(valkey_url: str, inference: Upstream, closed_port: int) -> Callable[..., GatewaySettings]:
    """``settings(**over)``: what ``make_gateway`` would run with."""
    return lambda **over: gateway_settings(valkey_url, inference.target, closed_port, **over)
