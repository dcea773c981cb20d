"""The registry's plumbing: sessions, retries of lost races, row lookups, alias publishing.
``Aliases`` and ``Registry`` build on it."""

from __future__ import annotations

import logging
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from keel_common import metrics
from keel_common.artifacts import ArtifactStore
from keel_common.errors import NotFound
from keel_common.sql import SqlCore
from keel_registry.db import ModelAlias, ModelVersion, RegisteredModel
from keel_registry.events import AliasChange, AliasPublisher
from keel_registry.refs import (
    check_model_name,
    check_version,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

VERSIONS_CREATED = metrics.counter("registry", "versions_created", "Model versions created", ("status",))
ALIAS_MOVES = metrics.counter("registry", "alias_moves", "Alias set/delete/rollback operations", ("action",))


class RegistryBase(SqlCore):
    def __init__(self, engine: Engine, store: ArtifactStore, publisher: AliasPublisher | None = None) -> None:
        super().__init__(engine)
        self.store = store
        self.publisher = publisher

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
