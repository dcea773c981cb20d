"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` with the status
codes the official client maps to its exception classes.

``ApiError`` is a ``keel_common.errors.KeelError`` (one hierarchy): its ``param`` is the
``field``. A failed call to a Keel service becomes one with ``from_grpc``, which takes the
field from the call's ``google.rpc.BadRequest`` violation and maps it to the request's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from keel_common.errors import KeelError, field_violation

# OpenAI's error types by status (what the official SDK expects to see in ``type``).
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(KeelError):
    """Raised anywhere in the gateway; the app turns it into the OpenAI error body."""

    code: str | None  # type: ignore[assignment]  # OpenAI's code string, not a gRPC status

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, field=param)
        self.status = status
        self.http_status = status
        self.code = code
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}

    @property
    def param(self) -> str | None:
        return self.field

    @param.setter
    def param(self, value: str | None) -> None:
        self.field = value

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.status, self.message, self.code, self.param, self.type, self.headers))

    def to_status(self) -> grpc.Status:
        """Never sent over gRPC by the gateway; kept coherent for code that treats it as any
        KeelError (the status's code from the HTTP status)."""
        err = KeelError(self.message, field=self.field)
        err.code = _GRPC_BY_STATUS.get(self.status, grpc.StatusCode.UNKNOWN)
        return err.to_status()

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _rebuild(
    status: int, message: str, code: str | None, param: str | None, type: str, headers: dict[str, str]
) -> ApiError:
    return ApiError(status, message, code=code, param=param, type=type, headers=headers)


def invalid(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


# gRPC status of an upstream call → what the client should see.
_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_value"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_value"),
    grpc.StatusCode.NOT_FOUND: (404, "model_not_found"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_denied"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid_api_key"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "failed_precondition"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already_exists"),
    # A concurrent change won; the client may retry.
    grpc.StatusCode.ABORTED: (409, "conflict"),
    # The engine's queue is full: a server-side overload, not the client's budget.
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "engine_overloaded"),
    grpc.StatusCode.UNAVAILABLE: (503, "upstream_unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "upstream_timeout"),
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
}

# Inference's parameter names → the OpenAI request's.
_PARAMS = {
    "sampling.max_tokens": "max_tokens",
    "sampling.stop": "stop",
    "sampling.top_k": "top_k",
    "temperature": "temperature",
    "top_p": "top_p",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
    "messages": "messages",
    "prompt": "prompt",
    "model": "model",
}


_GRPC_BY_STATUS = {status: code for code, (status, _) in reversed(list(_GRPC.items()))}


def from_grpc(err: grpc.RpcError, service: str, params: Mapping[str, str] = _PARAMS) -> ApiError:
    """The client's view of a failed call to ``service``. The request field at fault comes from
    the call's BadRequest field violation, named through ``params`` (the service's field names
    → the request's); the message is the violation's description when there is one."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else "") or ""
    return upstream_error(code, details, field_violation(err), service, params)


def upstream_error(
    code: grpc.StatusCode,
    details: str,
    violation: tuple[str, str] | None,
    service: str,
    params: Mapping[str, str] = _PARAMS,
) -> ApiError:
    """``from_grpc`` for a status that did not come as a failed call (one item of a batch)."""
    status, kind = _GRPC.get(code, (502, "upstream_error"))
    if status >= 500:
        message = f"{service} is unavailable or failed: {details or code.name}"
        headers = {"retry-after": "1"} if status == 503 else {}
        return ApiError(status, message, code=kind, headers=headers)
    param = None
    if violation is not None:
        field, description = violation
        details = description or details
        if status in (400, 404, 409):
            param = params.get(field)
    return ApiError(status, details or code.name, code=kind, param=param)
