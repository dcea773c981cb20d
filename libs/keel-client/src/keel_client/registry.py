"""Python SDK for the registry's gRPC API (operators, inside the cluster): thin, typed wrappers over
the stub with readable errors, and ``RegistryJson``: the same calls answered in the gateway's
JSON shapes. Trainers reach the registry through the gateway (``keel_client.registry_routes``)."""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from keel.registry.v1 import registry_pb2 as pb
from keel.registry.v1 import registry_pb2_grpc as pb_grpc
from keel_common.artifacts import file_sha256, pack_dir
from keel_common.contract import ACTOR_HEADER
from keel_common.errors import KeelError, field_violation
from keel_common.grpc import channel
from keel_common.protoenum import enum_name, enum_value

CHUNK = 1024 * 1024
DEFAULT_TARGET = "127.0.0.1:50051"


class KeelApiError(KeelError):
    """A failed registry call: the gRPC status (``code``), the server's message and, when the
    service named one, the request field at fault (``field``, from its BadRequest detail)."""

    def __init__(self, code: grpc.StatusCode, message: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code  # this call's status, not the class default

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message, self.field))


def _call(fn: Any, request: Any, **kwargs: Any) -> Any:
    try:
        return fn(request, **kwargs)
    except grpc.RpcError as exc:
        violation = field_violation(exc)
        field = violation[0] if violation else None
        raise KeelApiError(exc.code(), exc.details() or "", field) from None


def status_value(name: str) -> str | None:
    """``"ready"`` → ``"VERSION_STATUS_READY"`` (protobuf accepts enum names); empty → unset."""
    return pb.VersionStatus.Name(enum_value(pb.VersionStatus, name)) if name else None


def describe_resolution(res: pb.ResolveResponse) -> str:
    """How a ref was resolved: "alias production", "version" or "latest"."""
    return f"alias {res.alias}" if res.resolved_via == "alias" else res.resolved_via


def status_name(value: int) -> str:
    return enum_name(pb.VersionStatus, value)


class RegistryClient:
    def __init__(self, target: str = DEFAULT_TARGET, actor: str = "", timeout: float = 30.0) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = channel(target)
        self.stub = pb_grpc.RegistryServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = ((ACTOR_HEADER, actor),) if actor else ()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rpc(self, method: Any, request: Any) -> Any:
        return _call(method, request, timeout=self.timeout, metadata=self._metadata)

    # models
    def create_model(self, name: str, description: str = "", tenant: str = "") -> pb.Model:
        return self._rpc(
            self.stub.CreateModel, pb.CreateModelRequest(name=name, description=description, tenant=tenant)
        )

    def get_model(self, name: str) -> pb.Model:
        return self._rpc(self.stub.GetModel, pb.GetModelRequest(name=name))

    def _pages(self, method: Any, request: Any, items: str) -> Iterator[Any]:
        """Follow next_page_token until the last page."""
        while True:
            resp = self._rpc(method, request)
            yield from getattr(resp, items)
            if not resp.next_page_token:
                return
            request.page_token = resp.next_page_token

    def list_models(self, tenant: str = "", query: str = "", page_size: int = 0) -> Iterator[pb.Model]:
        request = pb.ListModelsRequest(tenant=tenant, query=query, page_size=page_size)
        return self._pages(self.stub.ListModels, request, "models")

    # versions
    def create_version(self, model: str, base_model: str, **fields: Any) -> pb.ModelVersion:
        status = fields.pop("status", "")
        lineage = fields.pop("lineage", None)
        req = pb.CreateVersionRequest(
            model=model, base_model=base_model, status=status_value(status), **fields
        )
        if lineage:
            req.lineage.CopyFrom(pb.Lineage(**lineage))
        return self._rpc(self.stub.CreateVersion, req)

    def get_version(self, model: str, version: int) -> pb.ModelVersion:
        return self._rpc(self.stub.GetVersion, pb.GetVersionRequest(model=model, version=version))

    def list_versions(self, model: str = "", page_size: int = 0, **filters: Any) -> Iterator[pb.ModelVersion]:
        status = filters.pop("status", "")
        request = pb.ListVersionsRequest(
            model=model, page_size=page_size, status=status_value(status), **filters
        )
        return self._pages(self.stub.ListVersions, request, "versions")

    def update_version(self, model: str, version: int, **fields: Any) -> pb.ModelVersion:
        status = fields.pop("status", "")
        return self._rpc(
            self.stub.UpdateVersion,
            pb.UpdateVersionRequest(model=model, version=version, status=status_value(status), **fields),
        )

    def upload_file(self, model: str, path: str | Path, filename: str = "") -> pb.ArtifactRef:
        """Stream a file into the registry's artifact store; its sha256 is checked end to end."""
        path = Path(path)
        digest = file_sha256(path)

        def messages() -> Iterator[pb.UploadArtifactRequest]:
            yield pb.UploadArtifactRequest(
                header=pb.UploadArtifactHeader(model=model, filename=filename or path.name, sha256=digest)
            )
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    yield pb.UploadArtifactRequest(chunk=chunk)

        return _call(
            self.stub.UploadArtifact, messages(), timeout=max(self.timeout, 600), metadata=self._metadata
        )

    def upload_dir(self, model: str, path: str | Path) -> pb.ArtifactRef:
        """Upload a directory (e.g. a PEFT adapter) as one reproducible tar archive."""
        with tempfile.TemporaryDirectory() as tmp:
            # Named after the folder where that makes a plain file name, else "artifact.tar".
            stem = re.sub(r"[^A-Za-z0-9._-]", "-", Path(path).resolve().name).lstrip("._-") or "artifact"
            archive = pack_dir(path, Path(tmp) / f"{stem[:200]}.tar")
            return self.upload_file(model, archive)

    # aliases
    def set_alias(self, model: str, alias: str, version: int, reason: str = "") -> pb.Alias:
        return self._rpc(
            self.stub.SetAlias, pb.SetAliasRequest(model=model, alias=alias, version=version, reason=reason)
        )

    def delete_alias(self, model: str, alias: str, reason: str = "") -> int:
        resp = self._rpc(
            self.stub.DeleteAlias, pb.DeleteAliasRequest(model=model, alias=alias, reason=reason)
        )
        return int(resp.previous_version)

    def list_aliases(self, model: str) -> list[pb.Alias]:
        return list(self._rpc(self.stub.ListAliases, pb.ListAliasesRequest(model=model)).aliases)

    def alias_history(self, model: str, alias: str = "", page_size: int = 0) -> list[pb.AliasEvent]:
        """Every recorded move, newest first (all pages)."""
        req = pb.GetAliasHistoryRequest(model=model, alias=alias, page_size=page_size)
        return list(self._pages(self.stub.GetAliasHistory, req, "events"))

    def rollback_alias(self, model: str, alias: str, reason: str = "") -> pb.Alias:
        return self._rpc(
            self.stub.RollbackAlias, pb.RollbackAliasRequest(model=model, alias=alias, reason=reason)
        )

    def resolve(self, ref: str) -> pb.ResolveResponse:
        return self._rpc(self.stub.Resolve, pb.ResolveRequest(ref=ref))


# --- the registry's answers in the gateway's JSON shapes ------------------------------------------
def _opt(value: str) -> str | None:
    return value or None


def model_json(m: pb.Model) -> dict[str, Any]:
    """A model as ``GET /v1/registry/models/{name}`` shows it."""
    return {
        "object": "registry.model",
        "id": m.name,
        "name": m.name,
        "owned_by": m.tenant,
        "description": m.description,
        "latest_version": m.latest_version,
        "aliases": dict(sorted(m.aliases.items())),
        "created_by": m.creator,
        "created_at": m.created_at.seconds,
        "updated_at": m.updated_at.seconds,
    }


def version_json(v: pb.ModelVersion) -> dict[str, Any]:
    """A version as the gateway shows it, with the artifact's URI (which only operators see)."""
    lin = v.lineage
    dataset = f"{lin.dataset_id}@{lin.dataset_version}" if lin.dataset_id and lin.dataset_version else None
    artifact = {"uri": v.artifact_uri, "sha256": v.artifact_sha256, "bytes": v.artifact_size_bytes}
    return {
        "object": "registry.version",
        "id": f"{v.model}/{v.version}",
        "model": v.model,
        "version": v.version,
        "status": status_name(v.status).lower() if v.status else "unknown",
        "status_details": _opt(v.status_message),
        "base_model": v.base_model,
        "aliases": sorted(v.aliases),
        "metrics": dict(sorted(v.metrics.items())),
        "params": dict(sorted(v.params.items())),
        "lineage": {
            "training_job_id": _opt(lin.training_job_id),
            "dataset": dataset or _opt(lin.dataset_id),
            "dataset_id": _opt(lin.dataset_id),
            "dataset_version": _opt(lin.dataset_version),
            "source": _opt(lin.source),
            "parent_version": _opt(lin.parent_version),
        },
        "tags": list(v.tags),
        "description": v.description,
        "artifact": artifact if v.artifact_uri else None,
        "created_by": v.creator,
        "created_at": v.created_at.seconds,
        "updated_at": v.updated_at.seconds,
    }


def alias_json(a: pb.Alias) -> dict[str, Any]:
    return {
        "object": "registry.alias",
        "model": a.model,
        "alias": a.alias,
        "version": a.version,
        "updated_by": a.updated_by,
        "updated_at": a.updated_at.seconds,
    }


def event_json(e: pb.AliasEvent) -> dict[str, Any]:
    return {
        "object": "registry.alias_event",
        "id": str(e.id),
        "model": e.model,
        "alias": e.alias,
        "action": enum_name(pb.AliasAction, e.action).lower(),
        "from_version": e.from_version or None,
        "to_version": e.to_version or None,
        "actor": e.actor,
        "reason": e.reason,
        "created_at": e.at.seconds,
    }


def _first(items: Iterator[Any], limit: int | None) -> list[Any]:
    return list(itertools.islice(items, limit))


class RegistryJson:
    """The registry's gRPC API (an operator's, inside the cluster: every tenant, no key) with
    the methods and answers of :class:`keel_client.registry_routes.RegistryRoutesMixin`, so a
    caller works the same over either."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> RegistryJson:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def list_registry_models(
        self, query: str | None = None, limit: int | None = None, tenant: str = ""
    ) -> list[dict[str, Any]]:
        return [model_json(m) for m in _first(self.client.list_models(tenant, query or ""), limit)]

    def get_registry_model(self, name: str) -> dict[str, Any]:
        return model_json(self.client.get_model(name))

    def list_model_versions(
        self,
        name: str,
        status: str | None = None,
        tag: str | None = None,
        base_model: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``name`` empty: every model's versions."""
        found = self.client.list_versions(
            name, status=status or "", tag=tag or "", base_model=base_model or ""
        )
        return [version_json(v) for v in _first(found, limit)]

    def get_model_version(self, name: str, version: int) -> dict[str, Any]:
        return version_json(self.client.get_version(name, version))

    def resolve_model(self, ref: str) -> dict[str, Any]:
        res = self.client.resolve(ref)
        return {
            "object": "registry.resolution",
            "ref": ref,
            "resolved_via": res.resolved_via,
            "alias": res.alias or None,
            "version": version_json(res.version),
        }

    def list_aliases(self, name: str) -> list[dict[str, Any]]:
        return [alias_json(a) for a in self.client.list_aliases(name)]

    def set_alias(self, name: str, alias: str, version: int, reason: str | None = None) -> dict[str, Any]:
        return alias_json(self.client.set_alias(name, alias, version, reason or ""))

    def delete_alias(self, name: str, alias: str, reason: str | None = None) -> dict[str, Any]:
        previous = self.client.delete_alias(name, alias, reason or "")
        return {
            "object": "registry.alias",
            "model": name,
            "alias": alias,
            "deleted": True,
            "previous_version": previous,
        }

    def rollback_alias(self, name: str, alias: str, reason: str | None = None) -> dict[str, Any]:
        return alias_json(self.client.rollback_alias(name, alias, reason or ""))

    def alias_history(
        self, name: str, alias: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        return [event_json(e) for e in self.client.alias_history(name, alias or "")][:limit]

    def promote(
        self, name: str, version: int, alias: str = "production", reason: str | None = None
    ) -> dict[str, Any]:
        """As the gateway promotes: the alias moves to ``version``, ``reason`` in its history."""
        previous = self.client.get_model(name).aliases.get(alias, 0)
        why = reason or f"promote {name}/{version} to {alias}"
        a = self.client.set_alias(name, alias, version, why)
        return {
            "object": "registry.promotion",
            "model": a.model,
            "alias": a.alias,
            "version": a.version,
            "previous_version": previous or None,
            "moved": previous != a.version,
            "reason": why,
            "updated_by": a.updated_by,
            "updated_at": a.updated_at.seconds,
            "evaluation": None,  # gated promotions go through the gateway (the training service)
        }
