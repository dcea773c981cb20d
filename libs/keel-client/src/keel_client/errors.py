"""The gateway client's errors, shared by ``gateway`` and ``datasets`` (and re-exported by
``keel_client.gateway``, where callers import them)."""

from __future__ import annotations

import httpx

from keel_common.errors import KeelError


class GatewayError(KeelError):
    """A refused or failed request: ``status`` 0 when no HTTP answer came; ``code`` is OpenAI's
    error code string and ``param`` (also ``field``) the request field at fault."""

    code: str | None  # type: ignore[assignment]  # OpenAI's code string, as its clients name it

    def __init__(
        self,
        message: str,
        status: int = 0,
        code: str | None = None,
        retry_after: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message, field=param)
        self.status = status
        self.http_status = status
        self.code = code
        self.retry_after = retry_after
        self.param = param  # the request field at fault, when the gateway names one

    def __str__(self) -> str:
        return self.message  # the gateway's message already names the field where it matters

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.status, self.code, self.retry_after, self.param))


class GatewayUnreachable(GatewayError):
    pass


def error_from(resp: httpx.Response) -> GatewayError:
    """The OpenAI error body of ``resp`` as a GatewayError (or its text when it is not one)."""
    code = param = None
    try:
        body = resp.json()
        error = body["error"]
        message = str(error.get("message") or error)
        code = error.get("code")
        param = error.get("param")
    except (ValueError, KeyError, TypeError, AttributeError):
        text = resp.text.strip()[:300]
        message = f"HTTP {resp.status_code}" + (f": {text}" if text else "")
    return GatewayError(message, resp.status_code, code, resp.headers.get("retry-after"), param)
