"""How `keel status` and `keel up` tell whether a component of the local platform serves:
gRPC health for the gRPC services, ``/livez`` and ``/readyz`` over HTTP, a PING for Valkey."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import httpx
import redis

from keel_client.state import Component
from keel_common.grpc import channel
from keel_common.grpc.client import health_status


def _readiness(http: str) -> str:
    """``ready``, or why not, from a service's /readyz (keel_common's and the gateway's shapes)."""
    try:
        with urllib.request.urlopen(f"{http}/readyz", timeout=2):
            return "ready"
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            return f"not ready (HTTP {exc.code})"
        if "reasons" in body:
            return str(body["reasons"])
        failing = {k: v for k, v in (body.get("checks") or {}).items() if v != "ok"}
        return "not ready: " + ", ".join(f"{k} {v}" for k, v in failing.items())
    except OSError as exc:
        return f"unreachable: {exc}"


def component_health(comp: Component) -> tuple[str, str]:
    """(status, detail) for one component of a running platform. An HTTP-only service (the
    gateway) is SERVING when /readyz passes, LIVE when only /livez does."""
    if comp.http and not comp.grpc:
        try:
            live = httpx.get(f"{comp.http}/livez", timeout=2, trust_env=False)
        except httpx.HTTPError as exc:
            return "UNREACHABLE", f"{type(exc).__name__}: {exc}"
        if live.status_code != 200:
            return "UNREACHABLE", f"/livez answered {live.status_code}"
        detail = _readiness(comp.http)
        return ("SERVING" if detail == "ready" else "LIVE"), detail
    if comp.grpc:
        with channel(comp.grpc) as ch:
            status = health_status(ch)
        return status, _readiness(comp.http) if comp.http else ""
    if comp.url:
        try:
            redis.Redis.from_url(comp.url, socket_connect_timeout=2).ping()
            return "SERVING", ""
        except redis.RedisError as exc:
            return "UNREACHABLE", str(exc)
    return "UNKNOWN", ""
