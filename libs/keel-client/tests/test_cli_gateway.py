"""`keel keys` and `keel chat`, and what every command shares (the root group's error line, the
API key and gateway URL it picks, the keel-dev commands when that package is missing), against
a real HTTP server on localhost that plays the gateway. The real gateway is exercised in
tests/integration/test_local_platform.py; here each case is pinned exactly."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keel_client import cli
from keel_client.cli import main
from keel_client.state import Component, PlatformState, admin_key_path

GOOD = "sk-keel-good.secret"
KEY = {"id": "k1", "tenant": "acme", "name": "app", "scopes": ["inference"], "created_at": 1_700_000_000}


def openai_error(status: int, message: str, code: str) -> tuple[int, dict[str, Any]]:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return status, {"error": error}


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"content-type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _authorised(self, body: Any = None) -> bool:
        self.seen.append({"method": self.command, "path": self.path, "body": body, **dict(self.headers)})
        if self.headers.get("authorization") != f"Bearer {GOOD}":
            self._reply(*openai_error(401, "Incorrect API key provided.", "invalid_api_key"))
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorised():
            return
        if self.path == "/v1/models":
            self._reply(200, {"object": "list", "data": [{"id": "base-m"}, {"id": "ft-m"}]})
        elif self.path.startswith("/v1/admin/keys"):
            revoked = {**KEY, "id": "k0", "revoked_at": 1_700_000_100, "limits": {"rpm": -1, "tpm": 500}}
            self._reply(200, {"object": "list", "data": [{**KEY, "limits": {"rpm": 60}}, revoked]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if not self._authorised(body):
            return
        if self.path == "/v1/admin/keys":
            if body.get("tenant") == "Not Valid":
                self._reply(*openai_error(400, "'Not Valid' is not a valid tenant", "invalid_value"))
                return
            self._reply(201, {**KEY, "tenant": body.get("tenant", "keel"), "key": "sk-keel-k1.new"})
        elif body["model"] == "busy":
            limited = openai_error(429, "Rate limit reached.", "rate_limit_exceeded")
            self._reply(*limited, {"retry-after": "3"})
        elif body["stream"]:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("x-request-id", "req-1")
            self.end_headers()
            chunk = {"id": "chatcmpl-1", "model": body["model"], "choices": [{"delta": {"content": "Hel"}}]}
            last = {**chunk, "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}
            usage = {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
            for event in (chunk, last, usage):
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True
        else:
            turns = len([m for m in body["messages"] if m["role"] == "user"])
            self._reply(200, {
                "id": "chatcmpl-2", "model": body["model"],
                "choices": [{"message": {"content": f"answer {turns}"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4},
            })  # fmt: skip

    def do_DELETE(self) -> None:
        if not self._authorised():
            return
        if self.path.endswith("/nope"):
            self._reply(*openai_error(404, "No API key with id 'nope'.", "not_found"))
            return
        self._reply(200, {**KEY, "revoked_at": 1_700_000_200})


@pytest.fixture
def gateway(http_server: Callable[[type[Gateway]], str]) -> tuple[str, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    return http_server(type("Handler", (Gateway,), {"seen": seen})), seen


@pytest.fixture(autouse=True)
def _no_local_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DATA_DIR", str(tmp_path / "keel"))
    for name in ("KEEL_API_KEY", "KEEL_GATEWAY_URL", "KEEL_REGISTRY_ADDR"):
        monkeypatch.delenv(name, raising=False)


def keel(*args: str, code: int = 0, input: str | None = None) -> str:
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_keys_commands(gateway: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = gateway
    auth = ("--gateway-url", url, "--api-key", GOOD)
    out = keel("keys", "create", "--tenant", "acme", "--scopes", "inference, training", "--rpm", "5", *auth)
    assert "created key k1 for tenant acme (scopes inference)" in out and out.endswith("sk-keel-k1.new\n")
    assert seen[-1]["body"] == {
        "scopes": ["inference", "training"], "name": "", "rpm": 5, "tpm": 0, "concurrency": 0,
        "tenant": "acme",
    }  # fmt: skip
    assert json.loads(keel("keys", "create", "--json", *auth))["key"] == "sk-keel-k1.new"
    listing = keel("keys", "list", "--tenant", "acme", *auth)
    assert seen[-1]["path"] == "/v1/admin/keys?tenant=acme"
    k1 = next(line for line in listing.splitlines() if "│ k1" in line)
    assert "60" in k1 and "default" in k1 and "2023-11-14 22:13:20" in k1
    k0 = next(line for line in listing.splitlines() if "│ k0" in line)
    assert "unlimited" in k0 and "500" in k0 and "2023-11-14 22:15:00" in k0  # revoked at
    assert "revoked k1 (tenant acme)" in keel("keys", "revoke", "k1", *auth)


def test_a_refused_request_is_one_line_and_exit_1(gateway: tuple[str, list[dict[str, Any]]]) -> None:
    url, _ = gateway
    auth = ("--gateway-url", url, "--api-key", GOOD)
    assert keel("keys", "revoke", "nope", *auth, code=1) == "error: No API key with id 'nope'.\n"
    assert "is not a valid tenant" in keel("keys", "create", "--tenant", "Not Valid", *auth, code=1)
    out = keel("keys", "list", "--gateway-url", url, "--api-key", "sk-keel-bad", code=1)
    assert out == "error: Incorrect API key provided.\n"
    out = keel("chat", "--model", "busy", "-m", "hi", *auth, code=1)
    assert out == "error: Rate limit reached.\nretry after 3 s\n"


def test_chat_streams_then_summarises(gateway: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = gateway
    out = keel("chat", "-m", "Say hello", "--max-tokens", "8", "--gateway-url", url, "--api-key", GOOD)
    # the first model listed; the chunks' id is the request id
    assert out == "Hello\nchatcmpl-1 · base-m · 5+2 tokens · finish stop\n"
    body = seen[-1]["body"]
    assert body["model"] == "base-m" and body["max_tokens"] == 8 and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]


def test_chat_conversation_keeps_its_history(gateway: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = gateway
    out = keel(
        "chat", "--model", "ft-m", "--no-stream", "--system", "Be brief.", "--gateway-url", url,
        "--api-key", GOOD, input="one\n\ntwo\n/exit\n",
    )  # fmt: skip
    assert "chatting with ft-m" in out and "answer 1" in out and "answer 2" in out
    assert "chatcmpl-2 · ft-m · 3+4 tokens · finish length" in out
    messages = seen[-1]["body"]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "answer 1"


def test_the_saved_admin_key_goes_only_to_a_gateway_on_this_machine(
    gateway: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """No flags: the running `keel up`'s gateway (state file) and its saved admin key; a gateway
    elsewhere never gets that key."""
    url, seen = gateway
    data = tmp_path / "keel"
    state = PlatformState(str(data))
    data.mkdir()
    state.components["gateway"] = Component("gateway", http=url)
    state.save()
    admin_key_path(data).parent.mkdir()
    admin_key_path(data).write_text(GOOD + "\n")
    assert "k1" in keel("keys", "list")
    assert seen[-1]["authorization"] == f"Bearer {GOOD}"
    out = keel("keys", "list", "--gateway-url", "http://gateway.example:8080", code=2)
    assert "no API key: pass --api-key or set KEEL_API_KEY" in out


def test_an_unreachable_gateway(gateway: tuple[str, list[dict[str, Any]]]) -> None:
    out = keel("keys", "list", "--gateway-url", "http://127.0.0.1:9", "--api-key", GOOD, code=1)
    assert out.startswith("error: cannot reach the gateway at http://127.0.0.1:9")


def test_local_commands_without_keel_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    """keel-client alone: `keel up` and friends are listed and say which package they need."""
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert "Run the whole platform locally (needs keel-dev)." in keel("--help")
    for command in ("up", "status", "demo"):
        out = keel(command, "--no-inference", code=1)
        assert out == f"keel {command} needs the keel-dev package: pip install keel-dev\n"
    assert "No such command 'nope'" in keel("nope", code=2)


def test_local_commands_with_keel_dev() -> None:
    """With keel-dev installed (as in this repository), its commands are the real ones."""
    result = CliRunner().invoke(main, ["up", "--help"])
    assert result.exit_code == 0 and "--max-restarts" in result.output
