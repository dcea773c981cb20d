"""gRPC transport for the registry: translate messages, call the core, nothing more."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from keel.registry.v1 import registry_pb2 as pb
from keel.registry.v1 import registry_pb2_grpc as pb_grpc
from keel_common.artifacts import ArtifactStore
from keel_common.errors import InvalidArgument
from keel_common.grpc import GrpcService
from keel_common.grpc.metadata import actor
from keel_common.protoenum import enum_name, prefix
from keel_common.redis import EmbeddedValkey, connect
from keel_common.sql import create_db_engine
from keel_registry import core, migrate
from keel_registry.config import RegistrySettings
from keel_registry.events import AliasPublisher

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RegistryService"].full_name


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _status_name(value: int, field: str = "status") -> str:
    if value == pb.VERSION_STATUS_UNSPECIFIED:
        return ""
    try:
        return enum_name(pb.VersionStatus, value)
    except ValueError as exc:
        raise InvalidArgument(f"unknown status {value}", field=field) from exc


def model_pb(m: core.ModelView) -> pb.Model:
    return pb.Model(
        name=m.name,
        description=m.description,
        tenant=m.tenant,
        creator=m.creator,
        created_at=_ts(m.created_at),
        updated_at=_ts(m.updated_at),
        latest_version=m.latest_version,
        aliases=m.aliases,
    )


def version_pb(v: core.VersionView) -> pb.ModelVersion:
    return pb.ModelVersion(
        model=v.model,
        version=v.version,
        base_model=v.base_model,
        artifact_uri=v.artifact_uri,
        artifact_sha256=v.artifact_sha256,
        artifact_size_bytes=v.artifact_size_bytes,
        metrics=v.metrics,
        params=v.params,
        lineage=pb.Lineage(
            training_job_id=v.lineage.training_job_id,
            dataset_id=v.lineage.dataset_id,
            dataset_version=v.lineage.dataset_version,
            source=v.lineage.source,
            parent_version=v.lineage.parent_version,
        ),
        tags=v.tags,
        description=v.description,
        status=prefix(pb.VersionStatus) + v.status,
        status_message=v.status_message,
        creator=v.creator,
        created_at=_ts(v.created_at),
        updated_at=_ts(v.updated_at),
        aliases=v.aliases,
    )


def alias_pb(a: core.AliasView) -> pb.Alias:
    return pb.Alias(
        model=a.model, alias=a.alias, version=a.version, updated_by=a.updated_by, updated_at=_ts(a.updated_at)
    )


def event_pb(e: core.AliasEventView) -> pb.AliasEvent:
    return pb.AliasEvent(
        id=e.id,
        model=e.model,
        alias=e.alias,
        action=prefix(pb.AliasAction) + e.action,
        from_version=e.from_version,
        to_version=e.to_version,
        actor=e.actor,
        reason=e.reason,
        at=_ts(e.at),
    )


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, registry: core.Registry) -> None:
        self.r = registry

    def CreateModel(self, request: pb.CreateModelRequest, context: grpc.ServicerContext) -> pb.Model:
        return model_pb(
            self.r.create_model(
                request.name, request.description, request.tenant, actor(request.creator, context)
            )
        )

    def GetModel(self, request: pb.GetModelRequest, context: grpc.ServicerContext) -> pb.Model:
        return model_pb(self.r.get_model(request.name))

    def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.ServicerContext
    ) -> pb.ListModelsResponse:
        models, token = self.r.list_models(
            request.tenant, request.query, request.page_size, request.page_token
        )
        return pb.ListModelsResponse(models=[model_pb(m) for m in models], next_page_token=token)

    def UpdateModel(self, request: pb.UpdateModelRequest, context: grpc.ServicerContext) -> pb.Model:
        desc = request.description if request.HasField("description") else None
        return model_pb(self.r.update_model(request.name, desc))

    def CreateVersion(
        self, request: pb.CreateVersionRequest, context: grpc.ServicerContext
    ) -> pb.ModelVersion:
        lin = request.lineage
        spec = core.VersionSpec(
            model=request.model,
            base_model=request.base_model,
            artifact_uri=request.artifact_uri,
            artifact_sha256=request.artifact_sha256,
            metrics=dict(request.metrics),
            params=dict(request.params),
            lineage=core.Lineage(
                lin.training_job_id, lin.dataset_id, lin.dataset_version, lin.source, lin.parent_version
            ),
            tags=list(request.tags),
            description=request.description,
            status=_status_name(request.status),
            creator=actor(request.creator, context),
            create_model=request.create_model,
            tenant=request.tenant,
        )
        return version_pb(self.r.create_version(spec))

    def GetVersion(self, request: pb.GetVersionRequest, context: grpc.ServicerContext) -> pb.ModelVersion:
        return version_pb(self.r.get_version(request.model, request.version))

    def ListVersions(
        self, request: pb.ListVersionsRequest, context: grpc.ServicerContext
    ) -> pb.ListVersionsResponse:
        versions, token = self.r.list_versions(
            model=request.model,
            tag=request.tag,
            status=_status_name(request.status),
            base_model=request.base_model,
            dataset_id=request.dataset_id,
            training_job_id=request.training_job_id,
            tenant=request.tenant,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListVersionsResponse(versions=[version_pb(v) for v in versions], next_page_token=token)

    def UpdateVersion(
        self, request: pb.UpdateVersionRequest, context: grpc.ServicerContext
    ) -> pb.ModelVersion:
        change = core.VersionUpdate(
            status=_status_name(request.status),
            status_message=request.status_message if request.HasField("status_message") else None,
            description=request.description if request.HasField("description") else None,
            metrics=dict(request.metrics),
            add_tags=list(request.add_tags),
            remove_tags=list(request.remove_tags),
            artifact_uri=request.artifact_uri,
            artifact_sha256=request.artifact_sha256,
        )
        return version_pb(self.r.update_version(request.model, request.version, change))

    def UploadArtifact(
        self, request_iterator: Iterator[pb.UploadArtifactRequest], context: grpc.ServicerContext
    ) -> pb.ArtifactRef:
        first = next(request_iterator, None)
        if first is None or not first.HasField("header"):
            raise InvalidArgument("the first message must carry the header", field="header")
        header = first.header

        def chunks() -> Iterator[bytes]:
            for msg in request_iterator:
                if msg.HasField("header"):
                    raise InvalidArgument("only the first message may carry a header", field="header")
                yield msg.chunk

        ref = self.r.upload_artifact(header.model, header.filename, header.sha256, chunks())
        return pb.ArtifactRef(uri=ref.uri, sha256=ref.sha256, size_bytes=ref.size_bytes)

    def SetAlias(self, request: pb.SetAliasRequest, context: grpc.ServicerContext) -> pb.Alias:
        return alias_pb(
            self.r.set_alias(
                request.model, request.alias, request.version, actor(request.actor, context), request.reason
            )
        )

    def DeleteAlias(
        self, request: pb.DeleteAliasRequest, context: grpc.ServicerContext
    ) -> pb.DeleteAliasResponse:
        prev = self.r.delete_alias(
            request.model, request.alias, actor(request.actor, context), request.reason
        )
        return pb.DeleteAliasResponse(previous_version=prev)

    def ListAliases(
        self, request: pb.ListAliasesRequest, context: grpc.ServicerContext
    ) -> pb.ListAliasesResponse:
        return pb.ListAliasesResponse(aliases=[alias_pb(a) for a in self.r.list_aliases(request.model)])

    def GetAliasHistory(
        self, request: pb.GetAliasHistoryRequest, context: grpc.ServicerContext
    ) -> pb.GetAliasHistoryResponse:
        events, token = self.r.alias_history(
            request.model, request.alias, request.page_size, request.page_token
        )
        return pb.GetAliasHistoryResponse(events=[event_pb(e) for e in events], next_page_token=token)

    def RollbackAlias(self, request: pb.RollbackAliasRequest, context: grpc.ServicerContext) -> pb.Alias:
        return alias_pb(
            self.r.rollback_alias(request.model, request.alias, actor(request.actor, context), request.reason)
        )

    def Resolve(self, request: pb.ResolveRequest, context: grpc.ServicerContext) -> pb.ResolveResponse:
        res = self.r.resolve(request.ref)
        return pb.ResolveResponse(
            version=version_pb(res.version), resolved_via=res.resolved_via, alias=res.alias
        )


def build(settings: RegistrySettings) -> GrpcService:
    """Wire the registry from settings: database (migrated), artifact store, Redis, gRPC."""
    engine = create_db_engine(settings.resolved_database_url())
    if settings.migrate_on_start:
        migrate.upgrade(engine)
    store = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
    client, embedded = connect(settings.redis_url, Path(settings.data_dir))
    publisher = AliasPublisher(client, settings.alias_channel, settings.events_stream, settings.events_maxlen)
    registry = core.Registry(engine, store, publisher)

    def check_redis() -> None:
        client.ping()

    def check_artifacts() -> None:
        store.ping()

    def stop_deps() -> None:
        client.close()
        if isinstance(embedded, EmbeddedValkey):
            embedded.stop()
        engine.dispose()

    return GrpcService(
        "registry",
        settings,
        lambda server: pb_grpc.add_RegistryServiceServicer_to_server(  # type: ignore[no-untyped-call]
            RegistryServicer(registry), server
        ),
        [SERVICE_NAME],
        {
            "database": lambda: migrate.MIGRATIONS.check(engine),
            "redis": check_redis,
            "artifacts": check_artifacts,
        },
        on_stop=stop_deps,
    )
