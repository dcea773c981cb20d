"""The one error hierarchy of Keel: every service, the gateway and the client raise these.

Cores raise them; transports map them in one place (the gRPC interceptor, the HTTP error
handler) to a status code. The offending field crosses gRPC as a ``google.rpc.BadRequest``
field violation in the status details (``to_status``), so a caller reads it with
``field_violation`` instead of parsing the message.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class KeelError(Exception):
    """Base domain error. ``field`` names the request field at fault, when one is."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def to_status(self) -> grpc.Status:
        """The gRPC status for this error: its code, ``describe()`` as the details, and the
        field (when there is one) as a BadRequest field violation."""
        code_value = self.code.value[0]
        proto = status_pb2.Status(code=code_value, message=self.describe())
        if self.field:
            bad = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
                ]
            )
            proto.details.add().Pack(bad)
        return rpc_status.to_status(proto)

    def __reduce__(self) -> tuple[object, ...]:
        # Keeps ``field`` when the error crosses a process boundary (Ray pickles exceptions).
        return (_rebuild, (type(self), self.message, self.field))


def _rebuild(cls: type[KeelError], message: str, field: str | None) -> KeelError:
    return cls(message, field=field)


class InvalidArgument(KeelError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class NotFound(KeelError):
    code = grpc.StatusCode.NOT_FOUND
    http_status = 404


class AlreadyExists(KeelError):
    code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409


class FailedPrecondition(KeelError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    http_status = 409


class PermissionDenied(KeelError):
    code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403


class Unauthenticated(KeelError):
    code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class ResourceExhausted(KeelError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429


class TooLarge(KeelError):
    """A payload over a configured size limit."""

    code = grpc.StatusCode.OUT_OF_RANGE
    http_status = 413


class Aborted(KeelError):
    """A concurrent change won; the caller may retry."""

    code = grpc.StatusCode.ABORTED
    http_status = 409


class Unavailable(KeelError):
    code = grpc.StatusCode.UNAVAILABLE
    http_status = 503


class DataLoss(KeelError):
    """Stored bytes no longer match their recorded checksum."""

    code = grpc.StatusCode.DATA_LOSS
    http_status = 500


class ChecksumMismatch(KeelError):
    """Bytes differ from the checksum a caller declared."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


def field_violation(err: grpc.RpcError) -> tuple[str, str] | None:
    """``(field, description)`` of the first BadRequest field violation a failed call carries,
    or ``None`` (no details, another kind of detail, or not a Keel service)."""
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]  # a failed call is a grpc.Call
    except (ValueError, AttributeError):  # mismatched code/message in the trailers, or not a call
        return None
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            if bad.field_violations:
                return bad.field_violations[0].field, bad.field_violations[0].description
    return None
