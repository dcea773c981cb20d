"""Answer quality per model version, joined from interactions, their feedback and the guardrail
verdicts the gateway recorded. One SQL query: feedback is first folded per interaction, so an
interaction rated twice counts once as rated while both scores enter the mean."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, case, cast, func, select

from keel_common.sql import SqlCore, as_utc
from keel_feedback.core.filters import THUMB_DOWN, THUMB_UP, Filter, apply
from keel_feedback.db import Feedback, Interaction


@dataclass(frozen=True)
class VersionQuality:
    model: str
    model_version: int
    base_model: str
    adapter_ref: str
    interactions: int
    rated: int
    thumbs_up: int
    thumbs_down: int
    mean_rating: float
    corrections: int
    guardrail_blocks: int
    mean_latency_ms: float
    first_seen: datetime
    last_seen: datetime

    @property
    def thumbs_up_rate(self) -> float:
        votes = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / votes if votes else 0.0

    @property
    def correction_rate(self) -> float:
        return self.corrections / self.interactions if self.interactions else 0.0

    @property
    def guardrail_block_rate(self) -> float:
        return self.guardrail_blocks / self.interactions if self.interactions else 0.0


def _flag(cond: object) -> object:
    return case((cond, 1), else_=0)  # type: ignore[arg-type]


def quality(core: SqlCore, f: Filter) -> list[VersionQuality]:
    per = (
        select(
            Feedback.request_id.label("rid"),
            Feedback.tenant.label("tenant"),
            func.max(_flag(Feedback.normalized.is_not(None))).label("rated"),
            func.sum(_flag(Feedback.thumb == THUMB_UP)).label("up"),
            func.sum(_flag(Feedback.thumb == THUMB_DOWN)).label("down"),
            func.sum(Feedback.normalized).label("nsum"),
            func.count(Feedback.normalized).label("ncount"),
            func.max(_flag(Feedback.correction != "")).label("corrected"),
        )
        .group_by(Feedback.request_id, Feedback.tenant)
        .subquery()
    )
    i = Interaction
    keys = (i.model, i.model_version, i.base_model, i.adapter_ref)
    stmt = (
        select(
            *keys,
            func.count(),
            func.coalesce(func.sum(per.c.rated), 0),
            func.coalesce(func.sum(per.c.up), 0),
            func.coalesce(func.sum(per.c.down), 0),
            func.coalesce(func.sum(per.c.nsum), 0.0),
            func.coalesce(func.sum(per.c.ncount), 0),
            func.coalesce(func.sum(per.c.corrected), 0),
            func.sum(cast(i.blocked, Integer)),
            func.avg(i.latency_ms),
            func.min(i.created_at),
            func.max(i.created_at),
        )
        .select_from(i)
        .outerjoin(per, (per.c.rid == i.request_id) & (per.c.tenant == i.tenant))
        .group_by(*keys)
        .order_by(i.model, i.model_version, i.base_model, i.adapter_ref)
    )
    stmt = apply(stmt, f)
    out = []
    with core._read() as s:
        for row in s.execute(stmt):
            (
                model,
                version,
                base,
                adapter,
                n,
                rated,
                up,
                down,
                nsum,
                ncount,
                corr,
                blocks,
                lat,
                first,
                last,
            ) = row
            out.append(
                VersionQuality(
                    model=model,
                    model_version=int(version),
                    base_model=base,
                    adapter_ref=adapter,
                    interactions=int(n),
                    rated=int(rated),
                    thumbs_up=int(up),
                    thumbs_down=int(down),
                    mean_rating=float(nsum) / int(ncount) if ncount else 0.0,
                    corrections=int(corr),
                    guardrail_blocks=int(blocks or 0),
                    mean_latency_ms=float(lat or 0.0),
                    first_seen=as_utc(first),
                    last_seen=as_utc(last),
                )
            )
    return out
