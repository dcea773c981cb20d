"""Interactions and feedback in SQL: stored exactly once, joined on read.

The consumer hands ``save_interactions`` the rows of one stream batch; a row whose request id is
stored already is skipped, which is what makes a redelivered batch (a consumer killed after its
commit, before its XACK) store nothing twice."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from keel_common.errors import AlreadyExists, InvalidArgument, KeelError, NotFound
from keel_common.ids import new_id
from keel_common.paging import decode_token, encode_token, page_size
from keel_common.sql import SqlCore, utcnow
from keel_feedback.core.filters import Filter, apply
from keel_feedback.core.scores import Submission
from keel_feedback.db import Feedback, Interaction

log = logging.getLogger(__name__)

_OWNERS = select(Interaction.request_id, Interaction.tenant).where(
    Interaction.request_id.in_(bindparam("rids", expanding=True))
)
_PRIORS = select(Feedback.__table__).where(Feedback.client_id.in_(bindparam("cids", expanding=True)))
_INSERT = insert(Feedback)


def _row(sub: Submission, digest: str) -> dict[str, Any]:
    score = sub.score
    return {
        "id": new_id("fb"),
        "tenant": sub.tenant,
        "request_id": sub.request_id,
        "client_id": sub.client_id or None,
        "source": sub.source,
        "rater": sub.rater,
        "kind": score.kind if score else "",
        "thumb": score.thumb if score else 0,
        "rating_value": score.value if score else None,
        "rating_min": score.min if score else None,
        "rating_max": score.max if score else None,
        "normalized": sub.normalized(),
        "category": score.category if score else "",
        "text": score.text if score else "",
        "correction": sub.correction,
        "comment": sub.comment,
        "digest": digest,
        "created_at": utcnow(),
    }


@dataclass(frozen=True)
class Saved:
    stored: int
    duplicates: int


@dataclass(frozen=True)
class Submitted:
    feedback: Feedback
    created: bool
    interaction_received: bool


@dataclass(frozen=True)
class Stored:
    """An interaction (None while only its feedback has arrived) and its feedback, oldest first."""

    request_id: str
    tenant: str
    interaction: Interaction | None
    feedback: list[Feedback]


class Store(SqlCore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    # --- the consumer's side ----------------------------------------------------------------------
    def save_interactions(self, rows: Sequence[dict[str, Any]]) -> Saved:
        """Store a batch in one transaction; ids stored before (a redelivery) are skipped."""
        if not rows:
            return Saved(0, 0)
        unique = list({r["request_id"]: r for r in rows}.values())

        def work() -> Saved:
            with self._tx() as s:
                ids = [r["request_id"] for r in unique]
                have = set(s.scalars(select(Interaction.request_id).where(Interaction.request_id.in_(ids))))
                new = [r for r in unique if r["request_id"] not in have]
                if new:
                    # ON CONFLICT DO NOTHING as well: another replica may store the same id meanwhile.
                    s.execute(self._insert(Interaction).on_conflict_do_nothing(), new)
                return Saved(len(new), len(rows) - len(new))

        return self._retrying(work)

    # --- feedback ---------------------------------------------------------------------------------
    def submit(self, sub: Submission) -> Submitted:
        (done,) = self.submit_many([sub])
        if isinstance(done, KeelError):
            raise done
        return done

    def submit_many(self, subs: Sequence[Submission]) -> list[Submitted | KeelError]:
        """Each submission's result, in order, from one transaction: a refused one (bad input,
        another tenant's completion, a client_id reused for other content) refuses only itself.
        A client_id sent twice in one batch is a retry of the first."""
        checked: list[Submitted | KeelError | None] = []
        digests: list[str] = []
        for sub in subs:
            try:
                sub.validate()
                digests.append(sub.digest())
                checked.append(None)
            except KeelError as exc:
                digests.append("")
                checked.append(exc)

        def work() -> list[Submitted | KeelError]:
            out = list(checked)
            todo = [i for i, r in enumerate(out) if r is None]
            # Prepared Core statements on one connection, set-based: submitting is the hot write
            # path (the ORM's load-then-flush cost about 1.5 CPU-ms a submission).
            with self.engine.begin() as conn:
                rids = list({subs[i].request_id for i in todo})
                owners = (
                    {rid: tenant for rid, tenant in conn.execute(_OWNERS, {"rids": rids})} if rids else {}
                )
                cids = list({subs[i].client_id for i in todo if subs[i].client_id})
                prior = {
                    (r.tenant, r.client_id): dict(r._mapping) for r in conn.execute(_PRIORS, {"cids": cids})
                }
                rows = []
                for i in todo:
                    sub = subs[i]
                    owner = owners.get(sub.request_id)
                    if owner is not None and owner != sub.tenant:
                        out[i] = NotFound(f"no completion {sub.request_id!r}", field="request_id")
                        continue
                    before = prior.get((sub.tenant, sub.client_id)) if sub.client_id else None
                    if before is not None:
                        out[i] = (
                            Submitted(Feedback(**before), False, owner is not None)
                            if before["digest"] == digests[i]
                            else AlreadyExists(
                                f"feedback {before['id']} was sent under client_id {sub.client_id!r} with "
                                "other content; use a new client_id for new feedback",
                                field="client_id",
                            )
                        )
                        continue
                    values = _row(sub, digests[i])
                    if sub.client_id:
                        prior[(sub.tenant, sub.client_id)] = values
                    rows.append(values)
                    out[i] = Submitted(Feedback(**values), True, owner is not None)
                if rows:
                    conn.execute(_INSERT, rows)
            done = [r for r in out if r is not None]
            assert len(done) == len(subs), "every submission has its result"  # the caller zips them
            return done

        # A concurrent retry with the same client_id loses the unique race; the retry finds it.
        return self._retrying(work)

    # --- reading ----------------------------------------------------------------------------------
    def get(self, request_id: str, tenant: str = "") -> Stored:
        with self._read() as s:
            interaction = s.get(Interaction, request_id)
            if interaction is not None and tenant and interaction.tenant != tenant:
                interaction = None
            owner = interaction.tenant if interaction is not None else tenant
            feedback: list[Feedback] = []
            if owner:
                feedback = list(
                    s.scalars(
                        select(Feedback)
                        .where(Feedback.request_id == request_id, Feedback.tenant == owner)
                        .order_by(Feedback.created_at, Feedback.id)
                    )
                )
            if interaction is None and not feedback:
                raise NotFound(f"no interaction {request_id!r}", field="request_id")
            return Stored(request_id, owner, interaction, feedback)

    def list(self, f: Filter, size: int = 0, token: str = "") -> tuple[list[Stored], str]:
        """Newest first. The token names the last interaction seen (``{"id": request_id}``), so a
        client may also page from any id it holds, OpenAI's ``after``."""
        n = page_size(size)
        after = str(decode_token(token).get("id", "")) if token else ""
        stmt = apply(select(Interaction), f).order_by(
            Interaction.created_at.desc(), Interaction.request_id.desc()
        )
        with self._read() as s:
            if after:
                at = s.scalar(select(Interaction.created_at).where(Interaction.request_id == after))
                if at is None:
                    raise InvalidArgument(f"no interaction {after!r} to page after", field="page_token")
                stmt = stmt.where(
                    or_(
                        Interaction.created_at < at,
                        and_(Interaction.created_at == at, Interaction.request_id < after),
                    )
                )
            rows = list(s.scalars(stmt.limit(n + 1)))
            more = len(rows) > n
            rows = rows[:n]
            fb = _feedback_of(s, rows)
        out = [Stored(r.request_id, r.tenant, r, fb.get((r.request_id, r.tenant), [])) for r in rows]
        return out, encode_token({"id": rows[-1].request_id}) if more and rows else ""

    def count(self) -> int:
        from sqlalchemy import func

        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(Interaction)) or 0)


def _feedback_of(s: Session, rows: Iterable[Interaction]) -> dict[tuple[str, str], list[Feedback]]:
    keys = [(r.request_id, r.tenant) for r in rows]
    out: dict[tuple[str, str], list[Feedback]] = defaultdict(list)
    if not keys:
        return out
    stmt = (
        select(Feedback)
        .where(Feedback.request_id.in_([k[0] for k in keys]))
        .order_by(Feedback.created_at, Feedback.id)
    )
    wanted = set(keys)
    for fb in s.scalars(stmt):
        if (fb.request_id, fb.tenant) in wanted:
            out[(fb.request_id, fb.tenant)].append(fb)
    return out
