"""``/v1/admin/keys``: create, list, show and revoke API keys (the admin scope). Which tenant
an admin may act on is decided in ``keel_gateway.keys``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from keel_gateway.http_api.deps import AdminKey, GatewayDep
from keel_gateway.keys import admin_tenant, check_scopes, check_tenant, managed_key
from keel_gateway.schemas import CreateKeyRequest

router = APIRouter(tags=["admin"])


@router.post("/v1/admin/keys", status_code=201)
async def create_key(
    req: CreateKeyRequest,
    caller: AdminKey,
    gw: GatewayDep,
) -> JSONResponse:
    tenant = check_tenant(admin_tenant(caller, req.tenant, gw.settings.operator_tenant))
    check_scopes(req.scopes)
    key, token = await gw.keys.create(tenant, req.scopes, req.name, req.rpm, req.tpm, req.concurrency)
    return JSONResponse({**key.public(), "key": token}, status_code=201)


@router.get("/v1/admin/keys")
async def list_keys(
    caller: AdminKey,
    gw: GatewayDep,
    tenant: str | None = None,
) -> dict[str, Any]:
    target = admin_tenant(caller, tenant, gw.settings.operator_tenant)
    return {"object": "list", "data": [k.public() for k in await gw.keys.list(target)]}


@router.get("/v1/admin/keys/{key_id}")
async def get_key(
    key_id: str,
    caller: AdminKey,
    gw: GatewayDep,
) -> dict[str, Any]:
    found = managed_key(caller, await gw.keys.get(key_id), key_id, gw.settings.operator_tenant)
    return found.public()


@router.delete("/v1/admin/keys/{key_id}")
async def revoke_key(
    key_id: str,
    caller: AdminKey,
    gw: GatewayDep,
) -> dict[str, Any]:
    managed_key(caller, await gw.keys.get(key_id), key_id, gw.settings.operator_tenant)
    revoked = await gw.keys.revoke(key_id)
    assert revoked is not None
    return revoked.public()
