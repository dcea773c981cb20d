"""The registry over real gRPC on localhost, on SQLite and on PostgreSQL, with embedded Valkey."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from pathlib import Path

import grpc
import pytest
import redis

from keel_client.registry import KeelApiError, RegistryClient, status_name
from keel_common.artifacts import ArtifactStore
from keel_dev.adapters import BaseShape, write_lora_adapter

TINY = BaseShape("tiny-llama", hidden_size=16, num_layers=2, num_heads=4, num_kv_heads=2)


def artifact(svc, tmp_path: Path, name: str = "adapter", seed: int = 0):
    """A real PEFT-format adapter directory written into the registry's artifact store."""
    store = ArtifactStore(svc.settings.resolved_artifact_root())
    folder = write_lora_adapter(tmp_path / f"{name}-{seed}", TINY, rank=2, seed=seed)
    return store.put_dir(f"models/test/{name}-{seed}", folder)


def ready_version(svc, client, tmp_path, model="m", seed=0, **fields):
    ref = artifact(svc, tmp_path, seed=seed)
    return client.create_version(
        model, "tiny-llama", artifact_uri=ref.uri, artifact_sha256=ref.sha256, create_model=True, **fields
    )


def expect(code: grpc.StatusCode, field: str | None, fn, *args, **kwargs) -> KeelApiError:
    with pytest.raises(KeelApiError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    if field:
        assert info.value.message.startswith(f"{field}:"), info.value.message
    return info.value


def test_models_create_get_list_paginate(registry):
    _, c = registry
    for i in range(7):
        c.create_model(f"model-{i}", description=f"d{i}", tenant="acme" if i % 2 else "globex")
    m = c.get_model("model-3")
    assert (m.name, m.description, m.tenant, m.creator, m.latest_version) == (
        "model-3",
        "d3",
        "acme",
        "tester",
        0,
    )
    assert m.created_at.seconds > 0
    pages = []
    token = ""
    while True:
        from keel.registry.v1 import registry_pb2 as pb

        resp = c.stub.ListModels(pb.ListModelsRequest(page_size=3, page_token=token))
        pages.append([x.name for x in resp.models])
        token = resp.next_page_token
        if not token:
            break
    assert pages == [["model-0", "model-1", "model-2"], ["model-3", "model-4", "model-5"], ["model-6"]]
    assert [x.name for x in c.list_models(tenant="acme")] == ["model-1", "model-3", "model-5"]
    assert [x.name for x in c.list_models(query="l-6")] == ["model-6"]


def test_version_fields_lineage_and_filters(registry, tmp_path):
    svc, c = registry
    v1 = ready_version(
        svc,
        c,
        tmp_path,
        seed=1,
        metrics={"eval_loss": 1.5},
        params={"lr": "1e-4"},
        tags=["nightly", "lora"],
        description="first",
        lineage={
            "training_job_id": "job_1",
            "dataset_id": "ds_a",
            "dataset_version": "3",
            "source": "keel-training",
        },
    )
    assert (v1.model, v1.version, status_name(v1.status)) == ("m", 1, "READY")
    assert v1.base_model == "tiny-llama" and v1.metrics["eval_loss"] == 1.5 and v1.params["lr"] == "1e-4"
    assert list(v1.tags) == ["lora", "nightly"] and v1.creator == "tester"
    assert (v1.lineage.training_job_id, v1.lineage.dataset_id, v1.lineage.dataset_version) == (
        "job_1",
        "ds_a",
        "3",
    )
    assert (
        v1.artifact_uri.startswith("file://") and len(v1.artifact_sha256) == 64 and v1.artifact_size_bytes > 0
    )
    pending = c.create_version("m", "other-base", description="training")
    assert status_name(pending.status) == "PENDING" and pending.version == 2
    got = c.get_version("m", 1)
    assert got == v1
    assert [v.version for v in c.list_versions("m")] == [2, 1]
    assert [v.version for v in c.list_versions("m", tag="nightly")] == [1]
    assert [v.version for v in c.list_versions("m", status="pending")] == [2]
    assert [v.version for v in c.list_versions(base_model="other-base")] == [2]
    assert [v.version for v in c.list_versions(dataset_id="ds_a")] == [1]
    assert [v.version for v in c.list_versions(training_job_id="job_1")] == [1]
    for _ in range(5):
        c.create_version("m", "tiny-llama")
    seen = [v.version for v in c.list_versions("m", page_size=2)]
    assert seen == [7, 6, 5, 4, 3, 2, 1]


def test_update_version_lifecycle(registry, tmp_path):
    svc, c = registry
    c.create_model("m")
    v = c.create_version("m", "tiny-llama")
    expect(grpc.StatusCode.FAILED_PRECONDITION, "status", c.update_version, "m", 1, status="ready")
    ref = artifact(svc, tmp_path)
    v = c.update_version(
        "m",
        1,
        artifact_uri=ref.uri,
        artifact_sha256=ref.sha256,
        status="ready",
        metrics={"eval_loss": 0.9},
        add_tags=["good"],
        status_message="trained",
    )
    assert status_name(v.status) == "READY" and v.artifact_sha256 == ref.sha256 and list(v.tags) == ["good"]
    v = c.update_version("m", 1, metrics={"accuracy": 0.7}, add_tags=["best"], remove_tags=["good"])
    assert dict(v.metrics) == {"eval_loss": 0.9, "accuracy": 0.7} and list(v.tags) == ["best"]
    expect(
        grpc.StatusCode.FAILED_PRECONDITION, "artifact_uri", c.update_version, "m", 1, artifact_uri=ref.uri
    )
    c.set_alias("m", "production", 1)
    expect(grpc.StatusCode.FAILED_PRECONDITION, "status", c.update_version, "m", 1, status="archived")
    c.delete_alias("m", "production")
    assert status_name(c.update_version("m", 1, status="archived").status) == "ARCHIVED"
    expect(grpc.StatusCode.FAILED_PRECONDITION, "version", c.set_alias, "m", "production", 1)


def test_aliases_move_history_rollback_resolve(registry, tmp_path):
    svc, c = registry
    for seed in range(3):
        ready_version(svc, c, tmp_path, seed=seed)
    # Bare name before any production alias: the latest READY version.
    res = c.resolve("m")
    assert (res.version.version, res.resolved_via) == (3, "latest")
    c.set_alias("m", "production", 1, reason="first")
    c.set_alias("m", "production", 2, reason="better")
    c.set_alias("m", "production", 2)  # no-op: no new history entry
    c.set_alias("m", "staging", 3)
    assert {a.alias: a.version for a in c.list_aliases("m")} == {"production": 2, "staging": 3}
    assert dict(c.get_model("m").aliases) == {"production": 2, "staging": 3}
    assert list(c.get_version("m", 2).aliases) == ["production"]
    res = c.resolve("m")
    assert (res.version.version, res.resolved_via, res.alias) == (2, "alias", "production")
    assert c.resolve("m@staging").version.version == 3
    assert c.resolve("m/1").resolved_via == "version"
    history = c.alias_history("m", "production")
    assert [(e.from_version, e.to_version, e.reason) for e in history] == [(1, 2, "better"), (0, 1, "first")]
    assert history[0].actor == "tester"
    rolled = c.rollback_alias("m", "production", reason="regression")
    assert rolled.version == 1 and c.resolve("m").version.version == 1
    events = c.alias_history("m")
    assert [e.alias for e in events] == ["production", "staging", "production", "production"]
    assert c.delete_alias("m", "staging") == 3
    assert c.alias_history("m", "staging")[0].to_version == 0
    expect(grpc.StatusCode.NOT_FOUND, "ref", c.resolve, "m@staging")
    # the first SET has no earlier version: rolling back past it is refused
    c.set_alias("m", "canary", 3)
    expect(grpc.StatusCode.FAILED_PRECONDITION, "alias", c.rollback_alias, "m", "canary")


def test_bad_input_names_the_field_and_service_stays_up(registry, tmp_path):
    svc, c = registry
    expect(grpc.StatusCode.INVALID_ARGUMENT, "name", c.create_model, "Bad Name")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "name", c.create_model, "")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "name", c.create_model, "a@b")
    c.create_model("m")
    expect(grpc.StatusCode.ALREADY_EXISTS, "name", c.create_model, "m")
    expect(grpc.StatusCode.NOT_FOUND, "name", c.get_model, "nope")
    expect(grpc.StatusCode.NOT_FOUND, "model", c.create_version, "nope", "base")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "base_model", c.create_version, "m", "")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "tags", c.create_version, "m", "b", tags=["bad tag"])
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "metrics[loss]",
        c.create_version,
        "m",
        "b",
        metrics={"loss": float("nan")},
    )
    expect(grpc.StatusCode.INVALID_ARGUMENT, "artifact_uri", c.create_version, "m", "b", status="ready")
    expect(grpc.StatusCode.NOT_FOUND, "version", c.get_version, "m", 9)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "version", c.get_version, "m", 0)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "alias", c.set_alias, "m", "Prod!", 1)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "alias", c.set_alias, "m", "42", 1)
    expect(grpc.StatusCode.NOT_FOUND, "version", c.set_alias, "m", "production", 5)
    expect(grpc.StatusCode.NOT_FOUND, "alias", c.delete_alias, "m", "production")
    expect(grpc.StatusCode.NOT_FOUND, "alias", c.rollback_alias, "m", "production")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "ref", c.resolve, "m/x")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "ref", c.resolve, "")
    expect(grpc.StatusCode.NOT_FOUND, "ref", c.resolve, "m")  # no production alias, no READY version
    from keel.registry.v1 import registry_pb2 as pb
    from keel_client.registry import _call

    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
        _call,
        c.stub.ListVersions,
        pb.ListVersionsRequest(model="m", page_token="%%"),
    )
    expect(grpc.StatusCode.INVALID_ARGUMENT, "page_size", lambda: list(c.list_models(page_size=-1)))
    # artifacts: outside the store, missing, checksum mismatch
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"x")
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "artifact_uri",
        c.create_version,
        "m",
        "b",
        artifact_uri=f"file://{outside}",
    )
    expect(
        grpc.StatusCode.NOT_FOUND,
        "artifact_uri",
        c.create_version,
        "m",
        "b",
        artifact_uri=svc.settings.resolved_artifact_root() + "/missing",
    )
    ref = artifact(svc, tmp_path)
    err = expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "artifact_sha256",
        c.create_version,
        "m",
        "b",
        artifact_uri=ref.uri,
        artifact_sha256="0" * 64,
    )
    assert ref.sha256 in err.message
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "artifact_sha256",
        c.create_version,
        "m",
        "b",
        artifact_uri=ref.uri,
        artifact_sha256="xyz",
    )
    # nothing was half-created, and the service still answers
    assert c.get_model("m").latest_version == 0
    assert c.create_version("m", "b", artifact_uri=ref.uri, artifact_sha256=ref.sha256).version == 1


def test_stored_artifact_tampering_is_data_loss(registry, tmp_path):
    svc, c = registry
    ref = artifact(svc, tmp_path)
    weights = Path(ref.uri.removeprefix("file://")) / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\1")
    expect(
        grpc.StatusCode.DATA_LOSS, None, c.create_version, "m", "b", artifact_uri=ref.uri, create_model=True
    )


def test_upload_artifact_stream(registry, tmp_path):
    svc, c = registry
    c.create_model("m")
    folder = write_lora_adapter(tmp_path / "ad", TINY, rank=2, seed=3)
    ref = c.upload_dir("m", folder)
    again = c.upload_dir("m", folder)
    assert ref.sha256 == again.sha256 and ref.uri != again.uri  # reproducible archive, separate uploads
    v = c.create_version("m", "tiny-llama", artifact_uri=ref.uri, artifact_sha256=ref.sha256)
    store = ArtifactStore(svc.settings.resolved_artifact_root())
    out = store.materialize(v.artifact_uri, tmp_path / "restored", v.artifact_sha256)
    assert (out / "adapter_model.safetensors").read_bytes() == (
        folder / "adapter_model.safetensors"
    ).read_bytes()
    # a declared checksum that does not match the bytes: refused, nothing stored
    from keel.registry.v1 import registry_pb2 as pb

    before = sorted(p for p in Path(store.root_path).rglob("*") if p.is_file())
    msgs = [
        pb.UploadArtifactRequest(
            header=pb.UploadArtifactHeader(model="m", filename="f.bin", sha256="1" * 64)
        ),
        pb.UploadArtifactRequest(chunk=b"hello"),
    ]
    with pytest.raises(grpc.RpcError) as info:
        c.stub.UploadArtifact(iter(msgs))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "sha256" in info.value.details()
    assert sorted(p for p in Path(store.root_path).rglob("*") if p.is_file()) == before
    with pytest.raises(grpc.RpcError) as info:
        c.stub.UploadArtifact(iter([pb.UploadArtifactRequest(chunk=b"no header")]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "header" in info.value.details()
    good = [
        pb.UploadArtifactRequest(
            header=pb.UploadArtifactHeader(
                model="m", filename="f.bin", sha256=hashlib.sha256(b"hello").hexdigest()
            )
        ),
        pb.UploadArtifactRequest(chunk=b"hel"),
        pb.UploadArtifactRequest(chunk=b"lo"),
    ]
    assert c.stub.UploadArtifact(iter(good)).size_bytes == 5


def test_alias_changes_are_published_on_redis(registry, tmp_path, valkey_url):
    svc, c = registry
    ready_version(svc, c, tmp_path, seed=1)
    ready_version(svc, c, tmp_path, seed=2)
    r = redis.Redis.from_url(valkey_url)
    pubsub = r.pubsub()
    pubsub.subscribe(svc.settings.alias_channel)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    stream_start = (
        r.xinfo_stream(svc.settings.events_stream)["last-generated-id"]
        if r.exists(svc.settings.events_stream)
        else b"0-0"
    )
    c.set_alias("m", "production", 1)
    c.set_alias("m", "production", 2)
    c.rollback_alias("m", "production")
    c.delete_alias("m", "production")
    got = []
    while len(got) < 4:
        msg = pubsub.get_message(timeout=5)
        assert msg is not None, f"only {len(got)} alias events arrived"
        if msg["type"] == "message":
            got.append(json.loads(msg["data"]))
    assert [(e["model"], e["action"], e["from_version"], e["to_version"]) for e in got] == [
        ("m", "SET", 0, 1),
        ("m", "SET", 1, 2),
        ("m", "ROLLBACK", 2, 1),
        ("m", "DELETE", 1, 0),
    ]
    ids = [e["event_id"] for e in got]
    assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] > 0
    entries = r.xrange(
        svc.settings.events_stream,
        min=f"({stream_start.decode()}" if isinstance(stream_start, bytes) else f"({stream_start}",
    )
    assert [json.loads(e[1][b"data"])["action"] for e in entries][-4:] == ["SET", "SET", "ROLLBACK", "DELETE"]
    pubsub.close()


def replicas(registry_factory, database_url: str) -> list[str]:
    """One registry on SQLite; two replicas sharing the database on PostgreSQL."""
    count = 2 if database_url.startswith("postgresql") else 1
    return [f"127.0.0.1:{registry_factory(database_url).grpc_port}" for _ in range(count)]


def run_clients(n: int, targets: list[str], body) -> None:
    """``body(i, client)`` in n threads, each its own client and channel, released together."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with RegistryClient(targets[i % len(targets)]) as client:
                barrier.wait()
                body(i, client)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_create_version_never_shares_a_number(registry_factory, database_url):
    """Real concurrent clients (own channels, own threads); on PostgreSQL across two replicas."""
    targets = replicas(registry_factory, database_url)
    with RegistryClient(targets[0]) as c:
        c.create_model("race")
    n_clients, per_client = 8, 6
    results: list[int] = []
    lock = threading.Lock()

    def body(i: int, client: RegistryClient) -> None:
        for _ in range(per_client):
            v = client.create_version("race", "base")
            with lock:
                results.append(v.version)

    run_clients(n_clients, targets, body)
    total = n_clients * per_client
    assert sorted(results) == list(range(1, total + 1))
    with RegistryClient(targets[-1]) as c:
        assert c.get_model("race").latest_version == total
        assert sorted(v.version for v in c.list_versions("race")) == list(range(1, total + 1))


def test_concurrent_changes_to_one_model_serialise(registry_factory, database_url, tmp_path):
    """Alias moves, archiving, metric merges and tag edits racing on one model: each sees the
    state the previous one left (on PostgreSQL across two replicas)."""
    targets = replicas(registry_factory, database_url)
    store = ArtifactStore(str(tmp_path / "artifacts"))  # the root registry_factory gives every replica
    with RegistryClient(targets[0]) as c:
        c.create_model("m")
        for seed in range(4):
            ref = store.put_dir(
                f"models/m/a{seed}", write_lora_adapter(tmp_path / f"a{seed}", TINY, rank=2, seed=seed)
            )
            c.create_version("m", "tiny-llama", artifact_uri=ref.uri, artifact_sha256=ref.sha256)
        c.set_alias("m", "production", 1)
    n = 8

    def body(i: int, client: RegistryClient) -> None:
        client.update_version("m", 4, metrics={f"m{i}": float(i)}, add_tags=["shared", f"t{i}"])
        # Moving onto an archived version, or archiving an aliased one, is refused;
        # which of the two wins each race is up to the scheduler.
        for call in (
            lambda: client.set_alias("m", "production", 1 + i % 3),
            lambda: client.update_version("m", 1 + (i + 1) % 3, status="archived"),
        ):
            try:
                call()
            except KeelApiError as exc:
                assert exc.code == grpc.StatusCode.FAILED_PRECONDITION, exc

    run_clients(n, targets, body)
    with RegistryClient(targets[-1]) as c:
        v4 = c.get_version("m", 4)
        assert dict(v4.metrics) == {f"m{i}": float(i) for i in range(n)}
        assert set(v4.tags) == {"shared", *(f"t{i}" for i in range(n))}
        current = c.resolve("m@production").version
        assert status_name(current.status) == "READY"  # never an archived version behind an alias
        history = list(reversed(c.alias_history("m", "production")))
        # an unbroken chain: every move starts where the previous one ended
        for before, after in itertools.pairwise(history):
            assert after.from_version == before.to_version
        assert history[-1].to_version == current.version
        assert [e.id for e in history] == sorted(e.id for e in history)


def test_edge_values_are_invalid_arguments_not_internal_errors(registry):
    _, c = registry
    c.create_model("m")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "ref", c.resolve, "m/²")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "ref", c.resolve, f"m/{2**63}")
    expect(grpc.StatusCode.INVALID_ARGUMENT, "version", c.get_version, "m", -5)
    expect(grpc.StatusCode.INVALID_ARGUMENT, "base_model", c.create_version, "m", "b" * 513)
    expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        "lineage.dataset_id",
        c.create_version,
        "m",
        "b",
        lineage={"dataset_id": "d" * 129},
    )
    expect(grpc.StatusCode.INVALID_ARGUMENT, "tenant", c.create_model, "n", tenant="t" * 129)
    v = c.create_version("m", "b")
    c.update_version("m", v.version, status="failed")
    # FAILED is final: it cannot come back to READY by way of ARCHIVED
    expect(grpc.StatusCode.FAILED_PRECONDITION, "status", c.update_version, "m", v.version, status="archived")
    expect(grpc.StatusCode.FAILED_PRECONDITION, "status", c.update_version, "m", v.version, status="ready")
    assert c.get_model("m").latest_version == 1
