"""gRPC transport for inference: translate protos, call the engine, map errors.

The servicer talks to a typed ``EngineClient`` (the Ray Serve handle in production, a local
core in tests); it measures what the client sees: time to first token, inter-token latency
and end-to-end latency.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as pb
from keel.inference.v1 import inference_pb2_grpc as pb_grpc
from keel_common.errors import InvalidArgument, KeelError, ResourceExhausted, Unavailable
from keel_common.logging import request_id_var
from keel_inference.engine import Delta, Done, Event
from keel_inference.engine_client import EngineClient
from keel_inference.metrics import front_metrics
from keel_inference.values import AdapterInfo, AdapterInput, GenerateInput, Message, SamplingInput

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InferenceService"].full_name
_FINISH: dict[str, Any] = {
    "stop": cpb.FINISH_REASON_STOP,
    "length": cpb.FINISH_REASON_LENGTH,
    "cancelled": cpb.FINISH_REASON_CANCELLED,
}


def unwrap(exc: BaseException) -> BaseException:
    """The domain error inside a Ray/Serve exception, or a status-carrying stand-in."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, KeelError):
            return cur
        cur = getattr(cur, "cause", None) or cur.__cause__
    name = type(exc).__name__
    if "BackPressure" in name:
        return ResourceExhausted("the inference replicas are saturated; retry later")
    if any(k in name for k in ("ActorDied", "ActorUnavailable", "RayActorError", "DeploymentUnavailable")):
        return Unavailable(f"the inference engine is unavailable ({name})")
    return exc


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except Exception as e:
        err = unwrap(e)
        if err is e:
            raise
        raise err from None


# --- proto <-> core ---------------------------------------------------------------------------
def _messages(msgs: Any) -> list[Message]:
    return [Message(m.role, m.content, m.name) for m in msgs]


def to_input(req: pb.GenerateRequest) -> GenerateInput:
    s = req.sampling
    opt = s.HasField
    sampling = SamplingInput(
        max_tokens=s.max_tokens,
        temperature=s.temperature if opt("temperature") else None,
        top_p=s.top_p if opt("top_p") else None,
        top_k=s.top_k if opt("top_k") else None,
        repetition_penalty=s.repetition_penalty if opt("repetition_penalty") else None,
        frequency_penalty=s.frequency_penalty if opt("frequency_penalty") else None,
        presence_penalty=s.presence_penalty if opt("presence_penalty") else None,
        stop=list(s.stop),
        seed=s.seed if opt("seed") else None,
        ignore_eos=s.ignore_eos,
    )
    kind = req.WhichOneof("input")
    if kind is None:
        raise InvalidArgument("messages or prompt is required", field="messages")
    adapter = None
    if req.HasField("adapter") and req.adapter.ref:
        a = req.adapter
        adapter = AdapterInput(a.ref, a.artifact_uri, a.artifact_sha256)
    return GenerateInput(
        request_id=req.request_id or request_id_var.get() or "",
        model=req.model,
        messages=_messages(req.messages.messages) if kind == "messages" else None,
        prompt=req.prompt if kind == "prompt" else None,
        adapter=adapter,
        sampling=sampling,
    )


def _ts(t: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


def adapter_pb(a: AdapterInfo, replicas: int = 1) -> pb.LoadedAdapter:
    return pb.LoadedAdapter(
        ref=a.ref,
        artifact_sha256=a.sha256,
        replicas=replicas,
        pinned=a.pinned,
        loaded_at=_ts(a.loaded_at),
        last_used_at=_ts(a.last_used_at),
    )


class InferenceServicer(pb_grpc.InferenceServiceServicer):
    def __init__(self, client: EngineClient) -> None:
        self.client = client
        self.metrics = front_metrics()

    def _events(self, inp: GenerateInput, context: grpc.ServicerContext) -> Iterator[tuple[Event, float]]:
        """The engine's events with the time each arrived; cancelling the RPC cancels the request."""
        labels = (inp.model or "default", "adapter" if inp.adapter else "base")
        start = last = time.perf_counter()
        first = True
        with domain_errors():
            stream = self.client.stream(inp)
            cancel: Callable[[], None] | None = getattr(stream, "cancel", None)
            if cancel is not None:
                context.add_callback(cancel)
            for event in stream:
                now = time.perf_counter()
                if isinstance(event, Delta) and event.token_ids:
                    if first:
                        self.metrics.ttft.labels(*labels).observe(now - start)
                        first = False
                    else:
                        # Merged deltas share the gap between them.
                        gap = (now - last) / len(event.token_ids)
                        for _ in event.token_ids:
                            self.metrics.itl.labels(*labels).observe(gap)
                    last = now
                elif isinstance(event, Done):
                    self.metrics.e2e.labels(*labels).observe(now - start)
                    self.metrics.prompt_tokens.labels(*labels).inc(event.prompt_tokens)
                    self.metrics.completion_tokens.labels(*labels).inc(event.completion_tokens)
                    self.metrics.finished.labels(event.finish_reason).inc()
                yield event, now

    @staticmethod
    def _done(inp: GenerateInput, ev: Done, model: str) -> tuple[Any, cpb.Usage, str]:
        usage = cpb.Usage(
            prompt_tokens=ev.prompt_tokens,
            completion_tokens=ev.completion_tokens,
            total_tokens=ev.prompt_tokens + ev.completion_tokens,
        )
        return _FINISH.get(ev.finish_reason, 0), usage, inp.adapter.ref if inp.adapter else ""

    def Generate(self, request: pb.GenerateRequest, context: grpc.ServicerContext) -> pb.GenerateResponse:
        inp = to_input(request)
        parts: list[str] = []
        for event, _ in self._events(inp, context):
            if isinstance(event, Delta):
                parts.append(event.text)
            elif isinstance(event, Done):
                reason, usage, ref = self._done(inp, event, request.model)
                return pb.GenerateResponse(
                    request_id=inp.request_id,
                    text="".join(parts),
                    finish_reason=reason,
                    usage=usage,
                    model=request.model,
                    adapter_ref=ref,
                )
        raise Unavailable("the engine closed the stream without finishing")

    def GenerateStream(
        self, request: pb.GenerateRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GenerateStreamResponse]:
        inp = to_input(request)
        for event, _ in self._events(inp, context):
            if isinstance(event, Delta):
                yield pb.GenerateStreamResponse(
                    request_id=inp.request_id, delta=pb.TokenDelta(text=event.text, token_ids=event.token_ids)
                )
            elif isinstance(event, Done):
                reason, usage, ref = self._done(inp, event, request.model)
                yield pb.GenerateStreamResponse(
                    request_id=inp.request_id,
                    done=pb.GenerateDone(
                        finish_reason=reason, usage=usage, model=request.model, adapter_ref=ref
                    ),
                )
                return
        raise Unavailable("the engine closed the stream without finishing")

    def CountTokens(
        self, request: pb.CountTokensRequest, context: grpc.ServicerContext
    ) -> pb.CountTokensResponse:
        kind = request.WhichOneof("input")
        msgs = _messages(request.messages.messages) if kind == "messages" else None
        with domain_errors():
            ids, ctx = self.client.count_tokens(
                request.model, msgs, request.prompt if kind == "prompt" else None
            )
        return pb.CountTokensResponse(
            token_count=len(ids), context_length=ctx, token_ids=ids if request.return_token_ids else []
        )

    def ApplyChatTemplate(
        self, request: pb.ApplyChatTemplateRequest, context: grpc.ServicerContext
    ) -> pb.ApplyChatTemplateResponse:
        gen_prompt = request.add_generation_prompt if request.HasField("add_generation_prompt") else True
        with domain_errors():
            text, n = self.client.apply_chat_template(request.model, _messages(request.messages), gen_prompt)
        return pb.ApplyChatTemplateResponse(prompt=text, token_count=n)

    def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelsResponse:
        with domain_errors():
            info = self.client.info()
        return pb.ListModelsResponse(
            models=[
                pb.BaseModel(
                    id=info.model,
                    source=info.source,
                    context_length=info.context_length,
                    dtype=info.dtype,
                    tensor_parallel_size=info.tensor_parallel_size,
                    replicas=info.replicas,
                    ready=info.ready,
                    max_adapters_per_replica=info.max_adapters,
                    adapters=[adapter_pb(a) for a in info.adapters],
                )
            ]
        )

    def LoadAdapter(
        self, request: pb.LoadAdapterRequest, context: grpc.ServicerContext
    ) -> pb.LoadAdapterResponse:
        a = request.adapter
        if not a.ref:
            raise InvalidArgument("is required", field="adapter.ref")
        if not a.artifact_uri:
            raise InvalidArgument("is required to load an adapter", field="adapter.artifact_uri")
        with domain_errors():
            info, already = self.client.load_adapter(
                request.model, AdapterInput(a.ref, a.artifact_uri, a.artifact_sha256), request.pin
            )
        return pb.LoadAdapterResponse(adapter=adapter_pb(info), already_loaded=already)

    def UnloadAdapter(
        self, request: pb.UnloadAdapterRequest, context: grpc.ServicerContext
    ) -> pb.UnloadAdapterResponse:
        if not request.ref:
            raise InvalidArgument("is required", field="ref")
        with domain_errors():
            was = self.client.unload_adapter(request.model, request.ref)
        return pb.UnloadAdapterResponse(was_loaded=was)
