"""``/v1/models``: the base models inference serves (owned by the operator tenant) and the
caller's tenant's registry models with each of their aliases."""

from __future__ import annotations

from fastapi import APIRouter

from keel_common.contract import OPERATOR_TENANT
from keel_gateway.http_api.bodies import ModelDetail, ModelList, ModelObject, ModelRoute
from keel_gateway.http_api.deps import GatewayDep, InferenceKey

router = APIRouter(tags=["openai"])


@router.get("/v1/models")
async def list_models(key: InferenceKey, gw: GatewayDep) -> ModelList:
    data = [ModelObject(id=b, created=0, owned_by=OPERATOR_TENANT) for b in await gw.router.base_models()]
    for model in await gw.router.tenant_models(key.tenant):
        created = int(model.created_at.seconds)
        data.append(ModelObject(id=model.name, created=created, owned_by=key.tenant))
        data.extend(
            ModelObject(id=f"{model.name}@{alias}", created=created, owned_by=key.tenant)
            for alias in sorted(model.aliases)
        )
    return ModelList(data=data)


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, key: InferenceKey, gw: GatewayDep) -> ModelDetail:
    route = await gw.router.resolve(model_id, key.tenant)
    return ModelDetail(
        id=model_id,
        created=route.created,
        owned_by=route.tenant or OPERATOR_TENANT,
        keel=ModelRoute(base_model=route.base_model, version=route.version, adapter=route.adapter_ref),
    )
