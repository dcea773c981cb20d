"""Which interactions a listing or a quality report covers: one filter, applied the same way by
both, so "unrated answers of support-bot/3 this week" means the same thing everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, Select, and_, exists, not_

from keel_feedback.db import Feedback, Interaction

Rated = Literal["", "rated", "unrated", "corrected"]
Verdict = Literal["", "blocked", "flagged", "clean"]
THUMB_UP, THUMB_DOWN = 1, 2
S = TypeVar("S", bound=Select)  # type: ignore[type-arg]


@dataclass(frozen=True)
class Filter:
    tenant: str = ""  # empty: every tenant (operators only)
    model: str = ""
    model_version: int = 0
    base_model: str = ""
    rated: Rated = ""
    thumb: int = 0  # THUMB_UP or THUMB_DOWN: with at least one such feedback
    verdict: Verdict = ""
    start: datetime | None = None  # half-open [start, end) on created_at
    end: datetime | None = None


def joined() -> ColumnElement[bool]:
    """Feedback belongs to an interaction when both id and tenant match."""
    return and_(Feedback.request_id == Interaction.request_id, Feedback.tenant == Interaction.tenant)


def apply(stmt: S, f: Filter) -> S:
    i = Interaction
    conds: list[ColumnElement[bool]] = []
    if f.tenant:
        conds.append(i.tenant == f.tenant)
    if f.model:
        conds.append(i.model == f.model)
    if f.model_version:
        conds.append(i.model_version == f.model_version)
    if f.base_model:
        conds.append(i.base_model == f.base_model)
    if f.start is not None:
        conds.append(i.created_at >= f.start)
    if f.end is not None:
        conds.append(i.created_at < f.end)
    if f.rated == "rated":
        conds.append(exists().where(joined(), Feedback.normalized.is_not(None)))
    elif f.rated == "unrated":
        conds.append(not_(exists().where(joined())))
    elif f.rated == "corrected":
        conds.append(exists().where(joined(), Feedback.correction != ""))
    if f.thumb:
        conds.append(exists().where(joined(), Feedback.thumb == f.thumb))
    if f.verdict == "blocked":
        conds.append(i.blocked.is_(True))
    elif f.verdict == "flagged":
        conds.append(and_(i.flagged.is_(True), i.blocked.is_(False)))
    elif f.verdict == "clean":
        conds.append(and_(i.flagged.is_(False), i.blocked.is_(False)))
    return stmt.where(*conds) if conds else stmt
