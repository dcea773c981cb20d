"""The registry's values: what the core returns and accepts, and how database rows become them.
Transport-free: the gRPC layer turns these into protos."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from keel_common.sql import as_utc
from keel_registry.db import AliasEvent, ModelAlias, ModelVersion, RegisteredModel


@dataclass(frozen=True)
class Lineage:
    training_job_id: str = ""
    dataset_id: str = ""
    dataset_version: str = ""
    source: str = ""
    parent_version: str = ""


@dataclass(frozen=True)
class ModelView:
    name: str
    description: str
    tenant: str
    creator: str
    created_at: datetime
    updated_at: datetime
    latest_version: int
    aliases: dict[str, int]


@dataclass(frozen=True)
class VersionView:
    model: str
    version: int
    base_model: str
    artifact_uri: str
    artifact_sha256: str
    artifact_size_bytes: int
    metrics: dict[str, float]
    params: dict[str, str]
    lineage: Lineage
    tags: list[str]
    description: str
    status: str
    status_message: str
    creator: str
    created_at: datetime
    updated_at: datetime
    aliases: list[str]

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"


@dataclass(frozen=True)
class AliasView:
    model: str
    alias: str
    version: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class AliasEventView:
    id: int
    model: str
    alias: str
    action: str
    from_version: int
    to_version: int
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Resolution:
    version: VersionView
    resolved_via: str  # "alias" | "version" | "latest"
    alias: str = ""


@dataclass
class VersionSpec:
    """Everything CreateVersion accepts, validated by ``Registry.create_version``."""

    model: str
    base_model: str
    artifact_uri: str = ""
    artifact_sha256: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    tags: list[str] = field(default_factory=list)
    description: str = ""
    status: str = ""
    creator: str = ""
    create_model: bool = False
    tenant: str = ""


@dataclass
class VersionUpdate:
    status: str = ""
    status_message: str | None = None
    description: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    add_tags: list[str] = field(default_factory=list)
    remove_tags: list[str] = field(default_factory=list)
    artifact_uri: str = ""
    artifact_sha256: str = ""


def model_view(m: RegisteredModel) -> ModelView:
    return ModelView(
        name=m.name,
        description=m.description,
        tenant=m.tenant,
        creator=m.creator,
        created_at=as_utc(m.created_at),
        updated_at=as_utc(m.updated_at),
        latest_version=m.latest_version,
        aliases={a.alias: a.version for a in m.aliases},
    )


def version_view(v: ModelVersion) -> VersionView:
    return VersionView(
        model=v.model.name,
        version=v.version,
        base_model=v.base_model,
        artifact_uri=v.artifact_uri,
        artifact_sha256=v.artifact_sha256,
        artifact_size_bytes=v.artifact_size_bytes,
        metrics=dict(v.metrics or {}),
        params=dict(v.params or {}),
        lineage=Lineage(v.training_job_id, v.dataset_id, v.dataset_version, v.source, v.parent_version),
        tags=sorted(t.tag for t in v.tags),
        description=v.description,
        status=v.status,
        status_message=v.status_message,
        creator=v.creator,
        created_at=as_utc(v.created_at),
        updated_at=as_utc(v.updated_at),
        aliases=sorted(a.alias for a in v.model.aliases if a.version == v.version),
    )


def alias_view(a: ModelAlias, model: str) -> AliasView:
    return AliasView(model, a.alias, a.version, a.updated_by, as_utc(a.updated_at))


def event_view(e: AliasEvent, model: str) -> AliasEventView:
    return AliasEventView(
        e.id, model, e.alias, e.action, e.from_version, e.to_version, e.actor, e.reason, as_utc(e.at)
    )
