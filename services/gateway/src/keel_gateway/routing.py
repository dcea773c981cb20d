"""Model names → what inference should run.

``model`` may be a base model id (served by inference), a registry model (``name`` → its
``production`` alias, else the latest ready version; ``name@alias``; ``name/N``) or a
fine-tuned model id (``ft:…``, found through the registry version tagged with it).
Resolutions are cached; an alias event from the registry drops that model's entries at once,
and a TTL bounds what is not announced (e.g. a version archived). Base models need no registry;
while the registry is unreachable, cached routes keep serving (stale) and unknown names get 503."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rgrpc
from keel_common.errors import field_violation
from keel_gateway import metrics as m
from keel_gateway.errors import ApiError, from_grpc, model_not_found

log = logging.getLogger(__name__)

READY = rpb.VersionStatus.VERSION_STATUS_READY
# The registry's field names → the request's: every name the gateway sends it is `model`.
_REGISTRY_PARAMS = {"ref": "model", "tag": "model", "name": "model"}


@dataclass(frozen=True)
class Route:
    requested: str
    base_model: str
    # Empty for a base model.
    model: str = ""
    version: int = 0
    tenant: str = ""
    adapter: ipb.AdapterRef | None = None
    created: int = 0

    @property
    def adapter_ref(self) -> str:
        return self.adapter.ref if self.adapter is not None else ""

    @property
    def served(self) -> str:
        """What answered: "name/N" for a registry version, else the base model id."""
        return f"{self.model}/{self.version}" if self.model else self.base_model

    @property
    def policy_model(self) -> str:
        """The name a per-model guardrail policy is written for."""
        return self.model or self.base_model


@dataclass
class _Entry:
    route: Route | None  # None: known not to exist
    at: float


class Router:
    def __init__(
        self,
        registry: rgrpc.RegistryServiceStub,
        inference: igrpc.InferenceServiceStub,
        ttl_s: float = 30.0,
        base_ttl_s: float = 10.0,
        outage_retry_s: float = 1.0,
    ) -> None:
        self.registry = registry
        self.inference = inference
        self.ttl_s = ttl_s
        self.base_ttl_s = base_ttl_s
        self.outage_retry_s = outage_retry_s
        self._cache: dict[str, _Entry] = {}
        self._base: dict[str, ipb.BaseModel] = {}
        self._base_at = -1e9
        self._lock = asyncio.Lock()
        self.invalidations = 0

    # --- base models --------------------------------------------------------------------------
    async def base_models(self) -> dict[str, ipb.BaseModel]:
        if time.monotonic() - self._base_at > self.base_ttl_s:
            async with self._lock:
                if time.monotonic() - self._base_at > self.base_ttl_s:
                    try:
                        resp = await self.inference.ListModels(ipb.ListModelsRequest(), timeout=5)
                    except grpc.RpcError as err:
                        if self._base:
                            return self._base  # stale but known beats failing every request
                        raise from_grpc(err, "inference") from None
                    self._base = {m.id: m for m in resp.models}
                    self._base_at = time.monotonic()
        return self._base

    # --- resolution ---------------------------------------------------------------------------
    async def resolve(self, model: str, tenant: str) -> Route:
        if not model:
            raise ApiError(
                400, "you must provide a model parameter", param="model", code="missing_required_parameter"
            )
        bases = await self.base_models()
        if model in bases:
            return Route(requested=model, base_model=model)
        entry = self._cache.get(model)
        # A miss is remembered for a second only: a fine-tuned model must work as soon as
        # its job has registered it, even if someone asked for the name before.
        ttl = self.ttl_s if entry is None or entry.route is not None else min(self.ttl_s, 1.0)
        if entry is None or time.monotonic() - entry.at > ttl:
            entry = await self._refresh(model, entry)
        route = entry.route
        # Another tenant's model is indistinguishable from a missing one.
        if route is None or route.tenant != tenant:
            raise model_not_found(model)
        if route.base_model not in bases:
            raise ApiError(
                404,
                f"The model `{model}` is built on `{route.base_model}`, "
                "which this deployment does not serve.",
                param="model",
                code="model_not_found",
            )
        return route

    async def _refresh(self, model: str, cached: _Entry | None) -> _Entry:
        """Look ``model`` up again. While the registry is unreachable a route known before keeps
        serving (stale beats failing, as Kubernetes keeps a Service's last endpoints); the
        registry is asked again after ``outage_retry_s``. Unknown names fail with a 503."""
        try:
            entry = _Entry(await self._lookup(model), time.monotonic())
        except ApiError as err:
            if err.status not in (503, 504) or cached is None or cached.route is None:
                raise
            log.warning("registry unreachable; routing %s by its cached route", model)
            m.STALE_ROUTES.inc()
            entry = _Entry(cached.route, time.monotonic() - self.ttl_s + self.outage_retry_s)
        self._cache[model] = entry
        return entry

    async def _lookup(self, model: str) -> Route | None:
        try:
            if model.startswith("ft:"):
                resp = await self.registry.ListVersions(
                    rpb.ListVersionsRequest(tag=model, page_size=2), timeout=5
                )
                if not resp.versions:
                    return None
                version = resp.versions[0]
            else:
                res = await self.registry.Resolve(rpb.ResolveRequest(ref=model), timeout=5)
                version = res.version
            owner = await self.registry.GetModel(rpb.GetModelRequest(name=version.model), timeout=5)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violation(err) is not None:
                # A malformed name: the registry says what is wrong with it, about `model`.
                raise from_grpc(err, "registry", _REGISTRY_PARAMS) from None
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise from_grpc(err, "registry") from None
        if version.status != READY:
            return None
        adapter = None
        if version.artifact_uri:
            adapter = ipb.AdapterRef(
                ref=f"{version.model}/{version.version}",
                artifact_uri=version.artifact_uri,
                artifact_sha256=version.artifact_sha256,
            )
        return Route(
            requested=model,
            base_model=version.base_model,
            model=version.model,
            version=version.version,
            tenant=owner.tenant,
            adapter=adapter,
            created=int(version.created_at.seconds),
        )

    def invalidate(self, model: str) -> None:
        """Drop every cached name of ``model`` (name, name@alias, name/N, ft: ids)."""
        for key in [
            k
            for k, e in self._cache.items()
            if k.split("@")[0].split("/")[0] == model or (e.route is not None and e.route.model == model)
        ]:
            del self._cache[key]
        self.invalidations += 1

    async def listen(self, client: aioredis.Redis, channel: str) -> None:
        """Follow the registry's alias events; reconnects, and starts clean after a gap."""
        while True:
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(channel)
                self._cache.clear()
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        event = json.loads(msg["data"])
                        self.invalidate(str(event["model"]))
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignoring a malformed alias event")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                log.warning("alias event listener lost redis; retrying")
                await asyncio.sleep(1.0)

    # --- listing ------------------------------------------------------------------------------
    async def tenant_models(self, tenant: str) -> list[rpb.Model]:
        models: list[rpb.Model] = []
        token = ""
        try:
            while True:
                resp = await self.registry.ListModels(
                    rpb.ListModelsRequest(tenant=tenant, page_size=200, page_token=token), timeout=5
                )
                models.extend(resp.models)
                token = resp.next_page_token
                if not token:
                    return models
        except grpc.RpcError as err:
            raise from_grpc(err, "registry") from None
