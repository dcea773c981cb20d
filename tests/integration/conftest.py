"""Fixtures for the integration tests: a registry client over SQLite and PostgreSQL (``registry``),
the registry and training API in-process, and real Celery worker processes (``start_worker``)
on the embedded Valkey."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from keel.ingestion.v1 import ingestion_pb2_grpc as igrpc
from keel.registry.v1 import registry_pb2_grpc as rgrpc
from keel.training.v1 import training_pb2_grpc as tgrpc
from keel_common.artifacts import ArtifactStore
from keel_common.contract import TRAINING_KEY_PREFIX
from keel_common.grpc import wait_healthy
from keel_common.redis import redis_from_url
from keel_dev.local import port_or_free
from keel_training.config import TrainingSettings
from keel_training.store import Store

# keel_testing.py (helpers shared by the modules here) is imported by name.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def smollm2_serve(
    ray_local: None, model_cache: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gRPC target of one inference Serve app with the real SmolLM2, shared by the modules that
    put the gateway in front of it (a deploy and its drain cost seconds each)."""
    from keel_testing import start_inference
    from ray import serve

    app = "keel-smollm2-test"
    yield start_inference(app, tmp_path_factory.mktemp("smollm2-serve"), model_cache, artifact_root)
    serve.delete(app)


@contextmanager
def _client(svc: object) -> Iterator[object]:
    from keel_client.registry import RegistryClient

    with RegistryClient(f"127.0.0.1:{svc.grpc_port}", actor="tester") as c:  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def registry(registry_factory: Callable[..., object], database_url: str) -> Iterator[tuple[object, object]]:
    """(service, client) of a registry on SQLite and on PostgreSQL."""
    svc = registry_factory(database_url)
    with _client(svc) as client:
        yield svc, client


@pytest.fixture(scope="module")
def training(
    valkey_url: str, model_cache: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from keel_testing import start_registry

    from keel_training.grpc_api import build

    tmp = tmp_path_factory.mktemp("training")
    prefix = f"{TRAINING_KEY_PREFIX}:{tmp.name}"
    reg, reg_target = start_registry(tmp, valkey_url, artifact_root)
    # Where a module that needs datasets starts ingestion (gRPC connects lazily).
    ingestion_port = port_or_free(0)
    env = {
        "KEEL_DATA_DIR": str(tmp),
        "KEEL_REDIS_URL": valkey_url,
        "KEEL_ARTIFACT_ROOT": str(artifact_root),
        "KEEL_TRAINING_REGISTRY_TARGET": reg_target,
        "KEEL_TRAINING_INGESTION_TARGET": f"127.0.0.1:{ingestion_port}",
        "KEEL_TRAINING_DEFAULT_QUEUE": "train.cpu",
        "KEEL_TRAINING_MODEL_CACHE_DIR": str(model_cache),
        "KEEL_TRAINING_KEY_PREFIX": prefix,
        # A lost worker is noticed within seconds here (30 s by default).
        "KEEL_TRAINING_LEASE_TTL_S": "4",
        "KEEL_TRAINING_HEARTBEAT_S": "1",
        "KEEL_TRAINING_REAPER_INTERVAL_S": "0.5",
        "KEEL_TRAINING_WORKER_METRICS_PORT": "0",
        "KEEL_TRAINING_HOST": "127.0.0.1",
    }
    settings = TrainingSettings(
        **{k.removeprefix("KEEL_TRAINING_").removeprefix("KEEL_").lower(): v for k, v in env.items()},
        grpc_port=0,
        http_port=0,
        health_interval_s=0.2,
    )
    api = build(settings)
    api.start()
    target = f"127.0.0.1:{api.grpc_port}"
    wait_healthy(target, timeout=30)
    workers: list[subprocess.Popen[bytes]] = []

    metrics_ports: list[int] = []

    def start_worker() -> subprocess.Popen[bytes]:
        metrics_ports.append(port_or_free(0))
        log = open(tmp / f"worker-{len(workers)}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "keel_training", "worker", "--queues", "train.cpu"],
            env={**os.environ, **env, "KEEL_TRAINING_WORKER_METRICS_PORT": str(metrics_ports[-1])},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(proc)
        return proc

    channel = grpc.insecure_channel(target)
    store = Store(redis_from_url(valkey_url), prefix)
    yield {
        "stub": tgrpc.TrainingServiceStub(channel),
        "registry": rgrpc.RegistryServiceStub(grpc.insecure_channel(reg_target)),
        "registry_target": reg_target,
        "ingestion_port": ingestion_port,
        "target": target,
        "start_worker": start_worker,
        "workers": workers,
        "worker_metrics_ports": metrics_ports,
        "api_http_port": api.http_port,
        "settings": settings,
        "store": store,
        "artifacts": ArtifactStore(str(artifact_root)),
        "tmp": tmp,
    }
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    channel.close()
    api.stop(0)
    reg.stop(0)


@pytest.fixture(scope="module")
def ingestion(training: dict[str, Any], artifact_root: Path, model_cache: Path) -> Iterator[Any]:
    """The real ingestion API where the training API looks for datasets (imports need no
    inference, so its target is never called)."""
    from keel_testing import start_ingestion

    env = {"KEEL_REDIS_URL": training["settings"].redis_url or ""}
    api, worker = start_ingestion(
        training["tmp"], training["ingestion_port"], env, artifact_root, model_cache, "127.0.0.1:1"
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{training['ingestion_port']}")
    yield igrpc.IngestionServiceStub(channel)
    channel.close()
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(30)
    api.stop(0.5)
