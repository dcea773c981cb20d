"""Enum short names and the actor header, on real generated enums and a real gRPC server."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
import pytest

from keel.registry.v1 import registry_pb2 as rpb
from keel.training.v1 import training_pb2 as tpb
from keel_common.contract import ACTOR_HEADER
from keel_common.grpc.metadata import actor
from keel_common.protoenum import enum_name, enum_value, prefix


def test_prefix_is_derived_from_the_enum_name() -> None:
    assert prefix(rpb.VersionStatus) == "VERSION_STATUS_"
    assert prefix(tpb.JobStatus) == "JOB_STATUS_"
    assert prefix(rpb.AliasAction) == "ALIAS_ACTION_"


def test_names_round_trip() -> None:
    assert enum_name(rpb.VersionStatus, rpb.VERSION_STATUS_READY) == "READY"
    assert enum_name(tpb.JobStatus, tpb.JOB_STATUS_SUCCEEDED).lower() == "succeeded"
    assert enum_value(tpb.JobStatus, "running") == tpb.JOB_STATUS_RUNNING
    with pytest.raises(ValueError):
        enum_name(rpb.VersionStatus, 999)
    with pytest.raises(ValueError):
        enum_value(rpb.VersionStatus, "NOPE")


def _echo_actor_server() -> tuple[grpc.Server, int]:
    def handle(request: bytes, context: Any) -> bytes:
        return actor(request.decode(), context).encode()

    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Actor": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_actor_prefers_the_field_then_the_header() -> None:
    server, port = _echo_actor_server()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            call = ch.unary_unary("/test.Echo/Actor", None, None)
            assert call(b"alice", timeout=5) == b"alice"
            assert call(b"", metadata=((ACTOR_HEADER, "bob"),), timeout=5) == b"bob"
            assert call(b"", timeout=5) == b"anonymous"
    finally:
        server.stop(None)
