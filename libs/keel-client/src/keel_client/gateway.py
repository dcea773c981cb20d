"""A small client of the gateway's HTTP API: API keys (admin), models and chat completions,
streamed over server-sent events that are parsed here (no ``openai`` dependency).

Every failure is a :class:`GatewayError` whose message is the one from OpenAI's error body
(``{"error": {"message", "type", "param", "code"}}``), so callers print one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
OPERATOR_TENANT = "keel"


class GatewayError(Exception):
    """A refused or failed request: ``status`` 0 when no HTTP answer came."""

    def __init__(
        self, message: str, status: int = 0, code: str | None = None, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after


class GatewayUnreachable(GatewayError):
    pass


def error_from(resp: httpx.Response) -> GatewayError:
    """The OpenAI error body of ``resp`` as a GatewayError (or its text when it is not one)."""
    code = None
    try:
        body = resp.json()
        error = body["error"]
        message = str(error.get("message") or error)
        code = error.get("code")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = resp.text.strip()[:300]
        message = f"HTTP {resp.status_code}" + (f": {text}" if text else "")
    return GatewayError(message, resp.status_code, code, resp.headers.get("retry-after"))


def iter_sse(lines: Iterable[str]) -> Iterator[str]:
    """The data of each server-sent event: ``data:`` lines joined by newlines, dispatched at a
    blank line; comments (``:``) and other fields (``event:``, ``id:``, ``retry:``) are skipped."""
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a stream cut without its final blank line
        yield "\n".join(data)


@dataclass
class ChatResult:
    text: str = ""
    request_id: str = ""
    model: str = ""
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)


class GatewayClient:
    """``base_url`` is the gateway's root (``http://host:port``; a trailing ``/v1`` is accepted)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: float = 30.0,
        chat_timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = base_url.rstrip("/")
        self.base_url = url.removesuffix("/v1")
        self.chat_timeout = chat_timeout
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------
    def _transport_error(self, exc: httpx.TransportError) -> GatewayError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return GatewayUnreachable(
                f"cannot reach the gateway at {self.base_url} ({exc or type(exc).__name__}); is `keel up` "
                "running? Point --gateway-url (or KEEL_GATEWAY_URL) at it"
            )
        if isinstance(exc, httpx.TimeoutException):
            return GatewayError(
                f"the gateway at {self.base_url} did not answer in time ({type(exc).__name__})"
            )
        return GatewayError(f"the connection to the gateway at {self.base_url} failed: {exc!r}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if resp.status_code >= 400:
            raise error_from(resp)
        try:
            return resp.json()
        except ValueError:
            raise GatewayError(f"the gateway answered {path} with a body that is not JSON") from None

    # --- admin: API keys ------------------------------------------------------------------
    def create_key(
        self,
        tenant: str | None,
        scopes: list[str],
        name: str = "",
        rpm: int = 0,
        tpm: int = 0,
        concurrency: int = 0,
    ) -> dict[str, Any]:
        """The new key's record, with the secret key under ``"key"`` (shown only this once)."""
        body: dict[str, Any] = {"scopes": scopes, "name": name, "rpm": rpm, "tpm": tpm}
        body["concurrency"] = concurrency
        if tenant:
            body["tenant"] = tenant
        result: dict[str, Any] = self._call("POST", "/v1/admin/keys", json=body)
        return result

    def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        params = {"tenant": tenant} if tenant else None
        return list(self._call("GET", "/v1/admin/keys", params=params)["data"])

    def get_key(self, key_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/admin/keys/{key_id}")
        return result

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/admin/keys/{key_id}")
        return result

    # --- OpenAI API -----------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """What this key may use; the gateway lists the base models first."""
        return list(self._call("GET", "/v1/models")["data"])

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stream: bool = True,
        on_text: Callable[[str], None] | None = None,
    ) -> ChatResult:
        """One chat completion; ``on_text`` receives the answer as it arrives (once, whole, when
        not streaming)."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        if stream:
            body["stream_options"] = {"include_usage": True}
        timeout = httpx.Timeout(self._http.timeout.connect, read=self.chat_timeout)
        result = ChatResult(model=model)
        try:
            if not stream:
                resp = self._http.post("/v1/chat/completions", json=body, timeout=timeout)
                if resp.status_code >= 400:
                    raise error_from(resp)
                whole = resp.json()
                choice = whole["choices"][0]
                result.text = choice["message"].get("content") or ""
                result.finish_reason = choice.get("finish_reason")
                result.request_id = whole.get("id") or resp.headers.get("x-request-id", "")
                result.model = whole.get("model") or model
                result.usage = dict(whole.get("usage") or {})
                if on_text and result.text:
                    on_text(result.text)
                return result
            with self._http.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise error_from(resp)
                result.request_id = resp.headers.get("x-request-id", "")
                self._read_stream(resp.iter_lines(), result, on_text)
            return result
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None

    @staticmethod
    def _read_stream(lines: Iterable[str], result: ChatResult, on_text: Callable[[str], None] | None) -> None:
        for data in iter_sse(lines):
            if data.strip() == "[DONE]":
                return
            try:
                event = json.loads(data)
            except ValueError:
                raise GatewayError(f"the gateway sent an event that is not JSON: {data[:200]!r}") from None
            if "error" in event:  # a failure after the stream began (the status was already 200)
                error = event["error"] or {}
                raise GatewayError(str(error.get("message") or error), 200, error.get("code"))
            result.request_id = event.get("id") or result.request_id
            result.model = event.get("model") or result.model
            if event.get("usage"):
                result.usage = dict(event["usage"])
            for choice in event.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    result.text += piece
                    if on_text:
                        on_text(piece)
                if choice.get("finish_reason"):
                    result.finish_reason = choice["finish_reason"]
        raise GatewayError("the gateway's stream ended without [DONE]; the answer may be incomplete")
