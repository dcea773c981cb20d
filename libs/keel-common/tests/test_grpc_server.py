"""The shared gRPC bootstrap with a real server on localhost and a generic test service."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keel_common.errors import InvalidArgument, NotFound, field_violation
from keel_common.grpc import GrpcService, channel, wait_healthy
from keel_common.settings import ServiceSettings

SERVICE = "keel.test.v1.EchoService"


def _identity(b: bytes) -> bytes:
    return b


def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
    text = request.decode()
    if text == "invalid":
        raise InvalidArgument("must not be 'invalid'", field="text")
    if text == "missing":
        raise NotFound("no such thing", field="id")
    if text == "crash":
        raise RuntimeError("secret internals")
    if text == "unnamed":
        raise InvalidArgument("no field to blame")
    return text.upper().encode()


def count(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for i in range(int(request.decode())):
        if i == 2:
            raise InvalidArgument("stopped at 2", field="n")
        yield str(i).encode()


def register(server: grpc.Server) -> None:
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, _identity, _identity),
        "Count": grpc.unary_stream_rpc_method_handler(count, _identity, _identity),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


class Dependency:
    """A dependency the test can break and repair."""

    def __init__(self) -> None:
        self.ok = False

    def check(self) -> None:
        if not self.ok:
            raise ConnectionError("database down")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[GrpcService, Dependency]]:
    dep = Dependency()
    settings = ServiceSettings(data_dir=tmp_path, grpc_port=0, http_port=0, health_interval_s=0.05)
    svc = GrpcService("test", settings, register, [SERVICE], {"database": dep.check})
    svc.start()
    yield svc, dep
    svc.stop(0.5)


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_health_follows_dependencies(service: tuple[GrpcService, Dependency]) -> None:
    svc, dep = service
    target = f"127.0.0.1:{svc.grpc_port}"
    with channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        assert (
            stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        )
        status, body = http_get(svc.http_port, "/readyz")
        assert status == 503 and "database down" in json.loads(body)["reasons"]["database"]
        assert http_get(svc.http_port, "/livez")[0] == 200
        dep.ok = True
        wait_healthy(target, timeout=10)  # follows the Watch stream until SERVING
        assert (
            stub.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        assert http_get(svc.http_port, "/readyz")[0] == 200
        # the dependency breaks again: the service stops claiming to be ready
        dep.ok = False
        watch = stub.Watch(health_pb2.HealthCheckRequest(), timeout=10)
        for resp in watch:
            if resp.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                watch.cancel()
                break


def test_errors_map_to_status_codes_and_metrics(service: tuple[GrpcService, Dependency]) -> None:
    svc, _ = service
    with channel(f"127.0.0.1:{svc.grpc_port}") as ch:
        call = ch.unary_unary(
            f"/{SERVICE}/Echo", request_serializer=_identity, response_deserializer=_identity
        )
        resp, rpc = call.with_call(b"hi", metadata=(("x-request-id", "req_fixed"),))
        assert resp == b"HI" and ("x-request-id", "req_fixed") in rpc.trailing_metadata()
        expected = {
            b"invalid": (grpc.StatusCode.INVALID_ARGUMENT, "text: must not be 'invalid'"),
            b"missing": (grpc.StatusCode.NOT_FOUND, "id: no such thing"),
        }
        for payload, (code, message) in expected.items():
            with pytest.raises(grpc.RpcError) as info:
                call(payload)
            assert (info.value.code(), info.value.details()) == (code, message)
            # The field travels as a google.rpc.BadRequest field violation, not only in the text.
            field, _, description = message.partition(": ")
            assert field_violation(info.value) == (field, description)
            # and a failed call still says which request it was
            assert any(k == "x-request-id" for k, _ in info.value.trailing_metadata())
        with pytest.raises(grpc.RpcError) as info:
            call(b"unnamed")
        assert info.value.details() == "no field to blame" and field_violation(info.value) is None
        with pytest.raises(grpc.RpcError) as info:
            call(b"crash")
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "secret internals" not in info.value.details() and "request_id=" in info.value.details()
        stream = ch.unary_stream(
            f"/{SERVICE}/Count", request_serializer=_identity, response_deserializer=_identity
        )
        got = []
        with pytest.raises(grpc.RpcError) as info:
            for item in stream(b"5"):
                got.append(item)
        assert got == [b"0", b"1"] and info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violation(info.value) == ("n", "stopped at 2")  # streams carry it too
        assert call(b"still up") == b"STILL UP"
    status, body = http_get(svc.http_port, "/metrics")
    text = body.decode()
    assert status == 200
    assert 'keel_test_grpc_requests_total{code="INVALID_ARGUMENT",method="Echo"}' in text
    assert 'keel_test_grpc_requests_total{code="INTERNAL",method="Echo"}' in text
    assert 'keel_test_grpc_request_duration_seconds_count{code="OK",method="Count"}' not in text
    assert 'keel_test_grpc_request_duration_seconds_count{code="INVALID_ARGUMENT",method="Count"}' in text


def test_reflection_lists_services(service: tuple[GrpcService, Dependency]) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    svc, _ = service
    with channel(f"127.0.0.1:{svc.grpc_port}") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for s in next(responses).list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names


def test_graceful_shutdown_drains_in_flight_calls(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow(request: bytes, context: grpc.ServicerContext) -> bytes:
        started.set()
        release.wait(10)
        return b"done"

    def reg(server: grpc.Server) -> None:
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    SERVICE, {"Slow": grpc.unary_unary_rpc_method_handler(slow, _identity, _identity)}
                ),
            )
        )

    settings = ServiceSettings(data_dir=tmp_path, grpc_port=0, http_port=0)
    svc = GrpcService("drain", settings, reg, [SERVICE], {})
    svc.start()
    target = f"127.0.0.1:{svc.grpc_port}"
    wait_healthy(target, 10)
    result: list[bytes] = []
    with channel(target) as ch:
        call = ch.unary_unary(
            f"/{SERVICE}/Slow", request_serializer=_identity, response_deserializer=_identity
        )
        t = threading.Thread(target=lambda: result.append(call(b"", timeout=20)))
        t.start()
        assert started.wait(10)
        # health flips before the server goes away, so balancers stop sending traffic
        watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=10)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stopper = threading.Thread(target=svc.stop, args=(10,))
        stopper.start()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()  # an open Watch would otherwise hold the drain for the whole grace period
        assert t.is_alive()  # the in-flight call is still being served
        release.set()
        t.join(10)
        stopper.join(15)
    assert result == [b"done"]
