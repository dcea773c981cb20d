"""Honest health: the registry stops claiming readiness when Redis goes away, keeps serving
what it can (alias moves commit; their events are counted as lost), and recovers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from keel_client.registry import RegistryClient
from keel_common.grpc import channel, wait_healthy
from keel_common.redis import EmbeddedValkey
from keel_registry.config import RegistrySettings
from keel_registry.grpc_api import build


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def watch_until(target: str, wanted: int) -> None:
    with channel(target) as ch:
        stream = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=20)
        for resp in stream:
            if resp.status == wanted:
                stream.cancel()
                return


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def test_redis_outage_flips_readiness_and_recovers(tmp_path: Path) -> None:
    valkey = EmbeddedValkey(tmp_path / "v", persist=False)
    url = valkey.start()
    port = valkey.port
    settings = RegistrySettings(
        data_dir=tmp_path, grpc_port=0, http_port=0, redis_url=url, health_interval_s=0.1
    )
    svc = build(settings)
    svc.start()
    target = f"127.0.0.1:{svc.grpc_port}"
    try:
        wait_healthy(target, 30)
        assert readyz(svc.http_port)[0] == 200
        with RegistryClient(target) as c:
            store_dir = tmp_path / "adapter"
            store_dir.mkdir()
            (store_dir / "w.bin").write_bytes(b"w")
            c.create_model("m")
            ref = c.upload_dir("m", store_dir)
            c.create_version("m", "base", artifact_uri=ref.uri, artifact_sha256=ref.sha256)
            valkey.stop()
            watch_until(target, health_pb2.HealthCheckResponse.NOT_SERVING)
            code, body = readyz(svc.http_port)
            assert code == 503 and "redis" in body["reasons"]
            lost = metric(svc.http_port, "keel_registry_alias_publish_failures_total")
            # the move itself commits; only its event is lost, and counted
            assert c.set_alias("m", "production", 1).version == 1
            assert c.resolve("m").version.version == 1
            assert metric(svc.http_port, "keel_registry_alias_publish_failures_total") == lost + 1
            valkey = EmbeddedValkey(tmp_path / "v2", port=port, persist=False)
            valkey.start()
            wait_healthy(target, 30)
            assert readyz(svc.http_port)[0] == 200
    finally:
        svc.stop(0.5)
        valkey.stop()
