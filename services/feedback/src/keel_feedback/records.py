"""A ``keel.gateway.v1.Interaction`` from the stream → the row the store keeps."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from keel.gateway.v1 import gateway_pb2 as gpb

_SPACE = re.compile(r"\s+")
_BLOCK, _FLAG, _REDACT = gpb.GUARDRAIL_ACTION_BLOCK, gpb.GUARDRAIL_ACTION_FLAG, gpb.GUARDRAIL_ACTION_REDACT


def normalise(text: str) -> str:
    """Case, Unicode form and whitespace do not make two prompts different."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def prompt_key(i: gpb.Interaction) -> str:
    """sha256 of the normalised prompt: the conversation up to the answer, or the raw prompt.
    Empty for an unstored interaction (nothing of the prompt was kept)."""
    if not i.stored:
        return ""
    if i.messages:
        text = "\x1e".join(f"{m.role}\x1f{normalise(m.content)}" for m in i.messages)
    else:
        text = normalise(i.prompt)
    return hashlib.sha256(text.encode()).hexdigest()


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
