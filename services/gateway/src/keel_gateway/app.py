"""The HTTP transport: FastAPI routes over ``core.Gateway``, OpenAI's JSON and SSE shapes,
errors in OpenAI's envelope, /livez, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import redis.asyncio as aioredis
from fastapi import FastAPI, File, Form, Header, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel.registry.v1 import registry_pb2_grpc as rgrpc
from keel.training.v1 import training_pb2_grpc as tgrpc
from keel_common.grpc.client import aio_channel
from keel_gateway import metrics as m
from keel_gateway.config import GatewaySettings
from keel_gateway.core import Call, Gateway
from keel_gateway.errors import ApiError
from keel_gateway.finetuning import FineTuning
from keel_gateway.guardrails.pipeline import Guard
from keel_gateway.guardrails.policy import Policy
from keel_gateway.guardrails.semantic import Embedder
from keel_gateway.interactions import InteractionLog
from keel_gateway.keys import KeyStore, check_scopes, check_tenant
from keel_gateway.ratelimit import RateLimiter
from keel_gateway.routing import Router
from keel_gateway.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    CreateFineTuningJobRequest,
    CreateKeyRequest,
)

log = logging.getLogger(__name__)


class BodyLimit:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_file_bytes: int | None = None) -> None:
        self.app = app
        self.default_bytes = max_bytes
        self.file_bytes = max_file_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # File uploads (multipart) may be larger than API bodies.
        max_bytes = self.file_bytes if scope.get("path") == "/v1/files" else self.default_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send, max_bytes)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > max_bytes:
                    raise ApiError(
                        413, f"The request body exceeds {max_bytes} bytes.", code="request_too_large"
                    )
            return msg

        await self.app(scope, limited, send)

    async def _reject(self, send: Send, max_bytes: int) -> None:
        err = ApiError(413, f"The request body exceeds {max_bytes} bytes.", code="request_too_large")
        body = json.dumps(err.body()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def error_response(err: ApiError, extra_headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers={**err.headers, **(extra_headers or {})})


def _sse(data: dict[str, Any] | str) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"data: {payload}\n\n"


class Services:
    """What the lifespan builds; tests may pass an embedder to share one across apps."""

    gateway: Gateway
    finetuning: FineTuning
    redis: aioredis.Redis
    channels: list[grpc.aio.Channel]
    tasks: list[asyncio.Task[None]]


def create_app(settings: GatewaySettings | None = None, embedder: Embedder | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    policy = Policy.load(settings.policy_path)  # a bad policy fails here, before serving
    pepper = settings.pepper_bytes()
    svc = Services()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        emb = embedder
        if emb is None and settings.semantic_rails:
            emb = await asyncio.to_thread(Embedder, settings.embed_threads, settings.embed_max_batch)
        redis_url = settings.redis_url or "redis://127.0.0.1:6379/0"
        # One quick attempt: with Redis down, the paths that go on without it (cached keys, rate
        # limits failing open, the buffered log) must not wait through redis-py's retry backoff.
        client = aioredis.Redis.from_url(
            redis_url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        reg_ch, inf_ch = aio_channel(settings.registry_target), aio_channel(settings.inference_target)
        train_ch = aio_channel(settings.training_target)
        svc.finetuning = FineTuning(tgrpc.TrainingServiceStub(train_ch))  # type: ignore[no-untyped-call]
        inference = igrpc.InferenceServiceStub(inf_ch)  # type: ignore[no-untyped-call]
        keys = KeyStore(client, pepper, settings.key_cache_ttl_s, settings.key_cache_stale_s)
        registry = rgrpc.RegistryServiceStub(reg_ch)  # type: ignore[no-untyped-call]
        router = Router(registry, inference, settings.route_cache_ttl_s)
        log_ = InteractionLog(
            client,
            settings.interactions_stream,
            settings.interactions_maxlen,
            settings.interactions_buffer,
            settings.interactions_batch,
            m.INTERACTIONS_DROPPED,
            m.INTERACTIONS_WRITTEN,
            m.INTERACTIONS_BUFFERED,
        )
        svc.gateway = Gateway(
            settings, keys, RateLimiter(client), router, Guard(policy, emb), inference, log_
        )
        svc.redis = client
        svc.channels = [reg_ch, inf_ch, train_ch]
        svc.tasks = [
            asyncio.create_task(keys.listen(), name="keys-listen"),
            asyncio.create_task(router.listen(client, settings.alias_channel), name="alias-listen"),
            asyncio.create_task(log_.run(), name="interactions"),
        ]
        try:
            yield
        finally:
            await log_.drain()
            for t in svc.tasks:
                t.cancel()
            await asyncio.gather(*svc.tasks, return_exceptions=True)
            for ch in svc.channels:
                await ch.close(grace=None)
            await client.aclose()
            if embedder is None and emb is not None:
                emb.close()

    app = FastAPI(
        title="Keel gateway",
        version="0.1.0",
        description="OpenAI-compatible API with API keys, tenants, rate limits and guardrails.",
        lifespan=lifespan,
    )

    # --- errors ------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return error_response(
            err,
            {"x-request-id": getattr(request.state, "request_id", "")}
            if getattr(request.state, "request_id", "")
            else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            return error_response(
                ApiError(400, "We could not parse the JSON body of your request.", code="invalid_json")
            )
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        if not loc and first.get("loc", ())[:1] == ("body",):
            return error_response(
                ApiError(400, "The request body must be a JSON object.", code="invalid_json")
            )
        param = ".".join(loc) or None
        msg = str(first.get("msg", "invalid value"))
        if first.get("type") == "missing":
            return error_response(
                ApiError(
                    400,
                    f"Missing required parameter: '{param}'.",
                    param=param,
                    code="missing_required_parameter",
                )
            )
        return error_response(
            ApiError(400, f"Invalid value for '{param}': {msg}.", param=param, code="invalid_value")
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code)
        return error_response(ApiError(err.status_code, str(err.detail), code=code))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(
            ApiError(500, "The server had an error while processing your request.", code="internal_error")
        )

    def gw() -> Gateway:
        return svc.gateway

    # --- OpenAI API --------------------------------------------------------------------------
    async def _run(request: Request, call: Call, chunk: ChunkFormat, body: BodyFormat) -> Response:
        request.state.request_id = call.request_id
        g = gw()
        await g.admit(call)
        if not call.stream:
            await g.complete(call)
            return JSONResponse(body(call), headers=call.headers())
        pieces = await g.stream(call)

        def event(text: str, finish: str | None) -> str:
            # With include_usage, every chunk but the last carries "usage": null (as OpenAI's do).
            return _sse(chunk(call, text, finish) | ({"usage": None} if call.include_usage else {}))

        async def events() -> AsyncIterator[str]:
            yield event("", None)
            try:
                async for piece in pieces:
                    yield event(piece, None)
            except ApiError as err:
                yield _sse(err.body())
                return
            yield event("", call.finish)
            if call.include_usage:
                yield _sse(chunk(call, "", None) | {"choices": [], "usage": _usage(call)})
            yield _sse("[DONE]")

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={**call.headers(), "cache-control": "no-cache"}
        )

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(
        req: ChatCompletionRequest, request: Request, authorization: str | None = Header(None)
    ) -> Response:
        key = await gw().authenticate(authorization, "inference")
        return await _run(request, gw().open_chat(key, req), _chat_chunk, _chat_body)

    @app.post("/v1/completions", tags=["openai"])
    async def completions(
        req: CompletionRequest, request: Request, authorization: str | None = Header(None)
    ) -> Response:
        key = await gw().authenticate(authorization, "inference")
        return await _run(request, gw().open_completion(key, req), _completion_chunk, _completion_body)

    @app.get("/v1/models", tags=["openai"])
    async def list_models(authorization: str | None = Header(None)) -> dict[str, Any]:
        g = gw()
        key = await g.authenticate(authorization, "inference")
        data = [
            {"id": b, "object": "model", "created": 0, "owned_by": "keel"}
            for b in await g.router.base_models()
        ]
        for model in await g.router.tenant_models(key.tenant):
            created = int(model.created_at.seconds)
            data.append({"id": model.name, "object": "model", "created": created, "owned_by": key.tenant})
            for alias in sorted(model.aliases):
                data.append(
                    {
                        "id": f"{model.name}@{alias}",
                        "object": "model",
                        "created": created,
                        "owned_by": key.tenant,
                    }
                )
        return {"object": "list", "data": data}

    @app.get("/v1/models/{model_id:path}", tags=["openai"])
    async def get_model(model_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        g = gw()
        key = await g.authenticate(authorization, "inference")
        route = await g.router.resolve(model_id, key.tenant)
        return {
            "id": model_id,
            "object": "model",
            "created": route.created,
            "owned_by": route.tenant or "keel",
            "keel": {"base_model": route.base_model, "version": route.version, "adapter": route.adapter_ref},
        }

    # --- files and fine-tuning jobs (the training scope) ----------------------------------------
    async def _trainer(authorization: str | None) -> tuple[str, str]:
        key = await gw().authenticate(authorization, "training")
        return key.tenant, f"key:{key.id}"

    @app.post("/v1/files", tags=["fine-tuning"])
    async def upload_file(
        file: UploadFile = File(...), purpose: str = Form(...), authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        tenant, actor = await _trainer(authorization)
        content = await file.read()
        return await svc.finetuning.upload_file(
            tenant, actor, file.filename or "upload.jsonl", purpose, content
        )

    @app.get("/v1/files", tags=["fine-tuning"])
    async def list_files(
        purpose: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.list_files(tenant, purpose, after, limit)

    @app.get("/v1/files/{file_id}", tags=["fine-tuning"])
    async def get_file(file_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.get_file(tenant, file_id)

    @app.delete("/v1/files/{file_id}", tags=["fine-tuning"])
    async def delete_file(file_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.delete_file(tenant, file_id)

    @app.post("/v1/fine_tuning/jobs", tags=["fine-tuning"])
    async def create_job(
        req: CreateFineTuningJobRequest,
        authorization: str | None = Header(None),
        idempotency_key: str | None = Header(None, max_length=200),
    ) -> dict[str, Any]:
        tenant, actor = await _trainer(authorization)
        return await svc.finetuning.create_job(tenant, actor, req, idempotency_key or "")

    @app.get("/v1/fine_tuning/jobs", tags=["fine-tuning"])
    async def list_jobs(
        after: str | None = None, limit: int | None = None, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.list_jobs(tenant, after, limit)

    @app.get("/v1/fine_tuning/jobs/{job_id}", tags=["fine-tuning"])
    async def get_job(job_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.get_job(tenant, job_id)

    @app.post("/v1/fine_tuning/jobs/{job_id}/cancel", tags=["fine-tuning"])
    async def cancel_job(job_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        tenant, actor = await _trainer(authorization)
        return await svc.finetuning.cancel_job(tenant, actor, job_id)

    @app.post("/v1/fine_tuning/jobs/{job_id}/resume", tags=["fine-tuning"])
    async def resume_job(job_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        """A failed or cancelled job trains on from its newest checkpoint (same job id)."""
        tenant, actor = await _trainer(authorization)
        return await svc.finetuning.resume_job(tenant, actor, job_id)

    @app.get("/v1/fine_tuning/jobs/{job_id}/events", tags=["fine-tuning"], response_model=None)
    async def job_events(
        job_id: str,
        after: str | None = None,
        limit: int | None = None,
        stream: bool = False,
        authorization: str | None = Header(None),
    ) -> dict[str, Any] | StreamingResponse:
        """``stream=true`` follows the job live (SSE, oldest first from ``after``) until it ends."""
        tenant, _ = await _trainer(authorization)
        if not stream:
            return await svc.finetuning.list_events(tenant, job_id, after, limit)
        await svc.finetuning.get_job(tenant, job_id)  # an unknown job is a 404, not a stream
        feed = svc.finetuning.follow(tenant, job_id, after)

        async def events() -> AsyncIterator[str]:
            yield ": following the job\n\n"  # headers go out now; a quiet queued job may take a while
            try:
                async for ev in feed:
                    yield _sse(ev)
            except ApiError as err:
                yield _sse(err.body())
                return
            yield _sse("[DONE]")

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints", tags=["fine-tuning"])
    async def job_checkpoints(
        job_id: str,
        after: str | None = None,
        limit: int | None = None,
        authorization: str | None = Header(None),
    ) -> dict[str, Any]:
        tenant, _ = await _trainer(authorization)
        return await svc.finetuning.checkpoints(tenant, job_id, after, limit)

    # --- admin: API keys ---------------------------------------------------------------------
    async def _admin(authorization: str | None, tenant: str | None) -> str:
        """The tenant an admin acts on: its own, or any for the operator tenant's admins."""
        key = await gw().authenticate(authorization, "admin")
        target = tenant or key.tenant
        if target != key.tenant and key.tenant != gw().settings.operator_tenant:
            raise ApiError(
                403,
                f"This key administers tenant '{key.tenant}' only.",
                param="tenant",
                code="insufficient_scope",
            )
        return target

    @app.post("/v1/admin/keys", tags=["admin"], status_code=201)
    async def create_key(req: CreateKeyRequest, authorization: str | None = Header(None)) -> JSONResponse:
        tenant = check_tenant(await _admin(authorization, req.tenant))
        check_scopes(req.scopes)
        key, token = await gw().keys.create(tenant, req.scopes, req.name, req.rpm, req.tpm, req.concurrency)
        return JSONResponse({**key.public(), "key": token}, status_code=201)

    @app.get("/v1/admin/keys", tags=["admin"])
    async def list_keys(
        tenant: str | None = None, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        target = await _admin(authorization, tenant)
        return {"object": "list", "data": [k.public() for k in await gw().keys.list(target)]}

    async def _own_key(key_id: str, authorization: str | None) -> None:
        found = await gw().keys.get(key_id)
        caller_tenant = await _admin(authorization, None)
        if found is None or (
            found.tenant != caller_tenant and caller_tenant != gw().settings.operator_tenant
        ):
            raise ApiError(404, f"No API key with id '{key_id}'.", param="key_id", code="not_found")

    @app.get("/v1/admin/keys/{key_id}", tags=["admin"])
    async def get_key(key_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        await _own_key(key_id, authorization)
        found = await gw().keys.get(key_id)
        assert found is not None
        return found.public()

    @app.delete("/v1/admin/keys/{key_id}", tags=["admin"])
    async def revoke_key(key_id: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        await _own_key(key_id, authorization)
        revoked = await gw().keys.revoke(key_id)
        assert revoked is not None
        return revoked.public()

    # --- operations --------------------------------------------------------------------------
    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(svc.redis.ping(), 2)
            checks["redis"] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            resp = await health_pb2_grpc.HealthStub(svc.channels[1]).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
            checks["inference"] = (
                "ok" if resp.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
            )
        except grpc.RpcError as err:
            checks["inference"] = f"unreachable: {err.code().name}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics_() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return BodyLimit(app, settings.max_body_bytes, settings.max_file_bytes)  # type: ignore[return-value]


ChunkFormat = Callable[[Call, str, "str | None"], dict[str, Any]]
BodyFormat = Callable[[Call], dict[str, Any]]


def _chat_chunk(c: Call, text: str, finish: str | None) -> dict[str, Any]:
    # The first chunk announces the role; the last carries only the finish reason.
    if finish is not None:
        delta: dict[str, Any] = {"content": text} if text else {}
    else:
        delta = {"content": text} if text else {"role": "assistant", "content": ""}
    return {
        "id": c.request_id,
        "object": "chat.completion.chunk",
        "created": c.created,
        "model": c.requested_model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _chat_body(c: Call) -> dict[str, Any]:
    return {
        "id": c.request_id,
        "object": "chat.completion",
        "created": c.created,
        "model": c.requested_model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": c.completion, "refusal": None},
                "logprobs": None,
                "finish_reason": c.finish,
            }
        ],
        "usage": _usage(c),
        "keel": c.keel_field(),
    }


def _completion_chunk(c: Call, text: str, finish: str | None) -> dict[str, Any]:
    return {
        "id": c.request_id,
        "object": "text_completion",
        "created": c.created,
        "model": c.requested_model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
    }


def _completion_body(c: Call) -> dict[str, Any]:
    return _completion_chunk(c, c.completion, c.finish) | {"usage": _usage(c), "keel": c.keel_field()}


def _usage(call: Call) -> dict[str, int]:
    u = call.usage
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens or u.prompt_tokens + u.completion_tokens,
    }


def app_from_env() -> FastAPI:
    """uvicorn factory (one per worker process)."""
    return create_app()
