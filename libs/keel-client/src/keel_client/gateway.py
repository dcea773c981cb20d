"""A small client of the gateway's HTTP API: API keys (admin), models, chat completions, files
and fine-tuning jobs, documents and datasets (their methods live in ``keel_client.datasets``),
feedback (``keel_client.feedback``), the registry (``keel_client.registry_routes``) and
evaluations by generation (``keel_client.evaluations``);
chat answers and job events stream over server-sent events that are parsed here (no ``openai``
dependency).

Every failure is a :class:`GatewayError` whose message is the one from OpenAI's error body
(``{"error": {"message", "type", "param", "code"}}``), so callers print one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from keel_client.datasets import DatasetsMixin
from keel_client.errors import GatewayError, GatewayUnreachable, error_from
from keel_client.evaluations import EvaluationsMixin
from keel_client.feedback import FeedbackMixin
from keel_client.registry_routes import RegistryRoutesMixin
from keel_common.contract import REQUEST_ID_HEADER

DEFAULT_URL = "http://127.0.0.1:8080"
__all__ = ["DEFAULT_URL", "GatewayClient", "GatewayError", "GatewayUnreachable", "error_from"]


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


class GatewayClient(DatasetsMixin, FeedbackMixin, RegistryRoutesMixin, EvaluationsMixin):
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
                result.request_id = whole.get("id") or resp.headers.get(REQUEST_ID_HEADER, "")
                result.model = whole.get("model") or model
                result.usage = dict(whole.get("usage") or {})
                if on_text and result.text:
                    on_text(result.text)
                return result
            with self._http.stream("POST", "/v1/chat/completions", json=body, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise error_from(resp)
                result.request_id = resp.headers.get(REQUEST_ID_HEADER, "")
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

    # --- files and fine-tuning jobs (a key with the training scope) ---------------------------
    def upload_file(
        self, path: str | Path, purpose: str = "fine-tune", timeout: float = 300.0
    ) -> dict[str, Any]:
        """Upload a JSONL file of chat examples; the gateway validates every line before it keeps
        the file, and a refusal lists the faulty lines (``GatewayError.param == "file"``)."""
        p = Path(path)
        with p.open("rb") as f:
            result: dict[str, Any] = self._call(
                "POST",
                "/v1/files",
                files={"file": (p.name, f, "application/jsonl")},
                data={"purpose": purpose},
                timeout=httpx.Timeout(self._http.timeout.connect, read=timeout, write=timeout),
            )
        return result

    def list_files(self, purpose: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The tenant's files, newest first (every page, or the first ``limit``)."""
        return self._list("/v1/files", {"purpose": purpose} if purpose else {}, limit, page_size=100)

    def get_file(self, file_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/files/{file_id}")
        return result

    def delete_file(self, file_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/v1/files/{file_id}")
        return result

    def create_job(
        self,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        suffix: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        seed: int | None = None,
        metadata: dict[str, str] | None = None,
        method: dict[str, Any] | None = None,
        auto_promote: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A fine-tuning job (OpenAI's shape; Keel's extras under ``"keel"``). With the same
        ``idempotency_key`` a retried request returns the job the first one created. ``method``
        is OpenAI's, e.g. ``{"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}}``.
        ``auto_promote`` (Keel's, e.g. ``{"alias": "production", "metric": "eval_f1",
        "margin": 0.0, "min_examples": 10}``) promotes the job's version through the evaluation
        gate when it succeeds: ``job["keel"]["promotion_evaluation_id"]`` names the evaluation."""
        body: dict[str, Any] = {"model": model, "training_file": training_file}
        optional = {
            "validation_file": validation_file,
            "suffix": suffix,
            "hyperparameters": hyperparameters,
            "seed": seed,
            "metadata": metadata,
            "method": method,
            "auto_promote": auto_promote,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self._call("POST", "/v1/fine_tuning/jobs", json=body, headers=headers)
        return result

    def list_jobs(self, limit: int | None = 20) -> list[dict[str, Any]]:
        """The tenant's jobs, newest first (the first ``limit``; ``None`` for every page)."""
        return self._list("/v1/fine_tuning/jobs", {}, limit, page_size=100)

    def get_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/fine_tuning/jobs/{job_id}")
        return result

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")
        return result

    def job_events(self, job_id: str, limit: int = 20, after: str | None = None) -> list[dict[str, Any]]:
        """One page of the job's events, newest first (``after``: the last event id already seen)."""
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return list(self._call("GET", f"/v1/fine_tuning/jobs/{job_id}/events", params=params)["data"])

    def follow_job(self, job_id: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """The job's events oldest first (those after event id ``after``), then live ones as they
        happen, until the job reaches a final status. Raises GatewayError when the gateway reports
        an error in the stream or the stream ends before its ``[DONE]``."""
        params: dict[str, Any] = {"stream": "true"}
        if after:
            params["after"] = after
        # A queued job may be silent for a long time: no read timeout.
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        path = f"/v1/fine_tuning/jobs/{job_id}/events"
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise error_from(resp)
                for data in iter_sse(resp.iter_lines()):
                    if data.strip() == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise GatewayError(
                            f"the gateway sent an event that is not JSON: {data[:200]!r}"
                        ) from None
                    if isinstance(event, dict) and "error" in event:
                        error = event["error"] or {}
                        raise GatewayError(
                            str(error.get("message") or error),
                            200,
                            error.get("code"),
                            None,
                            error.get("param"),
                        )
                    yield event
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        raise GatewayError("the gateway's event stream ended without [DONE]; the job may still be running")

    def job_checkpoints(self, job_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The job's checkpoints, newest first."""
        return self._list(f"/v1/fine_tuning/jobs/{job_id}/checkpoints", {}, limit, page_size=100)

    def _list(
        self,
        path: str,
        params: dict[str, Any],
        limit: int | None,
        page_size: int = 100,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Follow OpenAI's cursor pages (``has_more``, ``after`` = the last id) from ``after`` on,
        up to ``limit`` items (``None``: every page); parameters that are ``None`` are left out."""
        found: list[dict[str, Any]] = []
        given = {k: v for k, v in params.items() if v is not None}
        while limit is None or len(found) < limit:
            want = page_size if limit is None else min(page_size, limit - len(found))
            page = self._call(
                "GET", path, params={**given, "limit": want, **({"after": after} if after else {})}
            )
            data = list(page.get("data") or ())
            found.extend(data)
            if not page.get("has_more") or not data:
                break
            after = page.get("last_id") or data[-1]["id"]
        return found
