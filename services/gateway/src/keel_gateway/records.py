"""The interaction record of a finished request (``keel.gateway.v1.Interaction``): what feedback
and exports read, with what the rails kept after redaction, and only what counts the request
when the caller (or the tenant's policy) chose not to store it."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from keel.common.v1 import common_pb2 as cpb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_gateway.call import FINISH_PB, Call

_ACTION_PB = {
    "allow": gpb.GuardrailAction.GUARDRAIL_ACTION_ALLOW,
    "flag": gpb.GuardrailAction.GUARDRAIL_ACTION_FLAG,
    "redact": gpb.GuardrailAction.GUARDRAIL_ACTION_REDACT,
    "block": gpb.GuardrailAction.GUARDRAIL_ACTION_BLOCK,
}
_STAGE_PB = {
    "input": gpb.GuardrailStage.GUARDRAIL_STAGE_INPUT,
    "output": gpb.GuardrailStage.GUARDRAIL_STAGE_OUTPUT,
}


def stored(call: Call) -> bool:
    """The caller's ``store`` when it gave one, else the tenant's policy (stores by default)."""
    if call.store is not None:
        return call.store
    return call.rails.set.store if call.rails is not None else True


def interaction_record(call: Call, elapsed: float, messages: list[cpb.ChatMessage]) -> gpb.Interaction:
    route = call.route
    keep = stored(call)
    rec = gpb.Interaction(
        request_id=call.request_id,
        tenant=call.key.tenant,
        key_id=call.key.id,
        endpoint=call.route_name,
        stream=call.stream,
        requested_model=call.requested_model,
        model=route.model if route else "",
        model_version=route.version if route else 0,
        base_model=route.base_model if route else "",
        adapter_ref=route.adapter_ref if route else "",
        sampling=call.sampling,
        completion=call.completion if keep else "",
        usage=call.usage,
        finish_reason=FINISH_PB.get(call.finish, cpb.FinishReason.FINISH_REASON_UNSPECIFIED),
        status_code=call.status,
        error_type=call.error_type,
        latency_ms=elapsed * 1000,
        ttft_ms=call.ttft_s * 1000,
        stored=keep,
        metadata=call.metadata if keep else {},
    )
    if keep and call.route_name == "chat.completions":
        rec.messages.extend(messages)
    elif keep and call.contents:
        rec.prompt = call.contents[0]
    for v in call.verdicts:
        rec.guardrail_verdicts.add(
            rail=v.rail,
            stage=_STAGE_PB[v.stage],
            action=_ACTION_PB[v.action],
            reason=v.reason,
            score=v.score,
            latency_ms=v.latency_ms,
        )
    ts = Timestamp()
    ts.GetCurrentTime()
    rec.created_at.CopyFrom(ts)
    return rec
