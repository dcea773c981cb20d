"""The Ray Serve application: an ``LLMEngine`` deployment behind an ``InferenceFront``.

``LLMEngine`` replicas each own an ``InferenceCore`` (model, continuous-batching engine,
adapters). Adapters are Serve-multiplexed models: a request for adapter ``ref`` is routed to a
replica that has it when one does, loaded on first use otherwise, and evicted LRU beyond
``max_adapters`` per replica. With ``tensor_parallel_size = N`` a replica reserves a
STRICT_PACK placement group of N bundles and its N tensor-parallel ranks run in them.

``InferenceFront`` runs Keel's standard gRPC server (health, reflection, request ids, error
mapping, metrics) inside the Ray cluster and calls the engine through its handle. It is pinned
to nodes that carry the ``keel_grpc_front`` resource (the head in the chart) so its port is
well known.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from keel_common.errors import NotFound
from keel_common.grpc import GrpcService
from keel_common.logging import configure_logging
from keel_inference.config import InferenceSettings
from keel_inference.core import InferenceCore
from keel_inference.engine import Event
from keel_inference.values import AdapterInfo, AdapterInput, EngineInfo, GenerateInput, Message

log = logging.getLogger(__name__)

FRONT_RESOURCE = "keel_grpc_front"


class _AdapterSlot:
    """What Serve's multiplex cache holds per adapter; unloading it on eviction."""

    def __init__(self, core: InferenceCore, ref: str) -> None:
        self.core = core
        self.ref = ref
        self.released = False

    def __del__(self) -> None:
        # Serve calls this on eviction (in a thread); the garbage collector may call it again.
        if self.released:
            return
        self.released = True
        info = self.core.adapter(self.ref)
        if info is not None and not info.pinned:
            self.core.unload_adapter(self.ref, evicted=True)


class EngineDeployment:
    """Body of the ``LLMEngine`` deployment (made a Serve deployment in ``build_app``)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = InferenceSettings(**settings)
        configure_logging("inference", self.settings.log_level, self.settings.log_json)
        placement = None
        if self.settings.tensor_parallel_size > 1:
            from ray.util import get_current_placement_group

            placement = get_current_placement_group()
        self.core = InferenceCore(self.settings, placement=placement)
        self._pending: dict[str, AdapterInput] = {}

    def __del__(self) -> None:
        core = getattr(self, "core", None)
        if core is not None:
            core.close()

    async def check_health(self) -> None:
        self.core.health()

    # Replaced per instance in build_app by a @serve.multiplexed wrapper sized from settings.
    async def get_adapter(self, ref: str) -> _AdapterSlot:
        return await self._load(ref)

    async def _load(self, ref: str) -> _AdapterSlot:
        adapter = self._pending.get(ref) or AdapterInput(ref)
        await asyncio.to_thread(self.core.load_adapter, adapter)
        return _AdapterSlot(self.core, ref)

    async def _adapter(self, adapter: AdapterInput | None) -> str | None:
        if adapter is None:
            return None
        self._pending[adapter.ref] = adapter
        try:
            await self.get_adapter(adapter.ref)
        finally:
            self._pending.pop(adapter.ref, None)
        # A newer artifact for the same ref (e.g. a re-upload) replaces the loaded one.
        if not self.core.is_current(adapter):
            await asyncio.to_thread(self.core.load_adapter, adapter)
        return self.core.adapter_for(adapter.ref)

    async def generate(self, inp: GenerateInput) -> AsyncIterator[Event]:
        name = await self._adapter(inp.adapter)
        async for event in self.core.generate(inp, name):
            yield event

    async def count_tokens(
        self, model: str, messages: list[Message] | None, prompt: str | None
    ) -> tuple[list[int], int]:
        return self.core.count_tokens(model, messages, prompt)

    async def apply_chat_template(
        self, model: str, messages: list[Message], add_generation_prompt: bool
    ) -> tuple[str, int]:
        return self.core.apply_chat_template(model, messages, add_generation_prompt)

    async def load_adapter(self, model: str, adapter: AdapterInput, pin: bool) -> tuple[AdapterInfo, bool]:
        self.core.check_model(model)
        already = self.core.is_current(adapter)
        await self._adapter(adapter)
        info, _ = await asyncio.to_thread(self.core.load_adapter, adapter, pin)
        return info, already

    async def unload_adapter(self, model: str, ref: str) -> bool:
        self.core.check_model(model)
        return self.core.unload_adapter(ref)

    async def info(self) -> EngineInfo:
        return self.core.info()

    async def stats(self) -> dict[str, Any]:
        return self.core.stats()


class ServeEngineClient:
    """``EngineClient`` over the engine deployment's handle (called from gRPC threads). Calls
    about one adapter are routed, like its requests, to a replica that has it loaded."""

    def __init__(self, handle: DeploymentHandle[Any], timeout_s: float = 600) -> None:
        self.handle = handle
        self.timeout_s = timeout_s

    def _for(self, adapter_ref: str) -> DeploymentHandle[Any]:
        return self.handle.options(multiplexed_model_id=adapter_ref) if adapter_ref else self.handle

    def stream(self, inp: GenerateInput) -> Iterator[Event]:
        ref = inp.adapter.ref if inp.adapter else ""
        h = self.handle.options(stream=True, multiplexed_model_id=ref)
        gen: Any = h.generate.remote(inp)
        return gen  # type: ignore[no-any-return]

    def count_tokens(
        self, model: str, messages: list[Message] | None, prompt: str | None
    ) -> tuple[list[int], int]:
        result: tuple[list[int], int] = self.handle.count_tokens.remote(model, messages, prompt).result(
            timeout_s=self.timeout_s
        )
        return result

    def apply_chat_template(
        self, model: str, messages: list[Message], add_generation_prompt: bool
    ) -> tuple[str, int]:
        response = self.handle.apply_chat_template.remote(model, messages, add_generation_prompt)
        result: tuple[str, int] = response.result(timeout_s=self.timeout_s)
        return result

    def info(self) -> EngineInfo:
        result: EngineInfo = self.handle.info.remote().result(timeout_s=self.timeout_s)
        return result

    def load_adapter(self, model: str, adapter: AdapterInput, pin: bool) -> tuple[AdapterInfo, bool]:
        response = self._for(adapter.ref).load_adapter.remote(model, adapter, pin)
        result: tuple[AdapterInfo, bool] = response.result(timeout_s=self.timeout_s)
        return result

    def unload_adapter(self, model: str, ref: str) -> bool:
        result: bool = self._for(ref).unload_adapter.remote(model, ref).result(timeout_s=self.timeout_s)
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.handle.stats.remote().result(timeout_s=self.timeout_s)
        return result


class FrontDeployment:
    """Body of the ``InferenceFront`` deployment: Keel's gRPC server on the engine handle."""

    def __init__(self, engine: DeploymentHandle[Any], settings: dict[str, Any]) -> None:
        from keel.inference.v1 import inference_pb2_grpc as pb_grpc
        from keel_inference.grpc_api import SERVICE_NAME, InferenceServicer
        from keel_inference.metrics import front_metrics

        self.settings = InferenceSettings(**settings)
        configure_logging("inference", self.settings.log_level, self.settings.log_json)
        self.client = ServeEngineClient(engine)
        servicer = InferenceServicer(self.client)
        self.metrics = front_metrics()
        self.service = GrpcService(
            "inference",
            self.settings,
            lambda server: pb_grpc.add_InferenceServiceServicer_to_server(servicer, server),  # type: ignore[no-untyped-call]
            [SERVICE_NAME],
            {"engine": self._check_engine},
        )
        self.service.start()

    def _check_engine(self) -> None:
        """Ready when an engine replica answers; its gauges ride along."""
        stats = self.client.stats()
        self.metrics.set_engine(stats)

    def ports(self) -> dict[str, int]:
        return {"grpc": self.service.grpc_port, "http": self.service.http_port}

    async def check_health(self) -> None:
        if self.service._stopped.is_set():
            raise RuntimeError("the gRPC front stopped")

    def __del__(self) -> None:
        service = getattr(self, "service", None)
        if service is not None:
            service.stop()


def build_app(args: dict[str, Any] | None = None) -> serve.Application:
    """Serve application builder (``import_path: keel_inference.app:build_app``). ``args``
    override the ``KEEL_INFERENCE_*`` environment, field by field."""
    settings = InferenceSettings(**(args or {}))
    # Replicas may run on other nodes with another environment: ship every field explicitly.
    raw = settings.model_dump(mode="json")
    tp = settings.tensor_parallel_size
    use_gpu = settings.device == "cuda"

    class LLMEngine(EngineDeployment):
        @serve.multiplexed(max_num_models_per_replica=settings.max_adapters)  # type: ignore[untyped-decorator]
        async def get_adapter(self, ref: str) -> _AdapterSlot:
            if not ref:
                raise NotFound("empty adapter ref", field="adapter.ref")
            return await self._load(ref)

    engine_opts: dict[str, Any] = {
        "name": "LLMEngine",
        "num_replicas": settings.num_replicas,
        "max_ongoing_requests": settings.max_batch_size + settings.max_waiting + 16,
        "health_check_period_s": 10,
        "graceful_shutdown_timeout_s": settings.shutdown_grace_s,
    }
    if tp > 1:
        bundle: dict[str, float] = {"CPU": settings.tp_worker_cpus}
        if use_gpu:
            bundle["GPU"] = 1
        # The replica actor itself takes nothing; its N ranks take the N bundles.
        engine_opts["ray_actor_options"] = {"num_cpus": 0}
        engine_opts["placement_group_bundles"] = [dict(bundle) for _ in range(tp)]
        engine_opts["placement_group_strategy"] = "STRICT_PACK"
    else:
        engine_opts["ray_actor_options"] = {"num_cpus": 1, "num_gpus": 1 if use_gpu else 0}
    deployment: Any = serve.deployment
    engine = deployment(LLMEngine, **engine_opts).bind(raw)
    front = deployment(
        FrontDeployment,
        name="InferenceFront",
        num_replicas=1,
        max_ongoing_requests=1024,
        ray_actor_options={"num_cpus": 0, "resources": {FRONT_RESOURCE: 1}},
        graceful_shutdown_timeout_s=settings.shutdown_grace_s,
    ).bind(engine, raw)
    return front  # type: ignore[no-any-return]
