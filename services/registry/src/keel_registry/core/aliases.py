"""Aliases (set, delete, roll back, history) and resolving a ref to a version."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from keel_common import paging
from keel_common.errors import FailedPrecondition, InvalidArgument, NotFound
from keel_common.sql import as_utc, utcnow
from keel_registry.core.base import RegistryBase
from keel_registry.core.views import (
    AliasEventView,
    AliasView,
    Resolution,
    alias_view,
    event_view,
    version_view,
)
from keel_registry.db import AliasEvent, ModelAlias, ModelVersion, RegisteredModel
from keel_registry.events import AliasChange
from keel_registry.refs import (
    DEFAULT_ALIAS,
    check_alias,
    parse_ref,
)


class Aliases(RegistryBase):
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
            return alias_view(row, model.name), None  # already there: no move, no event
        if row is None:
            row = ModelAlias(model_id=model.id, alias=alias, version=to, updated_by=actor)
            s.add(row)
        row.version, row.updated_by, row.updated_at = to, actor, utcnow()
        change = self._record(s, model, alias, action, previous, to, actor, reason)
        return alias_view(row, model.name), change

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
            return sorted((alias_view(a, m.name) for a in m.aliases), key=lambda a: a.alias)

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
            views = [event_view(e, m.name) for e in rows[:size]]
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
                return Resolution(version_view(self._version(s, m, parsed.version, "ref")), "version")
            alias = parsed.alias or DEFAULT_ALIAS
            row = self._alias_row(s, m, alias)
            if row is not None:
                return Resolution(version_view(self._version(s, m, row.version, "ref")), "alias", alias)
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
            return Resolution(version_view(latest), "latest")
