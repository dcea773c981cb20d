"""``/v1/registry`` through a real gateway (real Valkey, uvicorn on a socket) to a real registry
gRPC server on SQLite: models and versions with metrics, params and lineage; aliases set, moved,
rolled back, deleted and audited; promotion; tenant isolation (another tenant's model is a 404
on every route), the training scope, and field errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.gateway import GatewayClient, GatewayError
from keel_client.registry import RegistryClient, RegistryJson
from keel_gateway.testing import ThreadedGateway

BASE = "smollm2-135m-instruct"
MODEL = "/v1/registry/models/acme-bot"


@dataclass
class Rig:
    gw: ThreadedGateway
    registry: str  # the registry's gRPC target
    acme: str  # acme's training key
    globex: str  # globex's training key
    key: Callable[..., str]

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        token = self.acme if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.gw.url}{path}", headers=headers, timeout=30, **kw)

    def ok(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = self.call(method, path, token, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    def error(self, status: int, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = self.call(method, path, token, **kw)
        assert r.status_code == status, r.text
        return r.json()["error"]


@pytest.fixture
def rig(
    registry_factory: Callable[..., Any],
    make_gateway: Callable[..., ThreadedGateway],
    key: Callable[..., str],
    tmp_path: Path,
) -> Rig:
    """acme owns acme-bot (1 and 2 ready, 3 pending; production → 1) and acme-helper; globex
    owns globex-bot; "orphan" has no tenant (made over gRPC by an operator)."""
    reg = registry_factory(None)
    target = f"127.0.0.1:{reg.grpc_port}"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with RegistryClient(target, actor="keel-training") as rc:
        rc.create_model("acme-bot", "answers acme's questions", tenant="acme")
        for n, f1 in ((1, 0.41), (2, 0.63)):
            art = rc.upload_dir("acme-bot", adapter)
            rc.create_version(
                "acme-bot",
                BASE,
                artifact_uri=art.uri,
                artifact_sha256=art.sha256,
                metrics={"eval_f1": f1, "eval_loss": 2.0 - f1},
                params={"lora_r": "8", "n_epochs": str(n + 2)},
                tags=[f"ft:{BASE}:acme:bot:ftjob_{n}"],
                lineage={
                    "training_job_id": f"ftjob_{n}",
                    "dataset_id": "ds_handbook",
                    "dataset_version": str(n),
                    "source": "keel-training",
                    "parent_version": "acme-bot/1" if n == 2 else "",
                },
            )
        rc.create_version("acme-bot", BASE)  # no artifact yet: PENDING
        rc.set_alias("acme-bot", "production", 1)
        for name, tenant in (("acme-helper", "acme"), ("globex-bot", "globex"), ("orphan", "")):
            rc.create_model(name, tenant=tenant)
            art = rc.upload_dir(name, adapter)
            rc.create_version(name, BASE, artifact_uri=art.uri, artifact_sha256=art.sha256)
    gw = make_gateway(registry_target=target)
    return Rig(gw, target, key("acme", "training"), key("globex", "training"), key)


def test_models_and_versions_with_metrics_params_and_lineage(rig: Rig) -> None:
    listed = rig.ok("GET", "/v1/registry/models")
    assert listed["object"] == "list" and listed["has_more"] is False
    assert [m["id"] for m in listed["data"]] == ["acme-bot", "acme-helper"]  # acme's only
    bot = listed["data"][0]
    assert bot["object"] == "registry.model" and bot["owned_by"] == "acme"
    assert bot["aliases"] == {"production": 1} and bot["latest_version"] == 3
    assert bot["description"] == "answers acme's questions" and bot["created_at"] > 0
    page = rig.ok("GET", "/v1/registry/models", params={"limit": 1})
    assert [m["id"] for m in page["data"]] == ["acme-bot"] and page["has_more"] is True
    page = rig.ok("GET", "/v1/registry/models", params={"limit": 1, "after": page["last_id"]})
    assert [m["id"] for m in page["data"]] == ["acme-helper"] and page["has_more"] is False
    assert [m["id"] for m in rig.ok("GET", "/v1/registry/models", params={"query": "help"})["data"]] == [
        "acme-helper"
    ]
    assert [m["id"] for m in rig.ok("GET", "/v1/registry/models", rig.globex)["data"]] == ["globex-bot"]
    assert rig.ok("GET", MODEL) == bot

    versions = rig.ok("GET", f"{MODEL}/versions")
    assert [v["id"] for v in versions["data"]] == ["acme-bot/3", "acme-bot/2", "acme-bot/1"]
    assert [v["status"] for v in versions["data"]] == ["pending", "ready", "ready"]
    v2 = versions["data"][1]
    assert v2["object"] == "registry.version" and v2["model"] == "acme-bot" and v2["version"] == 2
    assert v2["metrics"] == {"eval_f1": 0.63, "eval_loss": pytest.approx(1.37)}
    assert v2["params"] == {"lora_r": "8", "n_epochs": "4"}
    assert v2["lineage"] == {
        "training_job_id": "ftjob_2",
        "dataset": "ds_handbook@2",
        "dataset_id": "ds_handbook",
        "dataset_version": "2",
        "source": "keel-training",
        "parent_version": "acme-bot/1",
    }
    assert v2["tags"] == [f"ft:{BASE}:acme:bot:ftjob_2"] and v2["base_model"] == BASE
    assert len(v2["artifact"]["sha256"]) == 64 and v2["artifact"]["bytes"] > 0
    assert "uri" not in v2["artifact"]  # where the store keeps it is not the tenant's business
    assert v2["created_by"] == "keel-training" and v2["aliases"] == []
    assert versions["data"][2]["aliases"] == ["production"] and versions["data"][0]["artifact"] is None
    assert rig.ok("GET", f"{MODEL}/versions/2") == v2

    # newest first, a page at a time (`after` is the last id seen; a bare number works too)
    page = rig.ok("GET", f"{MODEL}/versions", params={"limit": 2})
    assert [v["version"] for v in page["data"]] == [3, 2] and page["has_more"] is True
    page = rig.ok("GET", f"{MODEL}/versions", params={"limit": 2, "after": page["last_id"]})
    assert [v["version"] for v in page["data"]] == [1] and page["has_more"] is False
    page = rig.ok("GET", f"{MODEL}/versions", params={"after": "3"})
    assert [v["version"] for v in page["data"]] == [2, 1]
    ready = rig.ok("GET", f"{MODEL}/versions", params={"status": "ready", "limit": 1})
    assert [v["version"] for v in ready["data"]] == [2] and ready["has_more"] is True
    tagged = rig.ok("GET", f"{MODEL}/versions", params={"tag": f"ft:{BASE}:acme:bot:ftjob_1"})
    assert [v["version"] for v in tagged["data"]] == [1]

    # what a model name serves, as chat completions route it
    res = rig.ok("GET", "/v1/registry/resolve", params={"ref": "acme-bot"})
    assert res["object"] == "registry.resolution" and res["resolved_via"] == "alias"
    assert res["alias"] == "production" and res["version"]["id"] == "acme-bot/1"
    res = rig.ok("GET", "/v1/registry/resolve", params={"ref": "acme-bot/2"})
    assert res["resolved_via"] == "version" and res["alias"] is None and res["version"] == v2
    res = rig.ok("GET", "/v1/registry/resolve", params={"ref": "acme-helper"})
    assert res["resolved_via"] == "latest" and res["version"]["id"] == "acme-helper/1"


def test_aliases_set_move_roll_back_delete_and_their_history(rig: Rig) -> None:
    key_id = rig.acme.removeprefix("sk-keel-").partition(".")[0]
    made = rig.ok("PUT", f"{MODEL}/aliases/staging", json={"version": 1})
    assert made["object"] == "registry.alias" and made["alias"] == "staging" and made["version"] == 1
    assert made["updated_by"] == f"key:{key_id}" and made["updated_at"] > 0
    moved = rig.ok("PUT", f"{MODEL}/aliases/staging", json={"version": 2, "reason": "better f1"})
    assert moved["version"] == 2
    aliases = rig.ok("GET", f"{MODEL}/aliases")
    assert [(a["alias"], a["version"]) for a in aliases["data"]] == [("production", 1), ("staging", 2)]
    assert rig.ok("GET", MODEL)["aliases"] == {"production": 1, "staging": 2}
    assert rig.ok("GET", f"{MODEL}/versions/2")["aliases"] == ["staging"]

    back = rig.ok("POST", f"{MODEL}/aliases/staging/rollback", json={"reason": "f1 was a fluke"})
    assert back["version"] == 1
    gone = rig.ok("DELETE", f"{MODEL}/aliases/staging", params={"reason": "retired"})
    assert gone == {
        "object": "registry.alias", "model": "acme-bot", "alias": "staging",
        "deleted": True, "previous_version": 1,
    }  # fmt: skip
    assert rig.ok("GET", MODEL)["aliases"] == {"production": 1}

    history = rig.ok("GET", f"{MODEL}/aliases/history", params={"alias": "staging"})
    events = history["data"]
    assert [(e["action"], e["from_version"], e["to_version"]) for e in events] == [
        ("delete", 1, None),
        ("rollback", 2, 1),
        ("set", 1, 2),
        ("set", None, 1),
    ]
    assert [e["reason"] for e in events[:3]] == ["retired", "f1 was a fluke", "better f1"]
    assert {e["actor"] for e in events} == {f"key:{key_id}"}
    assert events[0]["object"] == "registry.alias_event" and events[0]["created_at"] > 0
    # every alias of the model, a page at a time, newest first
    first = rig.ok("GET", f"{MODEL}/aliases/history", params={"limit": 2})
    assert [e["id"] for e in first["data"]] == [e["id"] for e in events[:2]] and first["has_more"] is True
    rest = rig.ok("GET", f"{MODEL}/aliases/history", params={"after": first["last_id"]})
    assert [e["id"] for e in rest["data"]] == [e["id"] for e in events[2:]] + [rest["data"][-1]["id"]]
    assert rest["data"][-1]["alias"] == "production" and rest["data"][-1]["actor"] == "keel-training"
    assert rest["has_more"] is False


def test_promote_moves_an_alias_with_its_reason_and_chat_follows(rig: Rig) -> None:
    chat = rig.key("acme", "inference")

    def served() -> int:
        r = rig.call("GET", "/v1/models/acme-bot", chat)
        assert r.status_code == 200, r.text
        return int(r.json()["keel"]["version"])

    assert served() == 1  # cached by the gateway's router from now on
    done = rig.ok("POST", f"{MODEL}/promote", json={"version": 2, "reason": "f1 0.41 → 0.63"})
    assert done == {
        "object": "registry.promotion",
        "model": "acme-bot",
        "alias": "production",
        "version": 2,
        "previous_version": 1,
        "moved": True,
        "reason": "f1 0.41 → 0.63",
        "updated_by": done["updated_by"],
        "updated_at": done["updated_at"],
        "evaluation": None,
    }
    assert done["updated_by"].startswith("key:")
    # the registry's alias event drops the gateway's cached route: chat follows the promotion
    deadline = time.monotonic() + 10
    while served() != 2:
        assert time.monotonic() < deadline, "the promotion never reached the router"
        time.sleep(0.05)
    again = rig.ok("POST", f"{MODEL}/promote", json={"version": 2})
    assert again["moved"] is False and again["previous_version"] == 2
    other = rig.ok("POST", f"{MODEL}/promote", json={"version": 1, "alias": "canary"})
    assert other["alias"] == "canary" and other["previous_version"] is None and other["moved"] is True
    assert other["reason"] == "promote acme-bot/1 to canary"
    newest = rig.ok("GET", f"{MODEL}/aliases/history", params={"alias": "production", "limit": 1})
    assert newest["data"][0]["reason"] == "f1 0.41 → 0.63" and newest["data"][0]["to_version"] == 2

    # only ready versions are promoted (the gate: test_http_evaluations.py)
    err = rig.error(400, "POST", f"{MODEL}/promote", json={"version": 3})
    assert err["param"] == "version" and "READY" in err["message"]
    err = rig.error(404, "POST", f"{MODEL}/promote", json={"version": 9})
    assert err["param"] == "version" and err["code"] == "not_found"
    err = rig.error(400, "POST", f"{MODEL}/promote", json={"version": 2, "gate": {"metrc": "eval_f1"}})
    assert err["param"] == "gate.metrc"
    err = rig.error(400, "POST", f"{MODEL}/promote", json={"alias": "production"})
    assert err["param"] == "version" and err["code"] == "missing_required_parameter"
    err = rig.error(400, "POST", f"{MODEL}/promote", json={"version": 2, "alias": "Prod!"})
    assert err["param"] == "alias"


ROUTES = [
    ("GET", MODEL, None),
    ("GET", f"{MODEL}/versions", None),
    ("GET", f"{MODEL}/versions/1", None),
    ("GET", f"{MODEL}/aliases", None),
    ("GET", f"{MODEL}/aliases/history", None),
    ("PUT", f"{MODEL}/aliases/production", {"version": 2}),
    ("DELETE", f"{MODEL}/aliases/production", None),
    ("POST", f"{MODEL}/aliases/production/rollback", None),
    ("POST", f"{MODEL}/promote", {"version": 2}),
]


def test_another_tenants_model_is_a_404_on_every_route_as_a_missing_one(rig: Rig) -> None:
    for method, path, body in ROUTES:
        theirs = rig.error(404, method, path, rig.globex, json=body)
        missing = rig.error(404, method, path.replace("acme-bot", "no-bot"), rig.globex, json=body)
        assert theirs == {**missing, "message": missing["message"].replace("no-bot", "acme-bot")}
        assert theirs["code"] == "model_not_found" and theirs["param"] == "model"
    for ref in ("acme-bot", "acme-bot@production", "acme-bot/1"):
        err = rig.error(404, "GET", "/v1/registry/resolve", rig.globex, params={"ref": ref})
        assert err["param"] == "ref" and err["code"] == "model_not_found"
    # nor are models without a tenant anyone's through the gateway (operators use gRPC)
    for token in (rig.acme, rig.key("keel", "training", "admin")):
        rig.error(404, "GET", "/v1/registry/models/orphan", token)
        assert "orphan" not in str(rig.ok("GET", "/v1/registry/models", token))
    # nothing changed on the way
    assert rig.ok("GET", MODEL)["aliases"] == {"production": 1}
    assert len(rig.ok("GET", f"{MODEL}/aliases/history")["data"]) == 1


def test_every_route_needs_the_training_scope(rig: Rig) -> None:
    for scopes in (("inference",), ("admin", "inference")):
        token = rig.key("acme", *scopes)
        for method, path, body in [*ROUTES, ("GET", "/v1/registry/models", None)]:
            err = rig.error(403, method, path, token, json=body)
            assert err["type"] == "permission_error", (method, path)
    for method, path, body in ROUTES:
        rig.error(401, method, path, "", json=body)
    assert rig.ok("GET", MODEL)["aliases"] == {"production": 1}


BAD: list[tuple[str, str, dict[str, Any], int, str]] = [  # method, path, request, status, param
    ("GET", f"{MODEL}/versions/9", {}, 404, "version"),
    ("GET", f"{MODEL}/versions/two", {}, 400, "version"),
    ("GET", f"{MODEL}/versions/0", {}, 400, "version"),
    ("GET", f"{MODEL}/versions", {"params": {"after": "x/1"}}, 400, "after"),
    ("GET", f"{MODEL}/versions", {"params": {"status": "shiny"}}, 400, "status"),
    ("GET", f"{MODEL}/versions", {"params": {"limit": 0}}, 400, "limit"),
    ("GET", f"{MODEL}/aliases/history", {"params": {"after": "e1"}}, 400, "after"),
    ("GET", f"{MODEL}/aliases/history", {"params": {"alias": "Not An Alias"}}, 400, "alias"),
    ("GET", "/v1/registry/models/Bad Name!", {}, 400, "model"),
    ("PUT", f"{MODEL}/aliases/Bad!", {"json": {"version": 1}}, 400, "alias"),
    ("PUT", f"{MODEL}/aliases/staging", {"json": {"version": 9}}, 404, "version"),
    ("PUT", f"{MODEL}/aliases/staging", {"json": {"version": 3}}, 400, "version"),
    ("PUT", f"{MODEL}/aliases/staging", {"json": {"version": "two"}}, 400, "version"),
    ("PUT", f"{MODEL}/aliases/staging", {"json": {"version": 1, "why": "x"}}, 400, "why"),
    ("DELETE", f"{MODEL}/aliases/staging", {}, 404, "alias"),
    ("POST", f"{MODEL}/aliases/production/rollback", {}, 400, "alias"),
    ("POST", f"{MODEL}/aliases/staging/rollback", {}, 404, "alias"),
    ("GET", "/v1/registry/resolve", {}, 400, "ref"),
    ("GET", "/v1/registry/resolve", {"params": {"ref": "acme-bot/x"}}, 400, "ref"),
    ("GET", "/v1/registry/resolve", {"params": {"ref": "acme-bot@nope"}}, 404, "ref"),
]


def test_bad_input_is_refused_naming_the_field(rig: Rig) -> None:
    """One gateway and registry for every case (each would cost a start of both)."""
    for method, path, kw, status, param in BAD:
        err = rig.error(status, method, path, **kw)
        assert err["param"] == param, (method, path, kw, err)
    assert rig.ok("GET", MODEL)["aliases"] == {"production": 1}  # nothing moved on the way


def test_the_sdk_and_the_cli_through_the_gateway(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """keel_client's registry routes and `keel models` against this real gateway, and the same
    answers as the registry's gRPC API gives operators (``RegistryJson``), but the artifact's URI."""
    with GatewayClient(rig.gw.url, rig.acme) as gw, RegistryJson(RegistryClient(rig.registry)) as ops:
        assert [m["id"] for m in gw.list_registry_models()] == ["acme-bot", "acme-helper"]
        assert gw.get_registry_model("acme-bot") == ops.get_registry_model("acme-bot")
        assert [v["id"] for v in gw.list_model_versions("acme-bot", status="ready")] == [
            "acme-bot/2",
            "acme-bot/1",
        ]
        over_grpc = ops.get_model_version("acme-bot", 2)
        assert over_grpc["artifact"].pop("uri").endswith(".tar")
        assert gw.get_model_version("acme-bot", 2) == over_grpc
        assert gw.list_model_versions("acme-bot", limit=2) == [
            {**v, "artifact": v["artifact"] and {k: x for k, x in v["artifact"].items() if k != "uri"}}
            for v in ops.list_model_versions("acme-bot", limit=2)
        ]
        assert gw.resolve_model("acme-bot")["version"]["id"] == "acme-bot/1"
        assert gw.set_alias("acme-bot", "staging", 1)["version"] == 1
        assert gw.set_alias("acme-bot", "staging", 2, "try it")["version"] == 2
        assert gw.list_aliases("acme-bot") == ops.list_aliases("acme-bot")
        assert gw.rollback_alias("acme-bot", "staging", "back")["version"] == 1
        promoted = gw.promote("acme-bot", 2, reason="better")
        assert promoted["previous_version"] == 1 and promoted["moved"] is True
        assert gw.alias_history("acme-bot", limit=2) == ops.alias_history("acme-bot", limit=2)
        assert gw.delete_alias("acme-bot", "staging")["previous_version"] == 1
        with pytest.raises(GatewayError) as caught:
            gw.get_registry_model("globex-bot")
        assert caught.value.status == 404 and caught.value.code == "model_not_found"
        with pytest.raises(GatewayError) as caught:
            gw.set_alias("acme-bot", "Bad!", 1)
        assert caught.value.status == 400 and caught.value.param == "alias"

    monkeypatch.delenv("KEEL_REGISTRY_ADDR", raising=False)
    monkeypatch.setenv("KEEL_GATEWAY_URL", rig.gw.url)
    monkeypatch.setenv("KEEL_API_KEY", rig.acme)

    def keel(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    listing = keel("models", "list")
    assert "acme-bot" in listing and "production→2" in listing and "globex-bot" not in listing
    versions = keel("models", "versions", "acme-bot")
    assert "acme-bot/2" in versions and "ds_handbook@2" in versions and "eval_f1=0.63" in versions
    shown = keel("models", "show", "acme-bot/2")
    assert "lineage: training job" in shown and "ftjob_2" in shown and "ds_handbook version 2" in shown
    assert "eval_f1 = 0.63" in shown and "lora_r = 8" in shown and "acme-bot/1" in shown and "READY" in shown
    assert "acme-bot → acme-bot/2 (via alias production)" in keel("models", "resolve", "acme-bot")
    out = keel("models", "promote", "acme-bot", "1", "--reason", "2 regressed")
    assert "promoted acme-bot/1 to production (was 2)" in out
    assert "nothing moved" in keel("models", "promote", "acme-bot", "1")
    assert "acme-bot@canary → 2" in keel("models", "alias", "set", "acme-bot", "canary", "2")
    assert "canary" in keel("models", "alias", "list", "acme-bot")
    assert "acme-bot@production rolled back → 2" in keel(
        "models", "alias", "rollback", "acme-bot", "production"
    )
    history = keel("models", "alias", "history", "acme-bot", "production")
    assert history.index("ROLLBACK") < history.index("2 regressed") < history.index("better")
    assert "deleted acme-bot@canary (was 2)" in keel("models", "alias", "delete", "acme-bot", "canary")
    out = keel("models", "show", "globex-bot", code=1)
    assert out.startswith("error: The model `globex-bot` does not exist")
    out = keel("models", "promote", "acme-bot", "3", code=1)
    assert "READY" in out
    monkeypatch.setenv("KEEL_API_KEY", rig.key("acme", "inference"))
    assert "error:" in keel("models", "promote", "acme-bot", "2", code=1)


def test_an_unreachable_registry_is_a_503_to_retry(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()  # the registry's port is closed
    r = httpx.get(
        f"{gw.url}/v1/registry/models/acme-bot",
        headers={"Authorization": f"Bearer {key('acme', 'training')}"},
        timeout=30,
    )
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    err = r.json()["error"]
    assert err["code"] == "upstream_unavailable" and err["message"].startswith("registry is unavailable")
