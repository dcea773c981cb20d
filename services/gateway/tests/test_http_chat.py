"""The chat and completions routers over a real gateway (uvicorn on a socket, real Valkey) and
the scripted inference server of conftest: JSON bodies, SSE chunks, headers, auth and scopes,
request validation and body limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from keel_gateway.testing import ThreadedGateway

BASE = "smollm2-135m-instruct"
CHAT = {"model": BASE, "messages": [{"role": "user", "content": "Who is the mascot?"}], "max_tokens": 8}


def _post(gw: ThreadedGateway, path: str, body: Any, token: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{gw.url}{path}", json=body, headers=headers, timeout=30, **kw)


def _events(resp: httpx.Response) -> list[str]:
    return [ln.removeprefix("data: ") for ln in resp.text.split("\n\n") if ln]


def test_a_chat_completion_is_openais_body_with_keel_headers(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    r = _post(gw, "/v1/chat/completions", CHAT, key("acme", "inference"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Bartholomew the walrus.",
        "refusal": None,
    }
    assert body["usage"] == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    assert r.headers["x-request-id"] == body["id"] and r.headers["x-keel-model"] == BASE
    assert "inference;dur=" in r.headers["server-timing"]


def test_a_streamed_chat_sends_role_pieces_finish_usage_and_done(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    body = CHAT | {"stream": True, "stream_options": {"include_usage": True}}
    r = _post(gw, "/v1/chat/completions", body, key("acme", "inference"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Bartholomew the walrus."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 14
    assert all(c["usage"] is None for c in chunks[:-1])
    assert len({c["id"] for c in chunks}) == 1


def test_completions_json_and_stream(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    token = key("acme", "inference")
    r = _post(gw, "/v1/completions", {"model": BASE, "prompt": "The mascot is"}, token)
    assert r.status_code == 200 and r.json()["object"] == "text_completion"
    assert r.json()["choices"][0]["text"] == "Bartholomew the walrus."
    r = _post(gw, "/v1/completions", {"model": BASE, "prompt": "The mascot is", "stream": True}, token)
    chunks = [json.loads(e) for e in _events(r)[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "Bartholomew the walrus."
    assert "usage" not in chunks[-1]  # only with stream_options.include_usage


def test_auth_and_scope_failures(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    r = _post(gw, "/v1/chat/completions", CHAT)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    r = httpx.post(f"{gw.url}/v1/chat/completions", json=CHAT, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = _post(gw, "/v1/chat/completions", CHAT, "sk-keel-abcdefghijkl.notarealsecretnotarealsecret")
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = _post(gw, "/v1/chat/completions", CHAT, key("acme", "training"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert "'inference' scope" in r.json()["error"]["message"]


def test_validation_errors_name_the_param(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    token = key("acme", "inference")
    h = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    r = httpx.post(f"{gw.url}/v1/chat/completions", content=b"{nope", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(f"{gw.url}/v1/chat/completions", content=b"[1]", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    for bad, param, code in (
        ({"temperature": 3}, "temperature", "invalid_value"),
        ({"n": 2}, "n", "unsupported_parameter"),
        ({"tools": [{"type": "function"}]}, "tools", "unsupported_parameter"),
        ({"model": None}, "model", "invalid_value"),
        # OpenAI's metadata limits: 16 pairs, keys up to 64 and values up to 512 characters
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "invalid_value"),
        ({"metadata": {"k" * 65: "v"}}, "metadata", "invalid_value"),
        ({"metadata": {"k": "v" * 513}}, "metadata", "invalid_value"),
        ({"store": "maybe"}, "store", "invalid_value"),
    ):
        r = _post(gw, "/v1/chat/completions", CHAT | bad, token)
        assert r.status_code == 400, (bad, r.text)
        assert (r.json()["error"]["param"], r.json()["error"]["code"]) == (param, code)
    r = _post(gw, "/v1/chat/completions", {"model": BASE}, token)
    assert r.json()["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "missing_required_parameter",
    }
    # Not a base model, and this gateway has no registry to ask: a 503 to retry, not a 404.
    r = _post(gw, "/v1/chat/completions", CHAT | {"model": "acme-bot"}, token)
    assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
    assert r.headers["retry-after"] == "1"
    assert r.headers["x-request-id"].startswith("chatcmpl-")  # an error after admission is traceable


def test_bodies_over_the_limit_are_413_announced_or_streamed(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    token = key("acme", "inference")
    big = CHAT | {"messages": [{"role": "user", "content": "x" * 5000}]}
    r = _post(gw, "/v1/chat/completions", big, token)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

    def chunked() -> Any:  # no content-length: counted as it arrives
        yield json.dumps(big).encode()

    r = httpx.post(
        f"{gw.url}/v1/chat/completions",
        content=chunked(),
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
    # Files have their own, larger limit: 5000 bytes is under it (and fails later, on the scope).
    r = httpx.post(
        f"{gw.url}/v1/files",
        files={"file": ("a.jsonl", b"x" * 5000)},
        data={"purpose": "fine-tune"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    r = httpx.post(
        f"{gw.url}/v1/files",
        files={"file": ("a.jsonl", b"x" * 9000)},
        data={"purpose": "fine-tune"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 413


def test_a_union_typed_field_is_named_without_pydantics_member_tag(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    """n_epochs is an integer or "auto": a bad value names `hyperparameters.n_epochs`, not
    pydantic's `hyperparameters.n_epochs.constrained-int`."""
    gw = make_gateway()
    body = {"model": BASE, "training_file": "file-x", "hyperparameters": {"n_epochs": "many"}}
    r = _post(gw, "/v1/fine_tuning/jobs", body, key("acme", "training"))
    assert r.status_code == 400 and r.json()["error"]["param"] == "hyperparameters.n_epochs", r.text
