"""Operations: ``/livez`` (the process answers), ``/readyz`` (Redis and inference reachable;
503 naming what is not) and ``/metrics`` (Prometheus). Not in the OpenAPI document."""

from __future__ import annotations

import asyncio

import grpc
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from keel_gateway.http_api.deps import RuntimeDep

router = APIRouter(include_in_schema=False)


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(rt: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(rt.redis.ping(), 2)
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    try:
        resp = await health_pb2_grpc.HealthStub(rt.inference_channel).Check(
            health_pb2.HealthCheckRequest(), timeout=2
        )
        checks["inference"] = "ok" if resp.status == health_pb2.HealthCheckResponse.SERVING else "not serving"
    except grpc.RpcError as err:
        checks["inference"] = f"unreachable: {err.code().name}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
