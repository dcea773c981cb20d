"""Ingestion as deployed: the gRPC API in-process and real Celery build workers as separate
processes, on the embedded Valkey and a PostgreSQL database. Two workers share one build's
shards; a worker killed mid-build loses nothing and duplicates nothing (its task is sent again);
a build is cancelled; bad documents get clear errors and the service stays up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from keel.ingestion.v1 import ingestion_pb2 as pb
from keel.ingestion.v1 import ingestion_pb2_grpc as pb_grpc
from keel_common.grpc import wait_healthy
from keel_dev.local import port_or_free
from keel_ingestion import testing
from keel_ingestion.config import IngestionSettings

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def ingestion(
    valkey_url: str, postgres_server: str, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from keel_ingestion.grpc_api import build

    tmp = tmp_path_factory.mktemp("ingestion")
    db = f"keel_ingest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    env = {
        "KEEL_DATA_DIR": str(tmp),
        "KEEL_REDIS_URL": valkey_url,
        "KEEL_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "KEEL_INGESTION_DATABASE_URL": make_url(postgres_server).set(database=db).render_as_string(False),
        "KEEL_INGESTION_MODEL_CACHE_DIR": str(model_cache),
        "KEEL_INGESTION_QUEUE": f"ingest-{tmp.name}",  # this module's own queue
        "KEEL_INGESTION_SHARD_DOCUMENTS": "2",
        "KEEL_INGESTION_HOST": "127.0.0.1",
        # a lost worker is noticed within seconds here (a minute by default)
        "KEEL_INGESTION_HEARTBEAT_S": "0.5",
        "KEEL_INGESTION_STALE_AFTER_S": "3",
        "KEEL_INGESTION_REAPER_INTERVAL_S": "0.5",
    }
    settings = IngestionSettings(
        **{k.removeprefix("KEEL_INGESTION_").removeprefix("KEEL_").lower(): v for k, v in env.items()},
        grpc_port=0, http_port=0, health_interval_s=0.2,
    )  # fmt: skip
    api = build(settings)
    api.start()
    target = f"127.0.0.1:{api.grpc_port}"
    wait_healthy(target, timeout=30)
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    metrics_ports: list[int] = []

    def start_worker() -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp / f"worker-{len(workers)}.log"
        metrics_ports.append(port_or_free(0))
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "keel_ingestion", "worker"],
                env={**os.environ, **env, "KEEL_INGESTION_WORKER_METRICS_PORT": str(metrics_ports[-1])},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        workers.append((proc, log))
        return proc, log

    channel = grpc.insecure_channel(target)
    yield {"stub": pb_grpc.IngestionServiceStub(channel), "start_worker": start_worker, "workers": workers,
           "api": api, "tmp": tmp, "metrics_ports": metrics_ports}  # fmt: skip
    for proc, _ in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc, _ in workers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    channel.close()
    api.stop(0.5)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


def upload(
    stub: Any, name: str, data: bytes, tenant: str = "acme", chunk: int = 64 * 1024
) -> pb.UploadDocumentResponse:
    def parts() -> Iterator[pb.UploadDocumentRequest]:
        yield pb.UploadDocumentRequest(header=pb.UploadDocumentHeader(tenant=tenant, filename=name))
        for i in range(0, len(data), chunk):
            yield pb.UploadDocumentRequest(chunk=data[i : i + chunk])

    return stub.UploadDocument(parts(), timeout=60)


def handbook(i: int, paragraphs: int = 12) -> bytes:
    """A document that says its own things (the quality filter drops self-repeating text)."""
    import random

    rnd = random.Random(i)
    words = ["valve", "seal", "pump", "gauge", "filter", "bolt", "hose", "tank", "motor", "belt", "relay"]
    places = ["boiler room", "north yard", "loading dock", "east annex", "pump house", "roof deck"]
    paras = [
        " ".join(
            f"In the {rnd.choice(places)} the {rnd.choice(words)} next to the {rnd.choice(words)} must be "
            f"checked by crew {rnd.randint(1, 99)} before the {rnd.choice(('early', 'late'))} shift."
            for _ in range(rnd.randint(2, 5))
        )
        for _ in range(paragraphs)
    ]
    return (f"# Handbook {i}\n\n" + "\n\n".join(paras)).encode()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def finished(stub: Any, op_id: str, timeout: float = 180) -> pb.Operation:
    done = (pb.OPERATION_STATUS_SUCCEEDED, pb.OPERATION_STATUS_FAILED, pb.OPERATION_STATUS_CANCELLED)

    def check() -> pb.Operation | None:
        op = stub.GetOperation(pb.GetOperationRequest(operation_id=op_id, include_events=True))
        return op if op.status in done else None

    return wait_for(f"operation {op_id}", check, timeout)


def spec(doc_ids: list[str], **kw: Any) -> pb.BuildSpec:
    return pb.BuildSpec(document_ids=doc_ids, chunking=pb.Chunking(max_tokens=96, overlap_tokens=0), **kw)


def example_ids(stub: Any, dataset_id: str, version: int) -> list[str]:
    ids = []
    for split in ("train", "validation"):
        resp = stub.PreviewDatasetVersion(
            pb.PreviewDatasetVersionRequest(dataset_id=dataset_id, version=version, split=split, limit=100)
        )
        assert resp.total <= 100
        ids += [e.id for e in resp.examples]
    return ids


def tasks_in(log: Path) -> list[str]:
    """The stages of the build tasks a worker finished (its JSON log lines)."""
    return re.findall(r'"message": "build task done".*?"stage": "(\w+)"', log.read_text(errors="replace"))


def test_two_workers_share_a_build_and_a_killed_worker_loses_nothing(ingestion: dict[str, Any]) -> None:
    stub = ingestion["stub"]
    w1, w2 = ingestion["start_worker"](), ingestion["start_worker"]()
    docs = [upload(stub, f"handbook-{i}.md", handbook(i)).document.id for i in range(12)]
    pdf = upload(
        stub, "field.pdf", testing.multi_page_pdf([handbook(100 + p).decode()[:600] for p in range(3)])
    )
    assert pdf.document.status == pb.DOCUMENT_STATUS_READY and pdf.document.pages == 3
    op = stub.CreateDataset(pb.CreateDatasetRequest(name="handbooks", tenant="acme", build_spec=spec(docs)))
    assert op.status == pb.OPERATION_STATUS_PENDING and op.dataset_version == 1
    done = finished(stub, op.id)
    assert done.status == pb.OPERATION_STATUS_SUCCEEDED, done.error
    # the six prepare shards were shared by both workers
    assert "prepare" in tasks_in(w1[1]) and "prepare" in tasks_in(w2[1])
    assert [e.stage for e in done.events][:2] == ["queued", "prepare"]
    reference = sorted(example_ids(stub, op.dataset_id, 1))
    # what the API and the workers export
    api_metrics = httpx.get(f"http://127.0.0.1:{ingestion['api'].http_port}/metrics").text
    for line in [
        'keel_ingestion_documents_total{status="READY"}',
        'keel_ingestion_documents_stored{status="READY"}',
        "keel_ingestion_queue_length",
        "keel_ingestion_pages_extracted_total",
    ]:
        assert line in api_metrics, line
    worker_metrics = "".join(
        httpx.get(f"http://127.0.0.1:{port}/metrics").text for port in ingestion["metrics_ports"][:2]
    )
    for line in [
        'keel_ingestion_build_stage_seconds_count{stage="prepare"}',
        'keel_ingestion_builds_total{status="SUCCEEDED"}',
        'keel_ingestion_chunks_total{outcome="kept"}',
    ]:
        assert line in worker_metrics, line
    assert len(reference) == done.result.stats.examples_train + done.result.stats.examples_validation > 0

    # A second dataset from the same documents and recipe, and a worker killed as it builds:
    # its task is sent again, and the version has exactly the examples of the first one.
    victim, victim_log = w1
    op2 = stub.CreateDataset(
        pb.CreateDatasetRequest(name="handbooks-again", tenant="acme", build_spec=spec(docs))
    )

    task = re.compile(r'"stage": "(\w+)", "shard": (\d+)')

    def in_flight() -> list[str]:
        """The victim's tasks of this build that started and have not finished."""
        lines = [ln for ln in victim_log.read_text(errors="replace").splitlines() if op2.id in ln]
        started = [m.group(0) for ln in lines if "task started" in ln and (m := task.search(ln))]
        ended = [m.group(0) for ln in lines if "task done" in ln and (m := task.search(ln))]
        return [t for t in started if t not in ended]

    # Freeze the victim as soon as it holds a task (a frozen process writes no more log lines, so
    # the log then says for sure what it holds), then kill it: the whole worker, as a pod dies.
    deadline = time.monotonic() + 60
    while True:
        assert time.monotonic() < deadline, "the victim never held a task of the build"
        if in_flight():
            os.killpg(victim.pid, signal.SIGSTOP)
            lost = in_flight()
            if lost:
                break
            os.killpg(victim.pid, signal.SIGCONT)  # it finished in between: try the next task
        time.sleep(0.005)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    done2 = finished(stub, op2.id)
    assert done2.status == pb.OPERATION_STATUS_SUCCEEDED, done2.error
    assert sorted(example_ids(stub, op2.dataset_id, 1)) == reference
    assert done2.result.fingerprint == done.result.fingerprint
    # what the worker took with it was sent again by the API: its task, or, when that task had
    # already moved the build on but died before sending the next stage's tasks, those
    resent = [e.message for e in done2.events if "a lost worker?" in e.message]
    assert resent, (lost, [e.message for e in done2.events])


def test_cancel_a_running_build(ingestion: dict[str, Any]) -> None:
    stub = ingestion["stub"]
    if not any(p.poll() is None for p, _ in ingestion["workers"]):
        ingestion["start_worker"]()
    docs = [upload(stub, f"long-{i}.md", handbook(200 + i, paragraphs=60)).document.id for i in range(16)]
    op = stub.CreateDataset(pb.CreateDatasetRequest(name="cancelled", tenant="acme", build_spec=spec(docs)))
    cancelled = stub.CancelOperation(pb.CancelOperationRequest(operation_id=op.id, tenant="acme"))
    assert cancelled.status in (
        pb.OPERATION_STATUS_PENDING,
        pb.OPERATION_STATUS_RUNNING,
        pb.OPERATION_STATUS_CANCELLED,
    )
    done = finished(stub, op.id)
    assert done.status == pb.OPERATION_STATUS_CANCELLED and "cancelled" in done.error
    version = stub.GetDatasetVersion(pb.GetDatasetVersionRequest(dataset_id=op.dataset_id, version=1))
    assert version.status == pb.DATASET_VERSION_STATUS_FAILED
    with pytest.raises(grpc.RpcError) as other:
        stub.CancelOperation(pb.CancelOperationRequest(operation_id=op.id, tenant="globex"))
    assert other.value.code() == grpc.StatusCode.NOT_FOUND


def field_of(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    return bad.field_violations[0].field


def test_bad_documents_get_clear_errors_and_the_service_stays_up(ingestion: dict[str, Any]) -> None:
    stub, api = ingestion["stub"], ingestion["api"]
    for make, reason in [(testing.encrypted_pdf, "encrypted"), (testing.corrupt_pdf, "corrupt"),
                         (testing.scanned_pdf, "no text layer")]:  # fmt: skip
        doc = upload(stub, "bad.pdf", make()).document
        assert doc.status == pb.DOCUMENT_STATUS_FAILED and reason in doc.status_message
    bomb = upload(stub, "bomb.html", testing.html_bomb()).document
    assert bomb.status == pb.DOCUMENT_STATUS_FAILED and "limit" in bomb.status_message
    for name, data, code, field in [
        ("empty.txt", b"", grpc.StatusCode.INVALID_ARGUMENT, "file"),
        ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff", grpc.StatusCode.INVALID_ARGUMENT, "file"),
        ("huge.txt", b"x" * (api.settings.max_document_bytes + 1), grpc.StatusCode.OUT_OF_RANGE, "file"),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            upload(stub, name, data, chunk=1024 * 1024)
        assert err.value.code() == code and field_of(err.value) == field, err.value.details()
    wait_healthy(f"127.0.0.1:{api.grpc_port}", timeout=5)  # still serving
    again = upload(stub, "bad.pdf", testing.corrupt_pdf())
    assert again.already_existed  # the same bytes are the same (failed) document
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateDataset(
            pb.CreateDatasetRequest(name="x", tenant="acme", build_spec=spec([again.document.id]))
        )
    assert (
        err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and field_of(err.value) == "document_ids[0]"
    )
