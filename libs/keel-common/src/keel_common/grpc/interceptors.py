"""One server interceptor: request ids, domain-error → status mapping, per-RPC metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc
from prometheus_client import Counter, Histogram

from keel_common import metrics
from keel_common.contract import REQUEST_ID_HEADER
from keel_common.errors import KeelError
from keel_common.ids import new_id
from keel_common.logging import request_id_var

log = logging.getLogger(__name__)

_METRICS: dict[str, tuple[Counter, Histogram]] = {}

if TYPE_CHECKING:  # grpc-stubs makes these generic; grpcio's runtime classes are not subscriptable
    Handler = grpc.RpcMethodHandler[Any, Any]
    InterceptorBase = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    InterceptorBase = grpc.ServerInterceptor


def rpc_metrics(service: str) -> tuple[Counter, Histogram]:
    """Per-service RPC counter and latency histogram, created once per process."""
    if service not in _METRICS:
        _METRICS[service] = (
            metrics.counter(service, "grpc_requests", "gRPC requests handled", ("method", "code")),
            metrics.histogram(service, "grpc_request_duration", "gRPC request latency", ("method", "code")),
        )
    return _METRICS[service]


class _Call:
    """Shared bookkeeping for one RPC, whatever its cardinality."""

    def __init__(self, method: str, context: grpc.ServicerContext, service: str) -> None:
        self.method = method
        self.context = context
        self.service = service
        self.start = time.perf_counter()
        md = dict(context.invocation_metadata() or ())
        self.request_id = str(md.get(REQUEST_ID_HEADER) or new_id("req"))
        self.token = request_id_var.set(self.request_id)

    def _code(self) -> grpc.StatusCode | None:
        code: grpc.StatusCode | None = self.context.code()  # type: ignore[attr-defined]  # missing in grpc-stubs
        return code

    def fail(self, exc: BaseException) -> None:
        """Turn an exception into a status; re-raise what gRPC already handles."""
        if isinstance(exc, KeelError):
            status = exc.to_status()
            # abort_with_status would replace the trailers, request id included: keep both.
            self.context.set_trailing_metadata(
                (*status.trailing_metadata, (REQUEST_ID_HEADER, self.request_id))
            )
            self.context.abort(status.code, status.details)
        if self._code() not in (None, grpc.StatusCode.OK):
            raise exc  # the servicer already called context.abort
        log.exception("unhandled error in %s", self.method)
        self.context.abort(grpc.StatusCode.INTERNAL, f"internal error (request_id={self.request_id})")

    def done(self, error: BaseException | None) -> None:
        code = self._code()
        if code is None:
            code = grpc.StatusCode.OK if error is None else grpc.StatusCode.UNKNOWN
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        count, latency = rpc_metrics(self.service)
        count.labels(self.method, name).inc()
        latency.labels(self.method, name).observe(time.perf_counter() - self.start)
        request_id_var.reset(self.token)


class ServiceInterceptor(InterceptorBase):
    def __init__(self, service: str) -> None:
        self.service = service

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]
        if handler_call_details.method.startswith(("/grpc.health.v1.Health/", "/grpc.reflection.")):
            return handler  # health and reflection stay untouched (and out of the metrics)
        service = self.service

        def unary_result(behaviour: Callable[..., Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                call = _Call(method, context, service)
                error: BaseException | None = None
                try:
                    context.set_trailing_metadata(((REQUEST_ID_HEADER, call.request_id),))
                    return behaviour(request, context)
                except BaseException as exc:
                    error = exc
                    call.fail(exc)
                finally:
                    call.done(error)

            return wrapped

        def stream_result(
            behaviour: Callable[..., Iterator[Any]],
        ) -> Callable[[Any, grpc.ServicerContext], Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = _Call(method, context, service)
                error: BaseException | None = None
                try:
                    context.set_trailing_metadata(((REQUEST_ID_HEADER, call.request_id),))
                    yield from behaviour(request, context)
                except GeneratorExit:
                    # The client went away mid-stream (cancelled a watch): not an error.
                    raise
                except BaseException as exc:
                    error = exc
                    call.fail(exc)
                finally:
                    call.done(error)

            return wrapped

        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_result(handler.unary_unary), **kwargs)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary_result(handler.stream_unary), **kwargs)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_result(handler.unary_stream), **kwargs)
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(stream_result(handler.stream_stream), **kwargs)
        return handler
