"""``keel_gateway.core.Gateway`` without HTTP: built by ``runtime.running`` over real Valkey and
the scripted inference server of conftest (a real gRPC server on localhost)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from keel.gateway.v1 import gateway_pb2 as gpb
from keel_gateway.config import GatewaySettings
from keel_gateway.core import Gateway
from keel_gateway.errors import ApiError
from keel_gateway.guardrails.policy import Policy
from keel_gateway.keys import ApiKey
from keel_gateway.runtime import running
from keel_gateway.schemas import ChatCompletionRequest, CompletionRequest

BASE = "smollm2-135m-instruct"


def _with_gateway(
    settings: GatewaySettings, test: Callable[[Gateway], Awaitable[Any]], policy: Policy | None = None
) -> Any:
    async def run() -> Any:
        async with running(settings, policy or Policy.load(None)) as rt:
            return await test(rt.gateway)

    return asyncio.run(run())


def _chat(**over: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": BASE, "messages": [{"role": "user", "content": "hi"}]} | over
    )


def test_authenticate_reads_a_bearer_token_and_checks_the_scope(
    settings: Callable[..., GatewaySettings], key: Callable[..., str]
) -> None:
    token = key("c-acme", "inference")

    async def check(gw: Gateway) -> None:
        found = await gw.authenticate(f"bearer {token}", "inference")  # the scheme is case-blind
        assert found.tenant == "c-acme" and found.scopes == {"inference"}
        for header, status, code in (
            (None, 401, "missing_api_key"),
            (f"Token {token}", 401, "invalid_api_key"),
            ("Bearer sk-keel-short", 401, "invalid_api_key"),
        ):
            with pytest.raises(ApiError) as err:
                await gw.authenticate(header, "inference")
            assert (err.value.status, err.value.code) == (status, code)
        with pytest.raises(ApiError) as err:
            await gw.authenticate(f"Bearer {token}", "admin")
        assert err.value.status == 403 and "lacks the 'admin' scope (it has: inference)" in err.value.message

    _with_gateway(settings(), check)


def test_a_keys_own_limits_win_over_the_defaults(settings: Callable[..., GatewaySettings]) -> None:
    async def check(gw: Gateway) -> None:
        own = ApiKey("k", "t", frozenset({"inference"}), rpm=5, tpm=-1, concurrency=0)
        limits = gw.limits(own)
        assert (limits.rpm, limits.tpm, limits.concurrency) == (5, 0, 3)  # -1: unlimited (0)

    _with_gateway(settings(default_rpm=100, default_tpm=1000, default_concurrency=3), check)


def test_opening_calls_fills_sampling_the_way_openai_defaults_it(
    settings: Callable[..., GatewaySettings],
) -> None:
    key = ApiKey("k", "t", frozenset({"inference"}))

    async def check(gw: Gateway) -> None:
        call = gw.open_chat(key, _chat(max_tokens=5, max_completion_tokens=7, stop="END", seed=3))
        assert call.request_id.startswith("chatcmpl-") and call.route_name == "chat.completions"
        s = call.sampling
        assert (s.max_tokens, list(s.stop), s.seed, s.temperature) == (7, ["END"], 3, 1.0)
        stream = gw.open_chat(key, _chat(stream=True, stream_options={"include_usage": True}, temperature=0))
        assert stream.stream and stream.include_usage and stream.sampling.temperature == 0
        comp = gw.open_completion(key, CompletionRequest(model=BASE, prompt=["once"]))
        assert (
            comp.request_id.startswith("cmpl-") and comp.sampling.max_tokens == 16
        )  # OpenAI's legacy default
        assert comp.contents == ["once"]
        with pytest.raises(ApiError) as err:
            gw.open_completion(key, CompletionRequest(model=BASE, prompt=["a", "b"]))
        assert (err.value.param, err.value.code) == ("prompt", "unsupported_parameter")

    _with_gateway(settings(), check)


def test_a_completed_call_is_accounted_logged_and_has_headers(
    settings: Callable[..., GatewaySettings], key: Callable[..., str], valkey_url: str
) -> None:
    token = key("c-acme", "inference", rpm=10)
    stream = f"test:interactions:{uuid.uuid4().hex}"

    async def check(gw: Gateway) -> str:
        k = await gw.authenticate(f"Bearer {token}", "inference")
        call = gw.open_chat(
            k,
            _chat(messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]),
        )
        await gw.admit(call)
        await gw.complete(call)
        assert call.completion == "Bartholomew the walrus." and call.finish == "stop"
        h = call.headers()
        assert h["x-request-id"] == call.request_id and h["x-keel-model"] == BASE
        assert h["x-ratelimit-remaining-requests"] == "9"
        await gw.interactions.drain()
        return call.request_id

    request_id = _with_gateway(settings(interactions_stream=stream), check)
    entries: Any = redis.Redis.from_url(valkey_url).xrange(stream)
    [(_, fields)] = entries
    rec = gpb.Interaction.FromString(fields[b"data"])
    assert (rec.request_id, rec.tenant, rec.endpoint, rec.status_code) == (
        request_id,
        "c-acme",
        "chat.completions",
        200,
    )
    assert [m.role for m in rec.messages] == ["system", "user"]  # "developer" is the system role
    assert rec.completion == "Bartholomew the walrus." and rec.usage.total_tokens == 14


def test_admission_refuses_over_the_rate_limit_and_caps_tokens_by_policy(
    settings: Callable[..., GatewaySettings], key: Callable[..., str], tmp_path: Path
) -> None:
    token = key("c-acme", "inference", rpm=1)
    (tmp_path / "policy.yaml").write_text("default: {output: {max_tokens: 3}}\n")
    policy = Policy.load(tmp_path / "policy.yaml")

    async def check(gw: Gateway) -> None:
        k = await gw.authenticate(f"Bearer {token}", "inference")
        first = gw.open_chat(k, _chat(max_tokens=50))
        await gw.admit(first)
        assert first.sampling.max_tokens == 3  # the policy's cap wins over the request's 50
        second = gw.open_chat(k, _chat())
        with pytest.raises(ApiError) as err:
            await gw.admit(second)
        assert err.value.status == 429 and err.value.code == "rate_limit_exceeded"
        assert int(err.value.headers["retry-after"]) >= 1
        assert second.status == 429 and second.error_type == "rate_limit_exceeded"  # accounted once

    _with_gateway(settings(), check, policy)


def test_the_store_flag_and_the_tenants_policy_decide_what_an_interaction_keeps(
    settings: Callable[..., GatewaySettings], key: Callable[..., str], valkey_url: str, tmp_path: Path
) -> None:
    """OpenAI's ``store``: false keeps only what counts the request; unset follows the tenant's
    policy (stores by default, and a tenant can default it off); ``metadata`` is kept with a
    stored completion."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("tenants:\n  private:\n    default: {store: false}\n")
    stream = f"test:interactions:{uuid.uuid4().hex}"
    acme, private = key("s-acme", "inference"), key("private", "inference")
    cases = [  # (token, request fields, stored)
        (acme, {}, True),
        (acme, {"store": False, "metadata": {"ticket": "T-1"}}, False),
        (acme, {"store": True, "metadata": {"ticket": "T-2"}}, True),
        (private, {}, False),
        (private, {"store": True}, True),
    ]

    async def check(gw: Gateway) -> list[str]:
        ids = []
        for token, over, _ in cases:
            k = await gw.authenticate(f"Bearer {token}", "inference")
            call = gw.open_chat(k, _chat(**over))
            await gw.admit(call)
            await gw.complete(call)  # records the interaction
            ids.append(call.request_id)
        await gw.interactions.drain()
        return ids

    ids = _with_gateway(settings(interactions_stream=stream), check, Policy.load(policy_file))
    entries: Any = redis.Redis.from_url(valkey_url).xrange(stream)
    recs = {r.request_id: r for r in (gpb.Interaction.FromString(f[b"data"]) for _, f in entries)}
    assert len(entries) == len(cases)  # one record per request
    for request_id, (_, over, stored) in zip(ids, cases, strict=True):
        rec = recs[request_id]
        assert rec.stored is stored, over
        assert rec.usage.total_tokens > 0 and rec.status_code == 200  # counted either way
        if stored:
            assert [m.content for m in rec.messages] == ["hi"] and rec.completion
            assert dict(rec.metadata) == over.get("metadata", {})
        else:
            assert not rec.messages and not rec.completion and not rec.metadata
