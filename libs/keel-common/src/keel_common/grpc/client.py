"""Client side helpers: channels with sane options, and waiting for a server's health."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keel_common.errors import Unavailable

_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.enable_retries", 1),
]


def channel(target: str) -> grpc.Channel:
    return grpc.insecure_channel(target, options=_OPTIONS)


def aio_channel(target: str) -> grpc.aio.Channel:
    """The asyncio flavour, same options (the gateway calls services from its event loop)."""
    return grpc.aio.insecure_channel(target, options=_OPTIONS)


def health_status(ch: grpc.Channel, service: str = "", timeout: float = 2.0) -> str:
    """SERVING / NOT_SERVING / UNKNOWN / UNREACHABLE, never raises."""
    try:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
    except grpc.RpcError:
        return "UNREACHABLE"


def wait_healthy(target: str, timeout: float = 30.0, service: str = "") -> None:
    """Block until ``target`` reports SERVING, following the health Watch stream (no polling);
    raise Unavailable with the last status seen otherwise."""
    status = "UNREACHABLE"
    with channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        stream = stub.Watch(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout, wait_for_ready=True
        )
        try:
            for resp in stream:
                status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
                if resp.status == health_pb2.HealthCheckResponse.SERVING:
                    return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise Unavailable(f"{target} health watch failed: {exc.code().name} {exc.details()}") from exc
        finally:
            stream.cancel()
    raise Unavailable(f"{target} not healthy after {timeout:.0f}s (last status {status})")
