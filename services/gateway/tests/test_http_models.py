"""The models router and routing over a real registry (gRPC on localhost, SQLite, Valkey alias
events): the list per tenant, one model's route, tenant isolation, and what keeps working
while the registry is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from keel_gateway.testing import ThreadedGateway

BASE = "smollm2-135m-instruct"


def _get(gw: ThreadedGateway, path: str, token: str) -> httpx.Response:
    return httpx.get(f"{gw.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _chat(gw: ThreadedGateway, token: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    return httpx.post(
        f"{gw.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_the_models_list_is_per_tenant(
    acme_registry: Any, make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway(registry_target=f"127.0.0.1:{acme_registry.grpc_port}")
    body = _get(gw, "/v1/models", key("acme", "inference")).json()
    assert body["object"] == "list"
    assert [(m["id"], m["owned_by"]) for m in body["data"]] == [
        (BASE, "keel"),
        ("acme-bot", "acme"),
        ("acme-bot@production", "acme"),
        ("acme-bot@staging", "acme"),
    ]
    assert body["data"][0]["created"] == 0 and body["data"][1]["created"] > 0
    other = _get(gw, "/v1/models", key("globex", "inference")).json()
    assert [m["id"] for m in other["data"]] == [BASE]
    assert _get(gw, "/v1/models", key("acme", "training")).status_code == 403


def test_one_models_route_and_tenant_isolation(
    acme_registry: Any, make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway(registry_target=f"127.0.0.1:{acme_registry.grpc_port}")
    acme, globex = key("acme", "inference"), key("globex", "inference")
    r = _get(gw, "/v1/models/acme-bot@staging", acme)
    assert r.status_code == 200
    assert r.json()["keel"] == {"base_model": BASE, "version": 2, "adapter": "acme-bot/2"}
    assert r.json()["owned_by"] == "acme"
    assert _get(gw, f"/v1/models/{BASE}", globex).json()["keel"]["adapter"] == ""
    # Another tenant's model looks like one that does not exist.
    for path in ("/v1/models/acme-bot", "/v1/models/nope"):
        r = _get(gw, path, globex)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert _chat(gw, globex, "acme-bot").status_code == 404
    r = _chat(gw, acme, "acme-bot")
    assert r.status_code == 200 and r.headers["x-keel-model"] == "acme-bot/1"


def test_while_the_registry_is_down_base_models_and_cached_routes_still_serve(
    acme_registry: Any,
    make_gateway: Callable[..., ThreadedGateway],
    key: Callable[..., str],
    inference: Any,
) -> None:
    # A cache TTL of 0: every request for a registry model asks the registry again, so the
    # answers below come from the stale-route path, not from a still-fresh cache entry.
    gw = make_gateway(registry_target=f"127.0.0.1:{acme_registry.grpc_port}", route_cache_ttl_s=0)
    acme = key("acme", "inference")
    assert _chat(gw, acme, "acme-bot").headers["x-keel-model"] == "acme-bot/1"
    acme_registry.stop(0)

    r = _chat(gw, acme, BASE)
    assert r.status_code == 200 and r.headers["x-keel-model"] == BASE
    r = _chat(gw, acme, "acme-bot")
    assert r.status_code == 200 and r.headers["x-keel-model"] == "acme-bot/1"
    assert inference.servicer.requests[-1].adapter.ref == "acme-bot/1"
    # Never resolved before: nothing to fall back on, a clear 503 to retry.
    r = _chat(gw, acme, "acme-bot@staging")
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "upstream_unavailable" and err["message"].startswith("registry is unavailable")
    assert r.headers["retry-after"] == "1"
    # A stale route is still the owner's only.
    assert _chat(gw, key("globex", "inference"), "acme-bot").status_code == 404
    metrics = httpx.get(f"{gw.url}/metrics").text
    stale = [ln for ln in metrics.splitlines() if ln.startswith("keel_gateway_stale_routes_total")]
    assert stale and float(stale[0].split()[-1]) >= 1
