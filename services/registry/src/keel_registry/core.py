"""The registry's domain logic, independent of gRPC: models, versions, aliases, resolution."""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from keel_common import metrics, paging
from keel_common.artifacts import ArtifactRef, ArtifactStore
from keel_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from keel_registry.db import (
    READ_ONLY,
    AliasEvent,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    VersionTag,
    as_utc,
    utcnow,
)
from keel_registry.events import AliasChange, AliasPublisher
from keel_registry.refs import (
    DEFAULT_ALIAS,
    check_alias,
    check_length,
    check_model_name,
    check_tag,
    check_version,
    parse_ref,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

STATUSES = ("PENDING", "READY", "FAILED", "ARCHIVED")
# Which status changes make sense; anything else is a FailedPrecondition.
# PENDING → READY | FAILED; READY ⇄ ARCHIVED. FAILED is final, so a failed version can never
# reach READY (and be aliased) by way of ARCHIVED.
TRANSITIONS = {
    "PENDING": {"READY", "FAILED"},
    "READY": {"ARCHIVED"},
    "FAILED": set(),
    "ARCHIVED": {"READY"},
}
METRIC_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")

VERSIONS_CREATED = metrics.counter("registry", "versions_created", "Model versions created", ("status",))
ALIAS_MOVES = metrics.counter("registry", "alias_moves", "Alias set/delete/rollback operations", ("action",))


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


def _model_view(m: RegisteredModel) -> ModelView:
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


def _version_view(v: ModelVersion) -> VersionView:
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


def _alias_view(a: ModelAlias, model: str) -> AliasView:
    return AliasView(model, a.alias, a.version, a.updated_by, as_utc(a.updated_at))


def _event_view(e: AliasEvent, model: str) -> AliasEventView:
    return AliasEventView(
        e.id, model, e.alias, e.action, e.from_version, e.to_version, e.actor, e.reason, as_utc(e.at)
    )


def _check_metrics(values: dict[str, float], field: str = "metrics") -> dict[str, float]:
    for key, value in values.items():
        if not METRIC_KEY.match(key):
            raise InvalidArgument(f"{key!r} is not a valid metric name", field=field)
        if not math.isfinite(value):
            raise InvalidArgument(f"{value} is not a finite number", field=f"{field}[{key}]")
    return dict(values)


def _check_status(status: str, field: str = "status") -> str:
    if status not in STATUSES:
        raise InvalidArgument(f"{status!r} is not one of {', '.join(STATUSES)}", field=field)
    return status


class Registry:
    def __init__(self, engine: Engine, store: ArtifactStore, publisher: AliasPublisher | None = None) -> None:
        self.engine = engine
        self.store = store
        self.publisher = publisher
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # --- plumbing ---------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """A write transaction (on SQLite it takes the write lock up front: BEGIN IMMEDIATE)."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only transaction; on SQLite a deferred BEGIN so readers never queue behind writers."""
        with self._sessions() as session, session.begin():
            session.connection(execution_options={READ_ONLY: True})
            yield session

    def _retrying(self, work: Callable[[], T], attempts: int = 5) -> T:
        """Retry a transaction that lost a race (unique violation, lock contention)."""
        for attempt in range(attempts):
            try:
                return work()
            except (IntegrityError, OperationalError) as exc:
                if attempt == attempts - 1 or not _transient(exc):
                    raise
                log.info("retrying after a concurrent write", extra={"attempt": attempt + 1})
        raise AssertionError("unreachable")

    def _publish(self, change: AliasChange) -> None:
        ALIAS_MOVES.labels(change.action).inc()
        if self.publisher is not None:
            self.publisher.publish(change)

    @staticmethod
    def _model(session: Session, name: str, field: str = "name", lock: bool = False) -> RegisteredModel:
        """The model row; ``lock`` takes its row lock (PostgreSQL) so every change to one model's
        versions and aliases happens one at a time and sees the state the previous one left."""
        check_model_name(name, field)
        stmt = select(RegisteredModel).where(RegisteredModel.name == name)
        model = session.scalar(stmt.with_for_update() if lock else stmt)
        if model is None:
            raise NotFound(f"model {name!r} does not exist", field=field)
        return model

    @staticmethod
    def _version(
        session: Session, model: RegisteredModel, version: int, field: str = "version"
    ) -> ModelVersion:
        check_version(version, field)
        row = session.scalar(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version)
        )
        if row is None:
            raise NotFound(f"model {model.name!r} has no version {version}", field=field)
        return row

    @staticmethod
    def _alias_row(session: Session, model: RegisteredModel, alias: str) -> ModelAlias | None:
        return session.scalar(
            select(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
        )

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # --- models -----------------------------------------------------------------------
    def create_model(
        self, name: str, description: str = "", tenant: str = "", creator: str = ""
    ) -> ModelView:
        check_model_name(name)
        check_length(tenant, 128, "tenant")
        check_length(creator, 256, "creator")

        def work() -> ModelView:
            with self._tx() as s:
                if s.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name)) is not None:
                    raise AlreadyExists(f"model {name!r} already exists", field="name")
                model = RegisteredModel(name=name, description=description, tenant=tenant, creator=creator)
                model.aliases = []
                s.add(model)
                s.flush()
                return _model_view(model)

        try:
            return work()
        except IntegrityError as exc:  # lost a race with a concurrent create
            raise AlreadyExists(f"model {name!r} already exists", field="name") from exc

    def get_model(self, name: str) -> ModelView:
        with self._read() as s:
            return _model_view(self._model(s, name))

    def update_model(self, name: str, description: str | None) -> ModelView:
        with self._tx() as s:
            model = self._model(s, name, lock=True)
            if description is not None:
                model.description = description
                model.updated_at = utcnow()
            return _model_view(model)

    def list_models(
        self, tenant: str = "", query: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[ModelView], str]:
        size = paging.page_size(page_size)
        after = paging.decode_token(page_token).get("after", "")
        if not isinstance(after, str):
            raise InvalidArgument("is not a token returned by a previous page", field="page_token")
        stmt = select(RegisteredModel).order_by(RegisteredModel.name).limit(size + 1)
        if tenant:
            stmt = stmt.where(RegisteredModel.tenant == tenant)
        if query:
            stmt = stmt.where(RegisteredModel.name.contains(query, autoescape=True))
        if after:
            stmt = stmt.where(RegisteredModel.name > after)
        with self._read() as s:
            rows = list(s.scalars(stmt))
            views = [_model_view(m) for m in rows[:size]]
        token = paging.encode_token({"after": views[-1].name}) if len(rows) > size else ""
        return views, token

    # --- versions ---------------------------------------------------------------------
    def _checked_artifact(self, uri: str, sha256: str) -> ArtifactRef:
        if sha256 and not SHA256.match(sha256):
            raise InvalidArgument("must be 64 hexadecimal characters", field="artifact_sha256")
        return self.store.verify(uri, sha256 or None)

    def create_version(self, spec: VersionSpec) -> VersionView:
        check_model_name(spec.model, "model")
        if not spec.base_model.strip():
            raise InvalidArgument("is required (the base model this version applies to)", field="base_model")
        for value, limit, name in (
            (spec.base_model, 512, "base_model"),
            (spec.tenant, 128, "tenant"),
            (spec.creator, 256, "creator"),
            (spec.lineage.training_job_id, 128, "lineage.training_job_id"),
            (spec.lineage.dataset_id, 128, "lineage.dataset_id"),
            (spec.lineage.dataset_version, 64, "lineage.dataset_version"),
            (spec.lineage.source, 256, "lineage.source"),
            (spec.lineage.parent_version, 256, "lineage.parent_version"),
        ):
            check_length(value, limit, name)
        _check_metrics(spec.metrics)
        tags = sorted({check_tag(t) for t in spec.tags})
        status = _check_status(spec.status) if spec.status else ("READY" if spec.artifact_uri else "PENDING")
        if spec.artifact_sha256 and not spec.artifact_uri:
            raise InvalidArgument("given without artifact_uri", field="artifact_sha256")
        if status == "READY" and not spec.artifact_uri:
            raise InvalidArgument("is required for a READY version", field="artifact_uri")
        # I/O on the artifact happens before the transaction, never inside it.
        artifact = (
            self._checked_artifact(spec.artifact_uri, spec.artifact_sha256) if spec.artifact_uri else None
        )

        def work() -> VersionView:
            with self._tx() as s:
                model = s.scalar(select(RegisteredModel).where(RegisteredModel.name == spec.model))
                if model is None:
                    if not spec.create_model:
                        raise NotFound(
                            f"model {spec.model!r} does not exist (set create_model to create it)",
                            field="model",
                        )
                    model = RegisteredModel(name=spec.model, tenant=spec.tenant, creator=spec.creator)
                    model.aliases = []
                    s.add(model)
                    s.flush()
                # Atomic increment: the row lock it takes serialises concurrent creators.
                number = s.execute(
                    update(RegisteredModel)
                    .where(RegisteredModel.id == model.id)
                    .values(latest_version=RegisteredModel.latest_version + 1, updated_at=utcnow())
                    .returning(RegisteredModel.latest_version)
                ).scalar_one()
                row = ModelVersion(
                    model=model,
                    version=number,
                    base_model=spec.base_model.strip(),
                    artifact_uri=artifact.uri if artifact else "",
                    artifact_sha256=artifact.sha256 if artifact else "",
                    artifact_size_bytes=artifact.size_bytes if artifact else 0,
                    metrics=dict(spec.metrics),
                    params=dict(spec.params),
                    training_job_id=spec.lineage.training_job_id,
                    dataset_id=spec.lineage.dataset_id,
                    dataset_version=spec.lineage.dataset_version,
                    source=spec.lineage.source,
                    parent_version=spec.lineage.parent_version,
                    description=spec.description,
                    status=status,
                    status_message="",
                    creator=spec.creator,
                    tags=[VersionTag(tag=t) for t in tags],
                )
                s.add(row)
                s.flush()
                return _version_view(row)

        view = self._retrying(work)
        VERSIONS_CREATED.labels(view.status).inc()
        log.info(
            "version created", extra={"model": view.model, "version": view.version, "status": view.status}
        )
        return view

    def get_version(self, model: str, version: int) -> VersionView:
        with self._read() as s:
            return _version_view(self._version(s, self._model(s, model, "model"), version))

    def list_versions(
        self,
        model: str = "",
        tag: str = "",
        status: str = "",
        base_model: str = "",
        dataset_id: str = "",
        training_job_id: str = "",
        tenant: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> tuple[list[VersionView], str]:
        size = paging.page_size(page_size)
        before = paging.decode_token(page_token).get("before")
        if before is not None and not isinstance(before, int):
            raise InvalidArgument("is not a token returned by a previous page", field="page_token")
        stmt = select(ModelVersion).order_by(ModelVersion.id.desc()).limit(size + 1)
        with self._read() as s:
            if model:
                stmt = stmt.where(ModelVersion.model_id == self._model(s, model, "model").id)
            if tenant:
                stmt = stmt.join(RegisteredModel).where(RegisteredModel.tenant == tenant)
            if tag:
                stmt = stmt.where(ModelVersion.tags.any(VersionTag.tag == check_tag(tag, "tag")))
            if status:
                stmt = stmt.where(ModelVersion.status == _check_status(status))
            if base_model:
                stmt = stmt.where(ModelVersion.base_model == base_model)
            if dataset_id:
                stmt = stmt.where(ModelVersion.dataset_id == dataset_id)
            if training_job_id:
                stmt = stmt.where(ModelVersion.training_job_id == training_job_id)
            if before is not None:
                stmt = stmt.where(ModelVersion.id < before)
            rows = list(s.scalars(stmt))
            views = [_version_view(v) for v in rows[:size]]
            token = paging.encode_token({"before": rows[size - 1].id}) if len(rows) > size else ""
        return views, token

    def update_version(self, model: str, version: int, change: VersionUpdate) -> VersionView:
        if change.status:
            _check_status(change.status)
        _check_metrics(change.metrics)
        add = {check_tag(t, "add_tags") for t in change.add_tags}
        remove = {check_tag(t, "remove_tags") for t in change.remove_tags}
        if change.artifact_sha256 and not change.artifact_uri:
            raise InvalidArgument("given without artifact_uri", field="artifact_sha256")
        artifact = (
            self._checked_artifact(change.artifact_uri, change.artifact_sha256)
            if change.artifact_uri
            else None
        )

        def work() -> VersionView:
            with self._tx() as s:
                row = self._version(s, self._model(s, model, "model", lock=True), version)
                if artifact is not None:
                    if row.status not in ("PENDING", "FAILED"):
                        raise FailedPrecondition(
                            f"the artifact of a {row.status} version is immutable; create a new version",
                            field="artifact_uri",
                        )
                    row.artifact_uri, row.artifact_sha256 = artifact.uri, artifact.sha256
                    row.artifact_size_bytes = artifact.size_bytes
                if change.status and change.status != row.status:
                    if change.status not in TRANSITIONS[row.status]:
                        raise FailedPrecondition(
                            f"cannot go from {row.status} to {change.status}", field="status"
                        )
                    if change.status == "READY" and not row.artifact_uri:
                        raise FailedPrecondition(
                            "a version needs an artifact to become READY", field="status"
                        )
                    pointing = sorted(a.alias for a in row.model.aliases if a.version == row.version)
                    if change.status != "READY" and pointing:
                        raise FailedPrecondition(
                            f"aliases {', '.join(pointing)} point at this version; move them first",
                            field="status",
                        )
                    row.status = change.status
                if change.status_message is not None:
                    row.status_message = change.status_message
                if change.description is not None:
                    row.description = change.description
                if change.metrics:
                    row.metrics = {**(row.metrics or {}), **change.metrics}
                if add or remove:
                    have = {t.tag for t in row.tags}
                    row.tags = [t for t in row.tags if t.tag not in remove] + [
                        VersionTag(tag=t) for t in sorted(add - have - remove)
                    ]
                row.updated_at = utcnow()
                s.flush()
                return _version_view(row)

        return self._retrying(work)

    def upload_artifact(self, model: str, filename: str, sha256: str, chunks: Iterable[bytes]) -> ArtifactRef:
        check_model_name(model, "header.model")
        if not FILENAME.match(filename):
            raise InvalidArgument(f"{filename!r} is not a plain file name", field="header.filename")
        if sha256 and not SHA256.match(sha256):
            raise InvalidArgument("must be 64 hexadecimal characters", field="header.sha256")
        with self._read() as s:
            self._model(s, model, "header.model")
        key = f"models/{model}/uploads/{uuid.uuid4().hex}/{filename}"
        return self.store.put_stream(key, chunks, expected_sha256=sha256 or None)

    # --- aliases ----------------------------------------------------------------------
    @staticmethod
    def _record(
        s: Session,
        model: RegisteredModel,
        alias: str,
        action: str,
        before: int,
        after: int,
        actor: str,
        reason: str,
    ) -> AliasChange:
        """Append the audit event for one alias move; returns what to publish after commit."""
        event = AliasEvent(
            model_id=model.id,
            alias=alias,
            action=action,
            from_version=before,
            to_version=after,
            actor=actor,
            reason=reason,
        )
        s.add(event)
        model.updated_at = utcnow()
        s.flush()
        return AliasChange(model.name, alias, action, before, after, actor, as_utc(event.at), event.id)

    def _move(
        self, s: Session, model: RegisteredModel, alias: str, to: int, action: str, actor: str, reason: str
    ) -> tuple[AliasView, AliasChange | None]:
        """Point ``alias`` at ``to``; the caller holds the model's row lock."""
        target = self._version(s, model, to)
        if target.status != "READY":
            raise FailedPrecondition(
                f"{model.name}/{to} is {target.status}; only READY versions can be aliased", field="version"
            )
        row = self._alias_row(s, model, alias)
        previous = row.version if row else 0
        if row is not None and row.version == to and action == "SET":
            return _alias_view(row, model.name), None  # already there: no move, no event
        if row is None:
            row = ModelAlias(model_id=model.id, alias=alias, version=to, updated_by=actor)
            s.add(row)
        row.version, row.updated_by, row.updated_at = to, actor, utcnow()
        change = self._record(s, model, alias, action, previous, to, actor, reason)
        return _alias_view(row, model.name), change

    def set_alias(self, model: str, alias: str, version: int, actor: str = "", reason: str = "") -> AliasView:
        check_alias(alias)

        def work() -> tuple[AliasView, AliasChange | None]:
            with self._tx() as s:
                m = self._model(s, model, "model", lock=True)
                return self._move(s, m, alias, version, "SET", actor, reason)

        view, change = self._retrying(work)
        if change:
            self._publish(change)
        return view

    def delete_alias(self, model: str, alias: str, actor: str = "", reason: str = "") -> int:
        check_alias(alias)

        def work() -> AliasChange:
            with self._tx() as s:
                m = self._model(s, model, "model", lock=True)
                row = self._alias_row(s, m, alias)
                if row is None:
                    raise NotFound(f"model {model!r} has no alias {alias!r}", field="alias")
                s.delete(row)
                return self._record(s, m, alias, "DELETE", row.version, 0, actor, reason)

        change = self._retrying(work)
        self._publish(change)
        return change.from_version

    def list_aliases(self, model: str) -> list[AliasView]:
        with self._read() as s:
            m = self._model(s, model, "model")
            return sorted((_alias_view(a, m.name) for a in m.aliases), key=lambda a: a.alias)

    def alias_history(
        self, model: str, alias: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[AliasEventView], str]:
        if alias:
            check_alias(alias)
        size = paging.page_size(page_size)
        before = paging.decode_token(page_token).get("before")
        if before is not None and not isinstance(before, int):
            raise InvalidArgument("is not a token returned by a previous page", field="page_token")
        with self._read() as s:
            m = self._model(s, model, "model")
            stmt = select(AliasEvent).where(AliasEvent.model_id == m.id).order_by(AliasEvent.id.desc())
            if alias:
                stmt = stmt.where(AliasEvent.alias == alias)
            if before is not None:
                stmt = stmt.where(AliasEvent.id < before)
            rows = list(s.scalars(stmt.limit(size + 1)))
            views = [_event_view(e, m.name) for e in rows[:size]]
        token = paging.encode_token({"before": views[-1].id}) if len(rows) > size else ""
        return views, token

    def rollback_alias(self, model: str, alias: str, actor: str = "", reason: str = "") -> AliasView:
        check_alias(alias)

        def work() -> tuple[AliasView, AliasChange | None]:
            with self._tx() as s:
                m = self._model(s, model, "model", lock=True)
                row = self._alias_row(s, m, alias)
                if row is None:
                    raise NotFound(f"model {model!r} has no alias {alias!r}", field="alias")
                last = s.scalar(
                    select(AliasEvent)
                    .where(
                        AliasEvent.model_id == m.id,
                        AliasEvent.alias == alias,
                        AliasEvent.to_version == row.version,
                    )
                    .order_by(AliasEvent.id.desc())
                    .limit(1)
                )
                if last is None or last.from_version == 0:
                    raise FailedPrecondition(
                        f"{model}@{alias} has no earlier version to roll back to", field="alias"
                    )
                return self._move(s, m, alias, last.from_version, "ROLLBACK", actor, reason or "rollback")

        view, change = self._retrying(work)
        if change:
            self._publish(change)
        return view

    # --- resolution -------------------------------------------------------------------
    def resolve(self, ref: str) -> Resolution:
        parsed = parse_ref(ref)
        with self._read() as s:
            m = self._model(s, parsed.model, "ref")
            if parsed.version is not None:
                return Resolution(_version_view(self._version(s, m, parsed.version, "ref")), "version")
            alias = parsed.alias or DEFAULT_ALIAS
            row = self._alias_row(s, m, alias)
            if row is not None:
                return Resolution(_version_view(self._version(s, m, row.version, "ref")), "alias", alias)
            if parsed.alias is not None:
                raise NotFound(f"model {m.name!r} has no alias {alias!r}", field="ref")
            latest = s.scalar(
                select(ModelVersion)
                .where(ModelVersion.model_id == m.id, ModelVersion.status == "READY")
                .order_by(ModelVersion.version.desc())
                .limit(1)
            )
            if latest is None:
                raise NotFound(
                    f"model {m.name!r} has no {DEFAULT_ALIAS!r} alias and no READY version", field="ref"
                )
            return Resolution(_version_view(latest), "latest")


def _transient(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, IntegrityError) or any(
        s in text for s in ("database is locked", "deadlock", "could not serialize", "busy")
    )
