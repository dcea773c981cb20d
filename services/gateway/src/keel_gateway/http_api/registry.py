"""``/v1/registry``: the caller's tenant's registered models, their versions (metrics, params,
lineage), aliases and their history, and promotion, over the registry service (the training
scope, for reading as for changing). Another tenant's model is a 404, as a missing one is."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from keel_gateway.http_api.deps import EvaluationsDep, RegistryDep, TrainingKey, actor
from keel_gateway.registry_schemas import (
    AliasEventPage,
    AliasList,
    DeletedAlias,
    ModelPage,
    PromoteRequest,
    Promotion,
    RegistryAlias,
    RegistryModel,
    RegistryVersion,
    Resolution,
    RollbackAliasRequest,
    SetAliasRequest,
    VersionPage,
)

router = APIRouter(tags=["registry"])
MODEL = "/v1/registry/models/{model}"


@router.get("/v1/registry/models")
async def list_models(
    key: TrainingKey,
    reg: RegistryDep,
    query: str | None = Query(None, description="a substring of the name"),
    after: str | None = None,
    limit: int | None = None,
) -> ModelPage:
    """The tenant's registered models by name, each with its aliases and latest version."""
    return await reg.list_models(key.tenant, query, after, limit)


@router.get("/v1/registry/resolve")
async def resolve(
    key: TrainingKey,
    reg: RegistryDep,
    ref: str | None = Query(None, description="name, name@alias or name/N (required)"),
) -> Resolution:
    """The version a model name serves, as chat completions route it: `name` (its production
    alias, else its latest ready version), `name@alias` or `name/N`."""
    return await reg.resolve(key.tenant, ref)


@router.get(MODEL)
async def get_model(model: str, key: TrainingKey, reg: RegistryDep) -> RegistryModel:
    return await reg.get_model(key.tenant, model)


@router.get(f"{MODEL}/versions")
async def list_versions(
    model: str,
    key: TrainingKey,
    reg: RegistryDep,
    status: str | None = Query(None, description="pending, ready, failed or archived"),
    tag: str | None = None,
    base_model: str | None = None,
    after: str | None = Query(None, description="the id (name/N) of the last version already seen"),
    limit: int | None = None,
) -> VersionPage:
    """The model's versions, newest first, with metrics, params and lineage."""
    return await reg.list_versions(key.tenant, model, status, tag, base_model, after, limit)


@router.get(f"{MODEL}/versions/{{version}}")
async def get_version(model: str, version: str, key: TrainingKey, reg: RegistryDep) -> RegistryVersion:
    return await reg.get_version(key.tenant, model, version)


@router.get(f"{MODEL}/aliases")
async def list_aliases(model: str, key: TrainingKey, reg: RegistryDep) -> AliasList:
    return await reg.list_aliases(key.tenant, model)


@router.get(f"{MODEL}/aliases/history")
async def alias_history(
    model: str,
    key: TrainingKey,
    reg: RegistryDep,
    alias: str | None = Query(None, description="one alias (default: every alias)"),
    after: str | None = Query(None, description="the id of the last event already seen"),
    limit: int | None = None,
) -> AliasEventPage:
    """Every move of the model's aliases, newest first: who, when, from which version to which,
    and why."""
    return await reg.alias_history(key.tenant, model, alias, after, limit)


@router.put(f"{MODEL}/aliases/{{alias}}")
async def set_alias(
    model: str, alias: str, body: SetAliasRequest, key: TrainingKey, reg: RegistryDep
) -> RegistryAlias:
    """Create the alias or move it to a ready version; requests for `model@alias` are served by
    that version at once (every gateway and inference replica hears of the move)."""
    return await reg.set_alias(key.tenant, actor(key), model, alias, body)


@router.delete(f"{MODEL}/aliases/{{alias}}")
async def delete_alias(
    model: str,
    alias: str,
    key: TrainingKey,
    reg: RegistryDep,
    reason: str | None = Query(None, description="recorded in the alias history"),
) -> DeletedAlias:
    return await reg.delete_alias(key.tenant, actor(key), model, alias, reason)


@router.post(f"{MODEL}/aliases/{{alias}}/rollback")
async def rollback_alias(
    model: str,
    alias: str,
    key: TrainingKey,
    reg: RegistryDep,
    body: RollbackAliasRequest | None = None,
) -> RegistryAlias:
    """Move the alias back to the version it pointed at before its latest move."""
    return await reg.rollback_alias(key.tenant, actor(key), model, alias, body.reason if body else None)


@router.post(
    f"{MODEL}/promote",
    responses={202: {"model": Promotion, "description": "gated: the evaluation that decides is queued"}},
)
async def promote(
    model: str,
    body: PromoteRequest,
    key: TrainingKey,
    reg: RegistryDep,
    evals: EvaluationsDep,
    response: Response,
) -> Promotion:
    """Move an alias (`production` by default) to a ready version, with the reason recorded in
    the alias history. With `gate`, nothing moves now: the answer is 202 with the evaluation
    that compares the version with what the alias serves, on the same questions, and moves the
    alias only if the version scores at least as well (plus the margin); poll the evaluation."""
    if body.gate is None:
        return await reg.promote(key.tenant, actor(key), model, body)
    response.status_code = 202
    return await evals.promote(key.tenant, actor(key), model, body)
