"""The gateway client's wire handling: SSE framing, OpenAI error bodies, refusals mid-stream.
The gateway itself is exercised for real in tests/integration/test_local_platform.py; here an
httpx MockTransport plays the server so that each framing edge case is pinned exactly."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keel_client.gateway import GatewayClient, GatewayError, GatewayUnreachable, iter_sse


def port_or_free(_: int) -> int:
    """A port nothing listens on (keel-client's tests do not need the keel-dev runner)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sse(*events: dict[str, Any] | str) -> bytes:
    return b"".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events)


def chunk(text: str = "", finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {"content": text} if text else {}
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, key: str | None = "sk-keel-x") -> GatewayClient:
    return GatewayClient("http://gw.test/v1/", key, transport=httpx.MockTransport(handler))


def test_iter_sse_follows_the_framing_rules() -> None:
    lines = [
        ": a comment\r\n",
        "event: message\n",
        "data: one\n",
        "data:two\n",  # the space after the colon is optional
        "\n",
        "id: 7\n",
        "\n",  # an event without data is not dispatched
        "data: last",  # cut without its blank line
    ]
    assert list(iter_sse(lines)) == ["one\ntwo", "last"]


def test_streamed_chat_delivers_pieces_usage_and_finish() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = sse(
            chunk(),
            chunk("Hel"),
            chunk("lo"),
            chunk(finish="length"),
            {**chunk(), "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
            "[DONE]",
        )
        return httpx.Response(200, content=body, headers={"x-request-id": "chatcmpl-abc"})

    pieces: list[str] = []
    with client(handler) as gw:
        result = gw.chat("m", [{"role": "user", "content": "hi"}], max_tokens=2, on_text=pieces.append)
    assert pieces == ["Hel", "lo"] and result.text == "Hello"
    assert result.finish_reason == "length" and result.request_id == "chatcmpl-abc"
    assert result.usage == {"prompt_tokens": 5, "completion_tokens": 2}
    sent = json.loads(seen[0].content)
    assert seen[0].url == "http://gw.test/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-keel-x"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 2 and "temperature" not in sent


def test_non_streamed_chat() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is False
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "model": "m",
                "choices": [{"message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        )

    pieces: list[str] = []
    with client(handler) as gw:
        result = gw.chat("m", [{"role": "user", "content": "hi"}], stream=False, on_text=pieces.append)
    assert pieces == ["Hi!"] and result.finish_reason == "stop" and result.usage["total_tokens"] == 5


def openai_error(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"error": {"message": message, "type": "x", "param": None, "code": code}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("stream", [True, False])
def test_refusals_carry_the_message_code_and_retry_after(stream: bool) -> None:
    limit = "Rate limit reached for rpm on this API key; retry in 3s."
    rail = "The request was blocked by the 'prompt_injection' guardrail (x)."
    answers = iter(
        [
            openai_error(429, limit, "rate_limit_exceeded", {"retry-after": "3"}),
            openai_error(400, rail, "content_filter"),
            openai_error(401, "Incorrect API key provided.", "invalid_api_key"),
            httpx.Response(502, text="Bad gateway"),
        ]
    )
    with client(lambda _: next(answers)) as gw:
        errors = []
        for _ in range(4):
            with pytest.raises(GatewayError) as caught:
                gw.chat("m", [{"role": "user", "content": "hi"}], stream=stream)
            errors.append(caught.value)
    limited, blocked, unauthorised, proxy = errors
    assert limited.status == 429 and limited.retry_after == "3" and limited.message.startswith("Rate limit")
    assert blocked.code == "content_filter" and "prompt_injection" in blocked.message
    assert unauthorised.status == 401 and unauthorised.message == "Incorrect API key provided."
    assert proxy.message == "HTTP 502: Bad gateway"


def test_an_error_after_the_stream_began_and_a_stream_cut_short() -> None:
    bodies = iter(
        [
            sse(chunk("par"), {"error": {"message": "inference failed", "code": "upstream_error"}}),
            sse(chunk("par"), chunk("tial")),
        ]
    )
    with client(lambda _: httpx.Response(200, content=next(bodies))) as gw:
        pieces: list[str] = []
        with pytest.raises(GatewayError, match="inference failed") as caught:
            gw.chat("m", [{"role": "user", "content": "hi"}], on_text=pieces.append)
        assert caught.value.code == "upstream_error" and pieces == ["par"]
        with pytest.raises(GatewayError, match=r"without \[DONE\]"):
            gw.chat("m", [{"role": "user", "content": "hi"}])


def test_admin_calls_and_a_gateway_that_is_not_there() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["tenant"] == "acme"
            return httpx.Response(200, json={"object": "list", "data": [{"id": "k1"}]})
        if request.method == "DELETE":
            return openai_error(404, "No API key with id 'nope'.", "not_found")
        assert json.loads(request.content) == {
            "scopes": ["inference"], "name": "n", "rpm": 5, "tpm": 0, "concurrency": -1, "tenant": "acme",
        }  # fmt: skip
        return httpx.Response(201, json={"id": "k2", "key": "sk-keel-k2.s"})

    with client(handler) as gw:
        assert gw.list_keys("acme") == [{"id": "k1"}]
        assert gw.create_key("acme", ["inference"], "n", rpm=5, concurrency=-1)["id"] == "k2"
        with pytest.raises(GatewayError, match="No API key with id 'nope'"):
            gw.revoke_key("nope")
    url = f"http://127.0.0.1:{port_or_free(0)}"
    with GatewayClient(url, None) as gw, pytest.raises(GatewayUnreachable, match="cannot reach the gateway"):
        gw.models()
