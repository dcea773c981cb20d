"""Domain errors shared by every Keel service.

Cores raise these; transports map them in one place (the gRPC interceptor, the HTTP
error handler) to a status code and a message that names the offending field.
"""

from __future__ import annotations

import grpc


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
