"""Interactions as the gateway writes them, for tests and the benchmark (never imported by the
service)."""

from __future__ import annotations

from datetime import UTC, datetime

from keel.common.v1 import common_pb2 as cpb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_common.contract import DEFAULT_BASE_MODEL


def interaction(
    request_id: str,
    tenant: str = "acme",
    *,
    question: str = "What is the capital of France?",
    answer: str = "Paris.",
    model: str = "support-bot",
    model_version: int = 1,
    base_model: str = DEFAULT_BASE_MODEL,
    blocked: bool = False,
    flagged: bool = False,
    latency_ms: float = 42.0,
    created_at: datetime | None = None,
    stored: bool = True,
) -> gpb.Interaction:
    verdicts = []
    if blocked:
        verdicts.append(
            gpb.GuardrailVerdict(
                rail="prompt_injection",
                stage=gpb.GUARDRAIL_STAGE_INPUT,
                action=gpb.GUARDRAIL_ACTION_BLOCK,
                reason="jailbreak_pattern",
            )
        )
    if flagged:
        verdicts.append(
            gpb.GuardrailVerdict(
                rail="pii",
                stage=gpb.GUARDRAIL_STAGE_INPUT,
                action=gpb.GUARDRAIL_ACTION_REDACT,
                reason="email_address",
            )
        )
    i = gpb.Interaction(
        request_id=request_id,
        tenant=tenant,
        key_id="k1",
        endpoint="chat.completions",
        requested_model=model or base_model,
        model=model,
        model_version=model_version if model else 0,
        base_model=base_model,
        adapter_ref=f"{model}/{model_version}" if model else "",
        usage=cpb.Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15),
        guardrail_verdicts=verdicts,
        status_code=400 if blocked else 200,
        latency_ms=latency_ms,
        stored=stored,
    )
    if stored:
        i.messages.append(cpb.ChatMessage(role="user", content=question))
        i.completion = "" if blocked else answer
    i.created_at.FromDatetime(created_at or datetime.now(UTC))
    return i
