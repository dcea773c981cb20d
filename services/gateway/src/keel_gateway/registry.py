"""The registry's trainer operations over its gRPC API, in Keel's JSON shapes: models, versions
(metrics, params, lineage), aliases (set, delete, roll back, history) and promotion.

The gateway owns the tenant boundary here, as it does for fine-tuning jobs: every call first
fetches the model and checks its tenant against the caller's; another tenant's model gets the
same 404 as a missing one, before anything about it (its versions, its aliases) is asked. The
operator tenant has no exception: its keys see its own models, as in model routing."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from keel.registry.v1 import registry_pb2 as pb
from keel_common.contract import ACTOR_HEADER
from keel_common.paging import encode_token
from keel_common.protoenum import enum_name
from keel_gateway.errors import ApiError, from_grpc, model_not_found
from keel_gateway.listing import limit_of
from keel_gateway.registry_schemas import (
    AliasEvent,
    AliasEventPage,
    AliasList,
    Artifact,
    DeletedAlias,
    Lineage,
    ModelPage,
    PromoteRequest,
    Promotion,
    RegistryAlias,
    RegistryModel,
    RegistryVersion,
    Resolution,
    SetAliasRequest,
    VersionPage,
)
from keel_gateway.registry_stub import Metadata, RegistryStub

T = TypeVar("T")
# The registry's field names → the request's.
_PARAMS = {
    "model": "model",
    "name": "model",
    "version": "version",
    "alias": "alias",
    "reason": "reason",
    "ref": "ref",
    "status": "status",
    "tag": "tag",
    "base_model": "base_model",
    "query": "query",
    "page_token": "after",
    "page_size": "limit",
}
_STATUS = {
    "pending": pb.VERSION_STATUS_PENDING,
    "ready": pb.VERSION_STATUS_READY,
    "failed": pb.VERSION_STATUS_FAILED,
    "archived": pb.VERSION_STATUS_ARCHIVED,
}
_SCAN_PAGE = 500  # the registry's largest page


def _error(err: grpc.RpcError, params: dict[str, str] = _PARAMS) -> ApiError:
    api = from_grpc(err, "registry", params)
    if api.status == 404:
        api.code = "model_not_found" if api.param in ("model", None) else "not_found"
    return api


def _opt(value: str) -> str | None:
    return value or None


def model_object(m: pb.Model) -> RegistryModel:
    return RegistryModel(
        id=m.name,
        name=m.name,
        owned_by=m.tenant,
        description=m.description,
        latest_version=m.latest_version,
        aliases=dict(sorted(m.aliases.items())),
        created_by=m.creator,
        created_at=m.created_at.seconds,
        updated_at=m.updated_at.seconds,
    )


def version_object(v: pb.ModelVersion) -> RegistryVersion:
    lin = v.lineage
    dataset = f"{lin.dataset_id}@{lin.dataset_version}" if lin.dataset_id and lin.dataset_version else None
    return RegistryVersion(
        id=f"{v.model}/{v.version}",
        model=v.model,
        version=v.version,
        status=enum_name(pb.VersionStatus, v.status).lower() if v.status else "unknown",
        status_details=_opt(v.status_message),
        base_model=v.base_model,
        aliases=sorted(v.aliases),
        metrics=dict(sorted(v.metrics.items())),
        params=dict(sorted(v.params.items())),
        lineage=Lineage(
            training_job_id=_opt(lin.training_job_id),
            dataset=dataset or _opt(lin.dataset_id),
            dataset_id=_opt(lin.dataset_id),
            dataset_version=_opt(lin.dataset_version),
            source=_opt(lin.source),
            parent_version=_opt(lin.parent_version),
        ),
        tags=list(v.tags),
        description=v.description,
        # Where the store keeps it is the platform's business; what it is, the trainer's.
        artifact=Artifact(sha256=v.artifact_sha256, bytes=v.artifact_size_bytes) if v.artifact_uri else None,
        created_by=v.creator,
        created_at=v.created_at.seconds,
        updated_at=v.updated_at.seconds,
    )


def alias_object(a: pb.Alias) -> RegistryAlias:
    return RegistryAlias(
        model=a.model,
        alias=a.alias,
        version=a.version,
        updated_by=a.updated_by,
        updated_at=a.updated_at.seconds,
    )


def event_object(e: pb.AliasEvent) -> AliasEvent:
    return AliasEvent(
        id=str(e.id),
        model=e.model,
        alias=e.alias,
        action=enum_name(pb.AliasAction, e.action).lower(),
        from_version=e.from_version or None,
        to_version=e.to_version or None,
        actor=e.actor,
        reason=e.reason,
        created_at=e.at.seconds,
    )


def _ids(items: list[RegistryModel] | list[RegistryVersion] | list[AliasEvent]) -> dict[str, str | None]:
    return {"first_id": items[0].id if items else None, "last_id": items[-1].id if items else None}


def _version_number(value: str, model: str, param: str) -> int:
    """``N`` or ``model/N`` (a version's id) → N."""
    number = value.removeprefix(f"{model}/")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) < 2**63:
        raise ApiError(400, f"'{value}' is not a version of {model}.", param=param, code="invalid_value")
    return int(number)


def model_of(ref: str) -> str:
    """The model a ref names, as the registry reads it: ``name@alias``, ``name/N`` or ``name``."""
    if "@" in ref:
        return ref.partition("@")[0]
    return ref.partition("/")[0]


class Registry:
    def __init__(self, stub: RegistryStub, timeout_s: float = 30.0) -> None:
        self.stub = stub
        self.timeout_s = timeout_s

    @staticmethod
    def _meta(actor: str) -> Metadata:
        return ((ACTOR_HEADER, actor),) if actor else ()

    @staticmethod
    async def _call(pending: Awaitable[T], params: dict[str, str] = _PARAMS) -> T:
        """Await a call on the stub; a failure becomes the client's ApiError."""
        try:
            return await pending
        except grpc.RpcError as err:
            raise _error(err, params) from None

    async def _model(self, tenant: str, name: str, param: str = "model") -> pb.Model:
        """The model when it is the tenant's; a missing one and another tenant's are one 404."""
        try:
            model = await self.stub.GetModel(pb.GetModelRequest(name=name), timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise _not_found(name, param) from None
            raise _error(err, {**_PARAMS, "name": param}) from None
        if not tenant or model.tenant != tenant:
            raise _not_found(name, param)
        return model

    # --- models ---------------------------------------------------------------------------------
    async def list_models(
        self, tenant: str, query: str | None, after: str | None, limit: int | None
    ) -> ModelPage:
        req = pb.ListModelsRequest(
            tenant=tenant,
            query=query or "",
            page_size=limit_of(limit),
            page_token=encode_token({"after": after}) if after else "",
        )
        resp = await self._call(self.stub.ListModels(req, timeout=self.timeout_s))
        data = [model_object(m) for m in resp.models if m.tenant == tenant]  # the filter, made sure
        return ModelPage(data=data, has_more=bool(resp.next_page_token), **_ids(data))

    async def get_model(self, tenant: str, name: str) -> RegistryModel:
        return model_object(await self._model(tenant, name))

    # --- versions -------------------------------------------------------------------------------
    async def list_versions(
        self,
        tenant: str,
        name: str,
        status: str | None = None,
        tag: str | None = None,
        base_model: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> VersionPage:
        """Newest first. ``after`` is the id (``name/N``) of the last version already seen."""
        n = limit_of(limit)
        before = _version_number(after, name, "after") if after else None
        if status is not None and status not in _STATUS:
            raise ApiError(
                400, f"status must be one of {', '.join(_STATUS)}.", param="status", code="invalid_value"
            )
        await self._model(tenant, name)
        req = pb.ListVersionsRequest(
            model=name,
            tenant=tenant,
            status=_STATUS[status] if status else pb.VERSION_STATUS_UNSPECIFIED,
            tag=tag or "",
            base_model=base_model or "",
            page_size=n + 1 if before is None else _SCAN_PAGE,
        )
        # The registry pages by a position of its own; the versions of one model come newest
        # first, so the page after version N is read by skipping to the versions below N.
        found: list[pb.ModelVersion] = []
        while len(found) <= n:
            resp = await self._call(self.stub.ListVersions(req, timeout=self.timeout_s))
            found.extend(v for v in resp.versions if before is None or v.version < before)
            if not resp.next_page_token:
                break
            req.page_token, req.page_size = resp.next_page_token, _SCAN_PAGE
        data = [version_object(v) for v in found[:n]]
        return VersionPage(data=data, has_more=len(found) > n, **_ids(data))

    async def get_version(self, tenant: str, name: str, version: str) -> RegistryVersion:
        number = _version_number(version, name, "version")
        await self._model(tenant, name)
        req = pb.GetVersionRequest(model=name, version=number)
        return version_object(await self._call(self.stub.GetVersion(req, timeout=self.timeout_s)))

    async def resolve(self, tenant: str, ref: str | None) -> Resolution:
        """What ``ref`` (``name``, ``name@alias``, ``name/N``) serves, as model routing reads it."""
        if not ref:
            raise ApiError(
                400, "Missing required parameter: 'ref'.", param="ref", code="missing_required_parameter"
            )
        params = {**_PARAMS, "ref": "ref", "name": "ref", "model": "ref"}
        await self._model(tenant, model_of(ref.strip()), "ref")
        res = await self._call(self.stub.Resolve(pb.ResolveRequest(ref=ref), timeout=self.timeout_s), params)
        return Resolution(
            ref=ref,
            resolved_via=res.resolved_via,
            alias=res.alias or None,
            version=version_object(res.version),
        )

    # --- aliases --------------------------------------------------------------------------------
    async def list_aliases(self, tenant: str, name: str) -> AliasList:
        await self._model(tenant, name)
        resp = await self._call(
            self.stub.ListAliases(pb.ListAliasesRequest(model=name), timeout=self.timeout_s)
        )
        return AliasList(data=[alias_object(a) for a in resp.aliases])

    async def set_alias(
        self, tenant: str, actor: str, name: str, alias: str, body: SetAliasRequest
    ) -> RegistryAlias:
        await self._model(tenant, name)
        req = pb.SetAliasRequest(
            model=name, alias=alias, version=body.version, actor=actor, reason=body.reason or ""
        )
        call = self.stub.SetAlias(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return alias_object(await self._call(call))

    async def delete_alias(
        self, tenant: str, actor: str, name: str, alias: str, reason: str | None
    ) -> DeletedAlias:
        await self._model(tenant, name)
        req = pb.DeleteAliasRequest(model=name, alias=alias, actor=actor, reason=reason or "")
        resp = await self._call(
            self.stub.DeleteAlias(req, timeout=self.timeout_s, metadata=self._meta(actor))
        )
        return DeletedAlias(model=name, alias=alias, previous_version=resp.previous_version)

    async def rollback_alias(
        self, tenant: str, actor: str, name: str, alias: str, reason: str | None
    ) -> RegistryAlias:
        """Back to the version the alias pointed at before its latest move."""
        await self._model(tenant, name)
        req = pb.RollbackAliasRequest(model=name, alias=alias, actor=actor, reason=reason or "")
        call = self.stub.RollbackAlias(req, timeout=self.timeout_s, metadata=self._meta(actor))
        return alias_object(await self._call(call))

    async def alias_history(
        self, tenant: str, name: str, alias: str | None, after: str | None, limit: int | None
    ) -> AliasEventPage:
        """Every move of the model's aliases (or of ``alias``), newest first; ``after`` is the id
        of the last event already seen."""
        if after and not (after.isascii() and after.isdigit()):
            raise ApiError(400, f"'{after}' is not an alias event id.", param="after", code="invalid_value")
        n = limit_of(limit)
        await self._model(tenant, name)
        req = pb.GetAliasHistoryRequest(
            model=name,
            alias=alias or "",
            page_size=n,
            page_token=encode_token({"before": int(after)}) if after else "",
        )
        resp = await self._call(self.stub.GetAliasHistory(req, timeout=self.timeout_s))
        data = [event_object(e) for e in resp.events]
        return AliasEventPage(data=data, has_more=bool(resp.next_page_token), **_ids(data))

    async def ready_version(self, tenant: str, name: str, version: int) -> pb.Model:
        """The model, when it is the tenant's and ``version`` is one of its READY versions (what a
        promotion needs, checked before anything is asked of another service)."""
        model = await self._model(tenant, name)
        req = pb.GetVersionRequest(model=name, version=version)
        v = await self._call(self.stub.GetVersion(req, timeout=self.timeout_s))
        if v.status != pb.VERSION_STATUS_READY:
            status = enum_name(pb.VersionStatus, v.status) if v.status else "UNSPECIFIED"
            raise ApiError(
                400,
                f"{name}/{version} is {status}; only READY versions can be promoted",
                param="version",
                code="invalid_value",
            )
        return model

    async def promote(self, tenant: str, actor: str, name: str, body: PromoteRequest) -> Promotion:
        """Move ``body.alias`` to ``body.version`` (READY versions only), with the reason in the
        alias history. ``previous_version`` is where the alias pointed when the call was made."""
        model = await self._model(tenant, name)
        previous = model.aliases.get(body.alias, 0)
        reason = body.reason or f"promote {name}/{body.version} to {body.alias}"
        req = pb.SetAliasRequest(
            model=name, alias=body.alias, version=body.version, actor=actor, reason=reason
        )
        a = await self._call(self.stub.SetAlias(req, timeout=self.timeout_s, metadata=self._meta(actor)))
        return Promotion(
            model=a.model,
            alias=a.alias,
            version=a.version,
            previous_version=previous or None,
            moved=previous != a.version,
            reason=reason,
            updated_by=a.updated_by,
            updated_at=a.updated_at.seconds,
        )


def _not_found(name: str, param: str) -> ApiError:
    err = model_not_found(name)
    err.param = param
    return err
