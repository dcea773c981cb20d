"""A ``keel.gateway.v1.Interaction`` from the stream → the row the store keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from keel.gateway.v1 import gateway_pb2 as gpb
from keel_feedback.core import prompts
from keel_feedback.core.exports import Turns

_BLOCK, _FLAG, _REDACT = gpb.GUARDRAIL_ACTION_BLOCK, gpb.GUARDRAIL_ACTION_FLAG, gpb.GUARDRAIL_ACTION_REDACT


def prompt_key(i: gpb.Interaction) -> str:
    """Empty for an unstored interaction (nothing of the prompt was kept)."""
    if not i.stored:
        return ""
    return prompts.prompt_key([(m.role, m.content) for m in i.messages], i.prompt)


def row(i: gpb.Interaction, data: bytes) -> dict[str, Any]:
    actions = {v.action for v in i.guardrail_verdicts}
    created = i.created_at.ToDatetime(tzinfo=UTC) if i.HasField("created_at") else datetime.now(UTC)
    return {
        "request_id": i.request_id,
        "tenant": i.tenant,
        "key_id": i.key_id[:64],
        "endpoint": i.endpoint[:32],
        "requested_model": i.requested_model[:256],
        "model": i.model[:256],
        "model_version": i.model_version,
        "base_model": i.base_model[:128],
        "adapter_ref": i.adapter_ref[:256],
        "stored": i.stored,
        "status_code": i.status_code,
        "blocked": _BLOCK in actions,
        "flagged": bool(actions & {_FLAG, _REDACT}),
        "prompt_tokens": i.usage.prompt_tokens,
        "completion_tokens": i.usage.completion_tokens,
        "latency_ms": i.latency_ms,
        "prompt_key": prompt_key(i),
        "created_at": created,
        "received_at": datetime.now(UTC),
        "record": data,
    }


def turns(data: bytes) -> Turns:
    """What an export reads from a stored record."""
    i = gpb.Interaction.FromString(data)
    return Turns(
        messages=[(m.role, m.content) for m in i.messages],
        prompt=i.prompt,
        completion=i.completion,
        flagged=any(v.action == _FLAG for v in i.guardrail_verdicts),
    )
