"""The registry's domain logic, independent of gRPC: models, versions, artifacts (aliases and
resolution come from ``Aliases``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from keel_common import paging
from keel_common.artifacts import ArtifactRef
from keel_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from keel_common.sql import utcnow
from keel_registry.core.aliases import Aliases
from keel_registry.core.base import VERSIONS_CREATED
from keel_registry.core.rules import FILENAME, SHA256, TRANSITIONS, check_metrics, check_status
from keel_registry.core.views import (
    ModelView,
    VersionSpec,
    VersionUpdate,
    VersionView,
    model_view,
    version_view,
)
from keel_registry.db import ModelVersion, RegisteredModel, VersionTag
from keel_registry.refs import (
    check_length,
    check_model_name,
    check_tag,
)

log = logging.getLogger(__name__)


class Registry(Aliases):
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
                return model_view(model)

        try:
            return work()
        except IntegrityError as exc:  # lost a race with a concurrent create
            raise AlreadyExists(f"model {name!r} already exists", field="name") from exc

    def get_model(self, name: str) -> ModelView:
        with self._read() as s:
            return model_view(self._model(s, name))

    def update_model(self, name: str, description: str | None) -> ModelView:
        with self._tx() as s:
            model = self._model(s, name, lock=True)
            if description is not None:
                model.description = description
                model.updated_at = utcnow()
            return model_view(model)

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
            views = [model_view(m) for m in rows[:size]]
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
        check_metrics(spec.metrics)
        tags = sorted({check_tag(t) for t in spec.tags})
        status = check_status(spec.status) if spec.status else ("READY" if spec.artifact_uri else "PENDING")
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
                return version_view(row)

        view = self._retrying(work)
        VERSIONS_CREATED.labels(view.status).inc()
        log.info(
            "version created", extra={"model": view.model, "version": view.version, "status": view.status}
        )
        return view

    def get_version(self, model: str, version: int) -> VersionView:
        with self._read() as s:
            return version_view(self._version(s, self._model(s, model, "model"), version))

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
                stmt = stmt.where(ModelVersion.status == check_status(status))
            if base_model:
                stmt = stmt.where(ModelVersion.base_model == base_model)
            if dataset_id:
                stmt = stmt.where(ModelVersion.dataset_id == dataset_id)
            if training_job_id:
                stmt = stmt.where(ModelVersion.training_job_id == training_job_id)
            if before is not None:
                stmt = stmt.where(ModelVersion.id < before)
            rows = list(s.scalars(stmt))
            views = [version_view(v) for v in rows[:size]]
            token = paging.encode_token({"before": rows[size - 1].id}) if len(rows) > size else ""
        return views, token

    def update_version(self, model: str, version: int, change: VersionUpdate) -> VersionView:
        if change.status:
            check_status(change.status)
        check_metrics(change.metrics)
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
                return version_view(row)

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
