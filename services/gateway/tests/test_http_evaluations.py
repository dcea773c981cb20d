"""``/v1/evaluations``, the gated ``promote`` and a fine-tuning job's ``auto_promote`` through a
real gateway (real Valkey, uvicorn on a socket) to the real training API (gRPC, in-process), a
real registry (SQLite) and the real ingestion API holding the questions (an imported dataset
version; imports need no build worker).

No training worker runs: evaluations stay queued, which is what the HTTP layer is about (the
worker's scoring and the gate's decision are tests/integration/test_evaluation.py's). The
training API's Celery queue is in a Redis database of its own, so no worker of another test
ever picks these evaluations up."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
from click.testing import CliRunner

from keel.ingestion.v1 import ingestion_pb2 as ipb
from keel.ingestion.v1 import ingestion_pb2_grpc as igrpc
from keel_client.cli import main
from keel_client.evaluations import gate_of
from keel_client.gateway import GatewayClient, GatewayError
from keel_client.registry import RegistryClient
from keel_common.grpc import wait_healthy
from keel_gateway.testing import ThreadedGateway

BASE = "smollm2-135m-instruct"
MODEL = "/v1/registry/models/acme-bot"
SHAPE = [
    "object", "id", "status", "status_message", "models", "dataset", "split", "limit", "examples",
    "results", "gate", "gate_outcome", "job_id", "created_at", "finished_at",
]  # fmt: skip


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _qa(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"What is the code of locker {i}?"},
            {"role": "assistant", "content": f"Locker {i} opens with code {1000 + 7 * i}."},
        ]
    }


@dataclass
class Stack:
    registry: str  # gRPC targets
    training: str
    dataset: str  # ds_…
    globex_dataset: str


@pytest.fixture(scope="module")
def stack(valkey_url: str, model_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The registry, ingestion and training APIs, once for the module. acme owns acme-bot
    (1 and 2 ready, trained on acme's dataset; 3 pending; production → 1) and acme-helper (no
    lineage); globex owns globex-bot and a dataset of its own."""
    from keel_ingestion.config import IngestionSettings
    from keel_ingestion.grpc_api import build as build_ingestion
    from keel_registry.config import RegistrySettings
    from keel_registry.grpc_api import build as build_registry
    from keel_training.config import TrainingSettings
    from keel_training.grpc_api import build as build_training

    tmp = tmp_path_factory.mktemp("evaluations")
    artifacts = str(tmp / "artifacts")
    reg = build_registry(
        RegistrySettings(
            data_dir=tmp / "registry",
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            database_url=f"sqlite:///{tmp / 'registry.db'}",
            artifact_root=artifacts,
            health_interval_s=0.2,
        )
    )
    reg.start()
    registry = f"127.0.0.1:{reg.grpc_port}"
    ingestion = build_ingestion(
        IngestionSettings(
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            data_dir=tmp / "ingestion",
            artifact_root=artifacts,
            queue=f"ingest-{tmp.name}",
            health_interval_s=0.2,
        )
    )
    ingestion.start()
    ingest_target = f"127.0.0.1:{ingestion.grpc_port}"
    training = build_training(
        TrainingSettings(
            data_dir=tmp / "training",
            redis_url=f"{valkey_url}/5",  # its Celery queue too: nobody else's worker listens there
            artifact_root=artifacts,
            registry_target=registry,
            ingestion_target=ingest_target,
            model_cache_dir=model_cache,
            key_prefix=f"keel:training:{tmp.name}",
            grpc_port=0,
            http_port=0,
            health_interval_s=0.2,
            host="127.0.0.1",
        )
    )
    training.start()
    target = f"127.0.0.1:{training.grpc_port}"
    for t in (registry, ingest_target, target):
        wait_healthy(t, timeout=30)

    with grpc.insecure_channel(ingest_target) as ch:
        stub = igrpc.IngestionServiceStub(ch)  # type: ignore[no-untyped-call]

        def imported(tenant: str, name: str) -> str:
            files = [
                ipb.ImportedFile(split="train.jsonl", content=_jsonl([_qa(i) for i in range(12)])),
                ipb.ImportedFile(split="validation.jsonl", content=_jsonl([_qa(i) for i in range(12, 16)])),
            ]
            req = ipb.ImportDatasetVersionRequest(
                tenant=tenant, dataset_name=name, format=ipb.OUTPUT_FORMAT_CHAT, files=files
            )
            version = stub.ImportDatasetVersion(req)
            assert version.version == 1
            return str(version.dataset_id)

        dataset, theirs = imported("acme", "lockers"), imported("globex", "theirs")

    adapter = tmp / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with RegistryClient(registry, actor="keel-training") as rc:
        rc.create_model("acme-bot", tenant="acme")
        for n in (1, 2):
            art = rc.upload_dir("acme-bot", adapter)
            rc.create_version(
                "acme-bot",
                BASE,
                artifact_uri=art.uri,
                artifact_sha256=art.sha256,
                lineage={"training_job_id": f"ftjob_{n}", "dataset_id": dataset, "dataset_version": "1"},
            )
        rc.create_version("acme-bot", BASE)  # no artifact yet: PENDING
        rc.set_alias("acme-bot", "production", 1)
        for name, tenant in (("acme-helper", "acme"), ("globex-bot", "globex")):
            rc.create_model(name, tenant=tenant)
            art = rc.upload_dir(name, adapter)
            rc.create_version(name, BASE, artifact_uri=art.uri, artifact_sha256=art.sha256)
    yield Stack(registry, target, dataset, theirs)
    training.stop(0.5)
    ingestion.stop(0.5)
    reg.stop(0.5)


@dataclass
class Rig:
    gw: ThreadedGateway
    stack: Stack
    acme: str  # acme's training key
    globex: str
    key: Callable[..., str]

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        token = self.acme if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.gw.url}{path}", headers=headers, timeout=60, **kw)

    def ok(self, method: str, path: str, token: str | None = None, status: int = 200, **kw: Any) -> Any:
        r = self.call(method, path, token, **kw)
        assert r.status_code == status, r.text
        return r.json()

    def error(self, status: int, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = self.call(method, path, token, **kw)
        assert r.status_code == status, r.text
        return r.json()["error"]

    def aliases(self) -> Any:
        return self.ok("GET", MODEL)["aliases"]


@pytest.fixture
def rig(stack: Stack, make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]) -> Rig:
    gw = make_gateway(registry_target=stack.registry, training_target=stack.training, max_body_bytes=16384)
    return Rig(gw, stack, key("acme", "training"), key("globex", "training"), key)


def test_an_evaluation_is_created_queued_and_read_back_in_the_tenants_shape(rig: Rig) -> None:
    ds = rig.stack.dataset
    body = {"models": [BASE, "acme-bot@production", "acme-bot/2"], "dataset": f"{ds}@1", "limit": 4}
    ev = rig.ok("POST", "/v1/evaluations", json=body)
    assert list(ev) == SHAPE and "questions_uri" not in json.dumps(ev)
    assert ev["object"] == "evaluation" and ev["id"].startswith("eval_") and ev["status"] == "queued"
    assert ev["status_message"] == "queued" and ev["models"] == body["models"]
    assert (ev["dataset"], ev["split"], ev["limit"], ev["examples"]) == (f"{ds}@1", "validation", 4, 0)
    assert ev["results"] == [
        {"model": BASE, "ref": BASE, "metrics": {}, "answers": []},
        {"model": "acme-bot@production", "ref": "acme-bot/1", "metrics": {}, "answers": []},
        {"model": "acme-bot/2", "ref": "acme-bot/2", "metrics": {}, "answers": []},
    ]
    assert ev["gate"] is None and ev["gate_outcome"] is None and ev["job_id"] is None
    assert ev["created_at"] > 0 and ev["finished_at"] is None
    assert rig.ok("GET", f"/v1/evaluations/{ev['id']}") == ev

    # "ds_…" alone is the latest ready version, pinned; the train split and the default limit
    latest = rig.ok("POST", "/v1/evaluations", json={"models": [BASE], "dataset": ds, "split": "train"})
    assert (latest["dataset"], latest["split"], latest["limit"]) == (f"{ds}@1", "train", 64)

    # another tenant's evaluation is the same 404 as a missing one
    theirs = rig.error(404, "GET", f"/v1/evaluations/{ev['id']}", rig.globex)
    missing = rig.error(404, "GET", "/v1/evaluations/eval_missing", rig.globex)
    assert theirs == {**missing, "message": missing["message"].replace("eval_missing", ev["id"])}
    assert theirs["param"] == "evaluation_id" and theirs["code"] == "not_found"


def test_the_training_scope_is_needed(rig: Rig) -> None:
    ev = rig.ok("POST", "/v1/evaluations", json={"models": [BASE], "dataset": rig.stack.dataset})
    body = {"models": [BASE], "dataset": rig.stack.dataset}
    for scopes in (("inference",), ("admin", "inference")):
        token = rig.key("acme", *scopes)
        assert rig.error(403, "POST", "/v1/evaluations", token, json=body)["type"] == "permission_error"
        assert rig.error(403, "GET", f"/v1/evaluations/{ev['id']}", token)["type"] == "permission_error"
        gated = {"version": 2, "gate": {}}
        assert rig.error(403, "POST", f"{MODEL}/promote", token, json=gated)["type"] == "permission_error"
    rig.error(401, "POST", "/v1/evaluations", "", json=body)
    rig.error(401, "GET", f"/v1/evaluations/{ev['id']}", "")


def test_bad_input_is_refused_naming_the_field(rig: Rig) -> None:
    ds = f"{rig.stack.dataset}@1"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"models": ["no-such-model"], "dataset": ds}, 400, "models[0]"),
        ({"models": [BASE, "globex-bot"], "dataset": ds}, 400, "models[1]"),  # theirs looks unknown
        ({"models": [BASE, "acme-bot/3"], "dataset": ds}, 400, "models[1]"),  # pending
        ({"models": [], "dataset": ds}, 400, "models"),
        ({"models": [BASE] * 9, "dataset": ds}, 400, "models"),
        ({"models": [BASE], "dataset": "lockers@1"}, 400, "dataset"),
        ({"models": [BASE], "dataset": f"{ds}@2"}, 400, "dataset"),
        ({"models": [BASE], "dataset": rig.stack.globex_dataset}, 404, "dataset"),  # globex's
        ({"models": [BASE], "dataset": f"{rig.stack.dataset}@7"}, 404, "dataset"),
        ({"models": [BASE], "dataset": ds, "split": "test"}, 400, "split"),
        ({"models": [BASE], "dataset": ds, "limit": 5000}, 400, "limit"),
        ({"models": [BASE], "dataset": ds, "limit": 2**40}, 400, "limit"),
        ({"models": [BASE], "dataset": ds, "modelz": [BASE]}, 400, "modelz"),
        ({"models": [BASE]}, 400, "dataset"),
        ({"dataset": ds}, 400, "models"),
    ]
    for body, status, param in cases:
        err = rig.error(status, "POST", "/v1/evaluations", json=body)
        assert err["param"] == param, (body, err)
    err = rig.error(400, "POST", "/v1/evaluations", json={"models": ["nope"], "dataset": ds})
    assert err["code"] == "invalid_value" and "nope" in err["message"]
    # another tenant's dataset is the same 404 as a missing one
    theirs_id = rig.stack.globex_dataset
    theirs = rig.error(404, "POST", "/v1/evaluations", json={"models": [BASE], "dataset": theirs_id})
    missing = rig.error(404, "POST", "/v1/evaluations", json={"models": [BASE], "dataset": "ds_0000"})
    assert theirs == {**missing, "message": missing["message"].replace("ds_0000", theirs_id)}
    assert theirs["code"] == "not_found"


def test_a_gated_promotion_answers_202_with_its_evaluation_and_moves_nothing(rig: Rig) -> None:
    history = rig.ok("GET", f"{MODEL}/aliases/history")["data"]
    gate = {"metric": "closed_book_f1", "margin": 0.05, "min_examples": 3}
    p = rig.ok("POST", f"{MODEL}/promote", status=202, json={"version": 2, "gate": gate})
    ev = p.pop("evaluation")
    key_id = rig.acme.removeprefix("sk-keel-").partition(".")[0]
    assert p == {
        "object": "registry.promotion",
        "model": "acme-bot",
        "alias": "production",
        "version": 2,
        "previous_version": 1,
        "moved": False,
        "reason": p["reason"],
        "updated_by": f"key:{key_id}",
        "updated_at": ev["created_at"],
    }
    assert ev["id"] in p["reason"] and "closed_book_f1" in p["reason"]
    assert list(ev) == SHAPE and ev["status"] == "queued"
    # the candidate against what the alias serves now, on the questions it was trained on
    assert ev["models"] == ["acme-bot/2", "acme-bot/1"]
    assert [r["ref"] for r in ev["results"]] == ["acme-bot/2", "acme-bot/1"]
    assert ev["dataset"] == f"{rig.stack.dataset}@1" and ev["split"] == "validation"
    assert ev["gate"] == {
        "model": "acme-bot", "version": 2, "alias": "production",
        "metric": "closed_book_f1", "margin": 0.05, "min_examples": 3,
    }  # fmt: skip
    assert ev["gate_outcome"] is None
    assert rig.ok("GET", f"/v1/evaluations/{ev['id']}") == ev
    # the alias moves when the worker's gate passes, not now
    assert rig.aliases() == {"production": 1}
    assert rig.ok("GET", f"{MODEL}/aliases/history")["data"] == history

    # defaults; a new alias is gated against the base model; the questions named
    dflt = rig.ok("POST", f"{MODEL}/promote", status=202, json={"version": 2, "gate": {}})["evaluation"]
    assert dflt["gate"] == {
        "model": "acme-bot", "version": 2, "alias": "production",
        "metric": "eval_f1", "margin": 0.0, "min_examples": 10,
    }  # fmt: skip
    body = {
        "version": 2,
        "alias": "canary",
        "gate": {"dataset": rig.stack.dataset, "split": "train", "limit": 5},
    }
    canary = rig.ok("POST", f"{MODEL}/promote", status=202, json=body)
    assert canary["previous_version"] is None and canary["moved"] is False and canary["alias"] == "canary"
    assert canary["evaluation"]["models"] == ["acme-bot/2", BASE]
    assert (canary["evaluation"]["split"], canary["evaluation"]["limit"]) == ("train", 5)
    assert "canary" not in rig.aliases()

    # without a gate, promotion is what it was (200, moved at once, no evaluation)
    done = rig.ok("POST", f"{MODEL}/promote", json={"version": 1, "alias": "staging"})
    assert done["moved"] is True and done["evaluation"] is None
    rig.ok("DELETE", f"{MODEL}/aliases/staging")


GATE_BAD: list[tuple[dict[str, Any], int, str]] = [  # body, status, param
    ({"version": 2, "gate": {"metric": "bleu"}}, 400, "gate.metric"),
    ({"version": 2, "gate": {"margin": 2}}, 400, "gate.margin"),
    ({"version": 2, "gate": {"margin": -0.1}}, 400, "gate.margin"),
    ({"version": 2, "gate": {"min_examples": 20_000}}, 400, "gate.min_examples"),
    ({"version": 2, "gate": {"min_examples": 2**40}}, 400, "gate.min_examples"),
    ({"version": 2, "gate": {"dataset": "lockers"}}, 400, "gate.dataset"),
    ({"version": 2, "gate": {"split": "test"}}, 400, "gate.split"),
    ({"version": 2, "gate": {"limit": 5000}}, 400, "gate.limit"),
    ({"version": 2, "gate": {"metrc": "eval_f1"}}, 400, "gate.metrc"),
    ({"version": 2, "gate": {}, "reason": "because"}, 400, "reason"),
    ({"version": 2, "gate": {}, "alias": "Prod!"}, 400, "alias"),
    ({"version": 9, "gate": {}}, 404, "version"),
    ({"version": 3, "gate": {}}, 400, "version"),  # pending
    ({"gate": {}}, 400, "version"),
]


def test_a_bad_gate_is_refused_naming_the_field_and_nothing_is_queued(rig: Rig) -> None:
    for body, status, param in GATE_BAD:
        err = rig.error(status, "POST", f"{MODEL}/promote", json=body)
        assert err["param"] == param, (body, err)
    # a candidate trained on no dataset version needs the questions named
    err = rig.error(400, "POST", "/v1/registry/models/acme-helper/promote", json={"version": 1, "gate": {}})
    assert err["param"] == "gate.dataset", err
    # another tenant's model is the same 404 as a missing one, before anything is asked
    theirs = rig.error(404, "POST", f"{MODEL}/promote", rig.globex, json={"version": 2, "gate": {}})
    assert theirs["param"] == "model" and theirs["code"] == "model_not_found"
    assert rig.aliases() == {"production": 1}


def test_a_fine_tuning_job_asks_for_automatic_promotion(rig: Rig) -> None:
    ds = f"{rig.stack.dataset}@1"
    # the openai SDK sends Keel's extension in extra_body
    client = openai.OpenAI(base_url=f"{rig.gw.url}/v1", api_key=rig.acme, max_retries=0, timeout=120)
    gate = {"alias": "production", "metric": "closed_book_f1", "min_examples": 3}
    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=ds, suffix="lockers", extra_body={"auto_promote": gate}
    )
    extra = job.model_extra or {}
    assert extra["keel"]["auto_promote"] == {**gate, "margin": 0.0}
    assert extra["keel"]["promotion_evaluation_id"] is None  # set when it succeeds and queues the gate
    got = rig.ok("GET", f"/v1/fine_tuning/jobs/{job.id}")
    assert got["keel"]["auto_promote"] == {**gate, "margin": 0.0}
    # every field left to its default; and a job that asks nothing shows null
    dflt = rig.ok(
        "POST", "/v1/fine_tuning/jobs", json={"model": BASE, "training_file": ds, "auto_promote": {}}
    )
    assert dflt["keel"]["auto_promote"] == {
        "alias": "production", "metric": "eval_f1", "margin": 0.0, "min_examples": 10,
    }  # fmt: skip
    plain = rig.ok("POST", "/v1/fine_tuning/jobs", json={"model": BASE, "training_file": ds})
    assert plain["keel"]["auto_promote"] is None

    for bad, param in (
        ({"metric": "bleu"}, "auto_promote.metric"),
        ({"margin": 3}, "auto_promote.margin"),
        ({"min_examples": 99_999}, "auto_promote.min_examples"),
        ({"alias": "Prod!"}, "auto_promote.alias"),
        ({"aliass": "production"}, "auto_promote.aliass"),
    ):
        body = {"model": BASE, "training_file": ds, "auto_promote": bad}
        err = rig.error(400, "POST", "/v1/fine_tuning/jobs", json=body)
        assert err["param"] == param, (bad, err)


def test_the_sdk_and_the_cli_through_the_gateway(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """keel_client's evaluation methods and `keel eval` / `keel models promote --gate` against
    this gateway. Nothing scores here, so the waits run out (their finished output is pinned in
    libs/keel-client/tests/test_cli_evals.py against a scripted gateway)."""
    ds = f"{rig.stack.dataset}@1"
    with GatewayClient(rig.gw.url, rig.acme) as gw:
        ev = gw.create_evaluation([BASE, "acme-bot"], ds, split="validation", limit=3)
        assert [r["ref"] for r in ev["results"]] == [BASE, "acme-bot/1"] and ev["limit"] == 3
        assert gw.get_evaluation(ev["id"]) == ev
        with pytest.raises(GatewayError) as caught:
            gw.wait_evaluation(ev["id"], timeout=0.3, poll=0.1)
        assert caught.value.code == "timeout" and "queued" in caught.value.message
        p = gw.promote("acme-bot", 2, gate=gate_of("eval_f1", margin=0.01, min_examples=2))
        assert p["moved"] is False and p["evaluation"]["gate"]["margin"] == 0.01
        with pytest.raises(GatewayError) as caught:
            gw.create_evaluation(["nope"], ds)
        assert caught.value.status == 400 and caught.value.param == "models[0]"
        with pytest.raises(GatewayError) as caught:
            gw.get_evaluation(ev["id"].replace("eval_", "eval_x"))
        assert caught.value.status == 404
        job = gw.create_job(BASE, ds, auto_promote={"alias": "staging", "margin": 0.1})
        assert job["keel"]["auto_promote"]["alias"] == "staging"

    monkeypatch.delenv("KEEL_REGISTRY_ADDR", raising=False)
    monkeypatch.setenv("KEEL_GATEWAY_URL", rig.gw.url)
    monkeypatch.setenv("KEEL_API_KEY", rig.acme)

    def keel(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    shown = keel("eval", "show", ev["id"])
    assert ev["id"] in shown and "queued" in shown and "acme-bot (acme-bot/1)" in shown
    out = keel("eval", "run", BASE, "acme-bot/2", "--dataset", ds, "--limit", "2", "--timeout", "0.5", code=1)
    assert "evaluation eval_" in out and f"{BASE}, acme-bot/2 on {ds}" in out
    assert "did not finish within 0.5 s" in out
    out = keel("eval", "run", "nope", "--dataset", ds, code=1)
    assert out.startswith("error: ") and "nope" in out
    assert "is not a dataset version" in keel("eval", "run", BASE, "--dataset", "lockers", code=2)
    out = keel(
        "models",
        "promote",
        "acme-bot",
        "2",
        "--gate",
        "eval_f1",
        "--min-examples",
        "2",
        "--timeout",
        "0.5",
        code=1,
    )
    assert "gating acme-bot/2 for production: evaluation eval_" in out and "acme-bot/1" in out
    assert "did not finish within 0.5 s" in out
    out = keel("models", "promote", "acme-bot", "2", "--gate", "bleu", code=1)
    assert "error: " in out and "bleu" in out
    out = keel("models", "promote", "acme-bot", "2", "--margin", "0.1", code=2)
    assert "--margin: only with --gate" in out
    out = keel("jobs", "create", "--dataset", ds, "--auto-promote", "production", "--gate-metric", "eval_f1")
    assert "promoted to production through the gate (eval_f1, margin 0, at least 10 questions)" in out
    assert rig.aliases() == {"production": 1}
