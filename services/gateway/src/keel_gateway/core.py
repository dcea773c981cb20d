"""The gateway's request handling, independent of HTTP: authenticate, route, rate-limit, run
the rails, call inference, filter the answer, account and log. ``http_api/`` only maps HTTP
onto this and formats OpenAI's JSON and SSE."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel_common.contract import REQUEST_ID_HEADER
from keel_gateway import metrics as m
from keel_gateway.call import FINISH, Call
from keel_gateway.completion_ids import CompletionIds
from keel_gateway.config import GatewaySettings
from keel_gateway.errors import ApiError, from_grpc
from keel_gateway.guardrails.pipeline import Guard, OutputFilter, Verdict
from keel_gateway.interactions import InteractionLog
from keel_gateway.keys import ApiKey, KeyStore
from keel_gateway.ratelimit import Limits, RateLimiter, estimate_tokens
from keel_gateway.records import interaction_record
from keel_gateway.routing import Router
from keel_gateway.schemas import ChatCompletionRequest, CompletionRequest

log = logging.getLogger(__name__)

# Chat template tokens around each message; only used to decide whether an exact count is needed.
_TEMPLATE_SLACK = 16


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        keys: KeyStore,
        limiter: RateLimiter,
        router: Router,
        guard: Guard,
        inference: igrpc.InferenceServiceStub,
        interactions: InteractionLog,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.limiter = limiter
        self.router = router
        self.guard = guard
        self.inference = inference
        self.interactions = interactions
        self.ids = CompletionIds(settings.pepper_bytes())

    # --- auth -----------------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None, scope: str | tuple[str, ...]) -> ApiKey:
        """The caller's key, which must hold ``scope`` (or one of several)."""
        token = None
        if authorization:
            kind, _, value = authorization.partition(" ")
            token = value.strip() if kind.lower() == "bearer" else None
            if token is None:
                raise ApiError(401, "Use 'Authorization: Bearer <API key>'.", code="invalid_api_key")
        key = await self.keys.verify(token)
        wanted = (scope,) if isinstance(scope, str) else scope
        if not key.scopes.intersection(wanted):
            raise ApiError(
                403,
                f"This API key lacks the {' or '.join(repr(w) for w in wanted)} scope "
                f"(it has: {', '.join(sorted(key.scopes))}).",
                code="insufficient_scope",
            )
        return key

    def limits(self, key: ApiKey) -> Limits:
        s = self.settings

        def pick(own: int, default: int) -> int:
            return 0 if own < 0 else own or default

        return Limits(
            pick(key.rpm, s.default_rpm),
            pick(key.tpm, s.default_tpm),
            pick(key.concurrency, s.default_concurrency),
        )

    # --- preparation ----------------------------------------------------------------------------
    def open_chat(self, key: ApiKey, req: ChatCompletionRequest) -> Call:
        call = Call(
            "chat.completions", self.ids.new("chatcmpl", key.tenant), key, bool(req.stream), req.model
        )
        call.roles = [msg.role for msg in req.messages]
        call.contents = [msg.text() for msg in req.messages]
        call.sampling = self._sampling(req, req.limit())
        call.include_usage = bool(req.stream_options and req.stream_options.include_usage)
        call.store, call.metadata = req.store, dict(req.metadata or {})
        self._supported(req.unsupported())
        return call

    def open_completion(self, key: ApiKey, req: CompletionRequest) -> Call:
        self._supported(req.unsupported())  # before text(): a prompt list must hold exactly one
        call = Call("completions", self.ids.new("cmpl", key.tenant), key, bool(req.stream), req.model)
        call.roles = ["user"]
        call.contents = [req.text()]
        # OpenAI's legacy default is 16 tokens.
        call.sampling = self._sampling(req, req.max_tokens or 16)
        call.include_usage = bool(req.stream_options and req.stream_options.include_usage)
        call.store, call.metadata = req.store, dict(req.metadata or {})
        self._supported(req.unsupported())
        return call

    @staticmethod
    def _supported(problem: tuple[str, str] | None) -> None:
        if problem is not None:
            raise ApiError(400, problem[1], param=problem[0], code="unsupported_parameter")

    @staticmethod
    def _sampling(
        req: ChatCompletionRequest | CompletionRequest, max_tokens: int | None
    ) -> cpb.SamplingParams:
        s = cpb.SamplingParams(max_tokens=max_tokens or 0, stop=req.stops())
        # OpenAI samples at temperature 1 unless told otherwise.
        s.temperature = 1.0 if req.temperature is None else req.temperature
        if req.top_p is not None:
            s.top_p = req.top_p
        if req.seed is not None:
            s.seed = req.seed
        if req.frequency_penalty is not None:
            s.frequency_penalty = req.frequency_penalty
        if req.presence_penalty is not None:
            s.presence_penalty = req.presence_penalty
        return s

    async def admit(self, call: Call) -> None:
        """Route, rate-limit and run the input rails; raises ApiError when the request stops here."""
        try:
            call.route = await self.router.resolve(call.requested_model, call.key.tenant)
            call.rails = self.guard.rails(call.key.tenant, call.route.policy_model)
            cap = call.rails.set.output.max_tokens
            if cap and (not call.sampling.max_tokens or call.sampling.max_tokens > cap):
                call.sampling.max_tokens = cap
            prompt_bytes = sum(len(c.encode()) for c in call.contents)
            call.reserved = estimate_tokens(prompt_bytes)
            adm = await self.limiter.admit(call.key.id, self.limits(call.key), call.request_id, call.reserved)
            call.admission = adm
            if not adm.enforced:
                m.RATE_UNENFORCED.inc()
            if not adm.allowed:
                m.RATE_LIMITED.labels(adm.limit).inc()
                raise ApiError(
                    429,
                    f"Rate limit reached for {adm.limit} on this API key; retry in {adm.retry_after_s}s.",
                    code="rate_limit_exceeded",
                    headers={"retry-after": str(adm.retry_after_s)},
                )
            outcome = await call.rails.check_input(call.roles, call.contents)
            call.contents = outcome.contents
            self._verdicts(call, outcome.verdicts)
            blocked = outcome.blocked
            if blocked is None:
                blocked = await self._prompt_length(call, prompt_bytes)
            if blocked is not None:
                raise ApiError(
                    400,
                    f"The request was blocked by the '{blocked.rail}' guardrail ({blocked.reason}).",
                    param="messages" if call.route_name == "chat.completions" else "prompt",
                    code="content_filter",
                )
        except ApiError as err:
            await self.fail(call, err)
            raise

    async def _prompt_length(self, call: Call, prompt_bytes: int) -> Verdict | None:
        assert call.rails is not None and call.route is not None
        limit = call.rails.set.input.max_prompt_tokens
        # A byte-level BPE token covers at least one byte, so short prompts need no exact count.
        if (
            not limit
            or not call.rails.set.enabled
            or prompt_bytes + _TEMPLATE_SLACK * len(call.contents) <= limit
        ):
            return None
        start = time.perf_counter()
        req = ipb.CountTokensRequest(model=call.route.base_model)
        if call.route_name == "chat.completions":
            req.messages.messages.extend(self._messages(call))
        else:
            req.prompt = call.contents[0]
        try:
            count = (await self.inference.CountTokens(req, timeout=10)).token_count
        except grpc.RpcError as err:
            raise self._upstream(err) from None
        call.upstream_s += time.perf_counter() - start
        if count <= limit:
            return None
        v = Verdict(
            "prompt_length",
            "input",
            "block",
            f"{count}>{limit}_tokens",
            1.0,
            (time.perf_counter() - start) * 1000,
        )
        self._verdicts(call, [v])
        return v

    @staticmethod
    def _upstream(err: grpc.RpcError) -> ApiError:
        """Count a failed inference call and turn it into what the client sees."""
        m.UPSTREAM_ERRORS.labels("inference", err.code().name).inc()
        return from_grpc(err, "inference")

    @staticmethod
    def _verdicts(call: Call, verdicts: list[Verdict]) -> None:
        for v in verdicts:
            call.verdicts.append(v)
            m.VERDICTS.labels(v.rail, v.stage, v.action).inc()

    def _messages(self, call: Call) -> list[cpb.ChatMessage]:
        # "developer" is OpenAI's newer name for the system role; chat templates know "system".
        return [
            cpb.ChatMessage(role="system" if r == "developer" else r, content=c)
            for r, c in zip(call.roles, call.contents, strict=True)
        ]

    def _request(self, call: Call) -> ipb.GenerateRequest:
        assert call.route is not None
        req = ipb.GenerateRequest(
            request_id=call.request_id, model=call.route.base_model, sampling=call.sampling
        )
        if call.route.adapter is not None:
            req.adapter.CopyFrom(call.route.adapter)
        if call.route_name == "chat.completions":
            req.messages.messages.extend(self._messages(call))
        else:
            req.prompt = call.contents[0]
        return req

    # --- generation -----------------------------------------------------------------------------
    async def complete(self, call: Call) -> None:
        """Non-streaming: fills call.completion, usage and finish."""
        assert call.rails is not None
        start = time.perf_counter()
        try:
            resp = await self.inference.Generate(
                self._request(call),
                timeout=self.settings.upstream_timeout_s,
                metadata=((REQUEST_ID_HEADER, call.request_id),),
            )
        except grpc.RpcError as err:
            api_err = self._upstream(err)
            await self.fail(call, api_err)
            raise api_err from None
        call.upstream_s += time.perf_counter() - start
        filt = call.rails.output_filter()
        call.completion = filt.feed(resp.text) + filt.finish()
        call.usage = resp.usage
        call.finish = "content_filter" if filt.blocked is not None else FINISH.get(resp.finish_reason, "stop")
        self._verdicts(call, filt.verdicts)
        await self.finish(call)

    async def stream(self, call: Call) -> AsyncIterator[str]:
        """Streaming: opens the upstream stream before yielding anything, so a refusal by inference
        still becomes a proper HTTP status; then yields filtered text pieces (never empty)."""
        assert call.rails is not None
        start = time.perf_counter()
        upstream = self.inference.GenerateStream(
            self._request(call),
            timeout=self.settings.upstream_timeout_s,
            metadata=((REQUEST_ID_HEADER, call.request_id),),
        )
        it = upstream.__aiter__()
        try:
            first = await it.__anext__()
        except grpc.RpcError as err:
            api_err = self._upstream(err)
            await self.fail(call, api_err)
            raise api_err from None
        except StopAsyncIteration:
            first = None
        call.upstream_s += time.perf_counter() - start
        return self._pieces(call, upstream, it, first)

    async def _pieces(
        self,
        call: Call,
        upstream: object,
        it: AsyncIterator[ipb.GenerateStreamResponse],
        first: ipb.GenerateStreamResponse | None,
    ) -> AsyncIterator[str]:
        assert call.rails is not None
        filt: OutputFilter = call.rails.output_filter()
        msg = first
        done: ipb.GenerateDone | None = None
        try:
            while msg is not None:
                if msg.HasField("done"):
                    done = msg.done
                    break
                call.streamed_tokens += len(msg.delta.token_ids)
                piece = filt.feed(msg.delta.text)
                if piece:
                    yield self._sent(call, piece)
                if filt.blocked is not None:
                    break
                wait = time.perf_counter()
                try:
                    msg = await it.__anext__()
                except StopAsyncIteration:
                    msg = None
                call.upstream_s += time.perf_counter() - wait
            if filt.blocked is None:
                rest = filt.finish()
                if rest:
                    yield self._sent(call, rest)
            if done is not None:
                call.usage = done.usage
            else:
                # Stopped early by a rail: no final usage came; bill what was generated.
                call.usage = cpb.Usage(
                    completion_tokens=call.streamed_tokens, total_tokens=call.streamed_tokens
                )
            call.finish = (
                "content_filter"
                if filt.blocked is not None
                else FINISH.get(done.finish_reason, "stop")
                if done is not None
                else "stop"
            )
            self._verdicts(call, filt.verdicts)
        except grpc.RpcError as err:
            api_err = self._upstream(err)
            await self.fail(call, api_err)
            raise api_err from None
        except (asyncio.CancelledError, GeneratorExit):
            call.finish = "cancelled"
            call.status = 499
            raise
        finally:
            cancel = getattr(upstream, "cancel", None)
            if cancel is not None and done is None:
                cancel()
            if call.finish:
                await asyncio.shield(self.finish(call))

    @staticmethod
    def _sent(call: Call, piece: str) -> str:
        if not call.ttft_s:
            call.ttft_s = time.perf_counter() - call.started
            m.TTFT.labels(call.route_name).observe(call.ttft_s)
        call.completion += piece
        return piece

    # --- accounting -----------------------------------------------------------------------------
    async def finish(self, call: Call) -> None:
        elapsed = time.perf_counter() - call.started
        call.elapsed_s = elapsed
        await self._release(call)
        model = call.model_label
        m.REQUESTS.labels(call.route_name, model, str(call.status)).inc()
        m.LATENCY.labels(call.route_name, str(call.status)).observe(elapsed)
        m.OVERHEAD.labels(call.route_name).observe(max(elapsed - call.upstream_s, 0.0))
        if call.usage.prompt_tokens or call.usage.completion_tokens:
            m.TOKENS.labels(model, "prompt").inc(call.usage.prompt_tokens)
            m.TOKENS.labels(model, "completion").inc(call.usage.completion_tokens)
        self.interactions.record(interaction_record(call, elapsed, self._messages(call)))

    async def fail(self, call: Call, err: ApiError) -> None:
        if call.status != 200 and call.error_type:
            return  # already accounted
        call.status = err.status
        call.error_type = err.code or err.type
        await self.finish(call)

    async def _release(self, call: Call) -> None:
        adm = call.admission
        if call.released or adm is None or not adm.allowed or not adm.enforced:
            return
        call.released = True
        used = call.usage.prompt_tokens + call.usage.completion_tokens
        await self.limiter.release(call.key.id, call.request_id, call.reserved, used)
