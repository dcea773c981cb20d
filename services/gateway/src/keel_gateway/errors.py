"""OpenAI-shaped errors: ``{"error": {"message", "type", "param", "code"}}`` with the status
codes the official client maps to its exception classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

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


class ApiError(Exception):
    """Raised anywhere in the gateway; the app turns it into the OpenAI error body."""

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
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


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


def from_grpc(err: grpc.RpcError, service: str, params: Mapping[str, str] = _PARAMS) -> ApiError:
    """The client's view of a failed call to ``service``; ``params`` maps the service's field
    names to the request's."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else "") or ""
    status, kind = _GRPC.get(code, (502, "upstream_error"))
    param = None
    # Keel services put "field: message" in the details (keel_common.errors.KeelError.describe).
    head, sep, rest = details.partition(": ")
    if sep and status in (400, 404, 409) and head in params:
        param = params[head]
        details = rest
    if status >= 500:
        message = f"{service} is unavailable or failed: {details or code.name}"
        headers = {"retry-after": "1"} if status == 503 else {}
        return ApiError(status, message, code=kind, headers=headers)
    return ApiError(status, details or code.name, code=kind, param=param)
