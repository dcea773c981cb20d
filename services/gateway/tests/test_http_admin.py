"""The admin-keys, operations and fine-tuning routers over a real gateway and real Valkey:
who may manage which tenant's keys, /livez, /readyz and /metrics, and the training scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from keel_gateway.testing import ThreadedGateway


def _call(gw: ThreadedGateway, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{gw.url}{path}", headers=headers, timeout=30, **kw)


def test_a_tenant_admin_manages_its_own_tenants_keys_only(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    admin = key("t-acme", "admin")
    r = _call(gw, "POST", "/v1/admin/keys", admin, json={"scopes": ["inference"], "name": "bot", "rpm": 5})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["tenant"] == "t-acme" and made["key"].startswith("sk-keel-") and made["limits"]["rpm"] == 5
    assert made["object"] == "api_key" and made["revoked_at"] is None
    r = _call(gw, "POST", "/v1/admin/keys", admin, json={"tenant": "t-globex"})
    assert r.status_code == 403 and r.json()["error"]["param"] == "tenant"
    assert _call(gw, "GET", "/v1/admin/keys?tenant=t-globex", admin).status_code == 403
    listed = _call(gw, "GET", "/v1/admin/keys", admin).json()
    assert listed["object"] == "list" and made["id"] in {k["id"] for k in listed["data"]}
    assert {k["tenant"] for k in listed["data"]} == {"t-acme"}
    assert "key" not in listed["data"][0]  # the secret is shown once, at creation

    # Another tenant's key looks missing, to show and to revoke.
    theirs = _call(gw, "POST", "/v1/admin/keys", key("t-globex", "admin"), json={}).json()
    for method in ("GET", "DELETE"):
        r = _call(gw, method, f"/v1/admin/keys/{theirs['id']}", admin)
        assert r.status_code == 404 and r.json()["error"]["param"] == "key_id"
    assert _call(gw, "GET", "/v1/admin/keys/nokey", admin).status_code == 404
    assert _call(gw, "GET", f"/v1/admin/keys/{made['id']}", admin).json()["name"] == "bot"
    revoked = _call(gw, "DELETE", f"/v1/admin/keys/{made['id']}", admin).json()
    assert revoked["revoked_at"] is not None
    r = _call(gw, "GET", "/v1/models", made["key"])
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_the_operator_tenant_manages_every_tenant(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    op = key("keel", "admin")
    r = _call(gw, "POST", "/v1/admin/keys", op, json={"tenant": "t-initech", "scopes": ["training"]})
    assert r.status_code == 201 and r.json()["tenant"] == "t-initech"
    assert _call(gw, "GET", f"/v1/admin/keys/{r.json()['id']}", op).status_code == 200
    assert {k["tenant"] for k in _call(gw, "GET", "/v1/admin/keys?tenant=t-initech", op).json()["data"]} == {
        "t-initech"
    }


def test_admin_input_and_scope_errors(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()
    op = key("keel", "admin")
    for body, param in (
        ({"tenant": "Not Valid"}, "tenant"),
        ({"scopes": ["root"]}, "scopes"),
        ({"scopes": []}, "scopes"),
    ):
        r = _call(gw, "POST", "/v1/admin/keys", op, json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    r = _call(gw, "POST", "/v1/admin/keys", op, json={"colour": "blue"})  # extra fields are refused here
    assert r.status_code == 400 and r.json()["error"]["param"] == "colour"
    r = _call(gw, "POST", "/v1/admin/keys", key("t-acme", "inference", "training"), json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert _call(gw, "GET", "/v1/admin/keys", None).status_code == 401


def test_livez_readyz_and_metrics(make_gateway: Callable[..., ThreadedGateway], closed_port: int) -> None:
    gw = make_gateway()
    assert httpx.get(f"{gw.url}/livez").json() == {"status": "ok"}
    r = httpx.get(f"{gw.url}/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "checks": {"redis": "ok", "inference": "ok"}}
    r = httpx.get(f"{gw.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "keel_gateway_requests_total" in r.text
    # Not ready without inference, and it says which dependency is missing.
    lone = make_gateway(inference_target=f"127.0.0.1:{closed_port}")
    r = httpx.get(f"{lone.url}/readyz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    assert r.json()["checks"] == {"redis": "ok", "inference": "unreachable: UNAVAILABLE"}
    assert httpx.get(f"{lone.url}/livez").status_code == 200
    assert "/readyz" not in httpx.get(f"{gw.url}/openapi.json").json()["paths"]


def test_files_and_jobs_need_the_training_scope_and_say_when_training_is_down(
    make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway()  # training points at a closed port
    inference_only, trainer = key("t-acme", "inference"), key("t-acme", "training")
    for method, path in (
        ("GET", "/v1/files"),
        ("GET", "/v1/files/file_1"),
        ("DELETE", "/v1/files/file_1"),
        ("GET", "/v1/fine_tuning/jobs"),
        ("GET", "/v1/fine_tuning/jobs/ftjob_1"),
        ("POST", "/v1/fine_tuning/jobs/ftjob_1/cancel"),
        ("POST", "/v1/fine_tuning/jobs/ftjob_1/resume"),
        ("GET", "/v1/fine_tuning/jobs/ftjob_1/events"),
        ("GET", "/v1/fine_tuning/jobs/ftjob_1/checkpoints"),
    ):
        r = _call(gw, method, path, inference_only)
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope", path
        r = _call(gw, method, path, trainer)
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable", path
        assert r.json()["error"]["message"].startswith("training is unavailable")
    # Checked here before training is asked.
    r = _call(gw, "GET", "/v1/fine_tuning/jobs?limit=0", trainer)
    assert r.status_code == 400 and r.json()["error"]["param"] == "limit"
    r = _call(
        gw,
        "POST",
        "/v1/fine_tuning/jobs",
        trainer,
        json={"model": "m", "training_file": "f", "hyperparameters": {"n_epoch": 1}},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "hyperparameters.n_epoch"
    r = _call(gw, "POST", "/v1/files", trainer, data={"purpose": "fine-tune"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_required_parameter"
