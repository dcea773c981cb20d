"""Golden OpenAI shapes: the gateway's JSON bodies and SSE stream, compared (key order included)
with the files under ``golden/`` after request ids and timestamps are normalised. A change
here is a change every OpenAI client sees. Regenerate deliberately with
``KEEL_UPDATE_GOLDEN=1 pytest services/gateway/tests/test_golden.py`` and review the diff.

Inference is conftest's scripted server (fixed text and usage); keys, Valkey and the registry
(for the models list) are real."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel_gateway.testing import ThreadedGateway

GOLDEN = Path(__file__).parent / "golden"
BASE = "smollm2-135m-instruct"
UPDATE = os.environ.get("KEEL_UPDATE_GOLDEN") == "1"


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("id", "request_id") and isinstance(v, str) and v.startswith(("chatcmpl-", "cmpl-")):
                v = v.split("-")[0] + "-<id>"
            elif k == "created" and isinstance(v, int) and v:
                v = "<timestamp>"
            out[k] = _normalise(v)
        return out
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _check(name: str, actual: Any) -> None:
    path = GOLDEN / f"{name}.json"
    normalised = _normalise(actual)
    if UPDATE:
        path.write_text(json.dumps(normalised, indent=2, ensure_ascii=False) + "\n")
    expected = json.loads(path.read_text())
    # Compared as text: dict equality would not see a change of key order.
    assert json.dumps(normalised, indent=2) == json.dumps(expected, indent=2)


def _body(r: httpx.Response) -> Any:
    """The parsed body, after checking it is compact JSON as OpenAI sends it."""
    body = r.json()
    assert r.text == _compact(body)
    return body


@pytest.fixture
def gw(make_gateway: Callable[..., ThreadedGateway], acme_registry: Any) -> ThreadedGateway:
    return make_gateway(registry_target=f"127.0.0.1:{acme_registry.grpc_port}")


@pytest.fixture
def token(key: Callable[..., str]) -> str:
    return key("acme", "inference")


def _post(gw: ThreadedGateway, path: str, token: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{gw.url}{path}", json=body, headers=headers, timeout=30)


CHAT = {"model": BASE, "messages": [{"role": "user", "content": "Who is the mascot?"}]}


def test_chat_completion_body(gw: ThreadedGateway, token: str) -> None:
    _check("chat_completion", _body(_post(gw, "/v1/chat/completions", token, CHAT)))


def test_completion_body(gw: ThreadedGateway, token: str) -> None:
    r = _post(gw, "/v1/completions", token, {"model": BASE, "prompt": "The mascot is"})
    _check("completion", _body(r))


def test_chat_stream_with_usage(gw: ThreadedGateway, token: str) -> None:
    body = CHAT | {"stream": True, "stream_options": {"include_usage": True}}
    r = _post(gw, "/v1/chat/completions", token, body)
    assert r.text.endswith("\n\n") and all(e.startswith("data: ") for e in r.text.split("\n\n") if e)
    events: list[Any] = []
    for line in (e.removeprefix("data: ") for e in r.text.split("\n\n") if e):
        if line == "[DONE]":
            events.append(line)
            continue
        chunk = json.loads(line)
        assert line == _compact(chunk)
        events.append(chunk)
    _check("chat_stream", events)


def test_models_list(gw: ThreadedGateway, token: str) -> None:
    r = httpx.get(f"{gw.url}/v1/models", headers={"Authorization": f"Bearer {token}"})
    _check("models_list", _body(r))


def test_error_envelopes(gw: ThreadedGateway, token: str) -> None:
    errors = {
        "missing_api_key": _post(gw, "/v1/chat/completions", None, CHAT),
        "invalid_value": _post(gw, "/v1/chat/completions", token, CHAT | {"temperature": 5}),
        "model_not_found": _post(gw, "/v1/chat/completions", token, CHAT | {"model": "nope"}),
    }
    _check("errors", {name: {"status": r.status_code, "body": _body(r)} for name, r in errors.items()})
