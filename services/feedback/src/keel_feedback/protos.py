"""Rows and core values ⇄ ``keel.feedback.v1`` messages."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from keel.feedback.v1 import feedback_pb2 as pb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_common.errors import InvalidArgument, KeelError
from keel_common.sql import as_utc
from keel_feedback.core.filters import Filter
from keel_feedback.core.quality import VersionQuality
from keel_feedback.core.scores import Limits, Score, Submission
from keel_feedback.core.store import Stored
from keel_feedback.db import Feedback

_RATED = {
    pb.RATED_FILTER_UNSPECIFIED: "",
    pb.RATED_FILTER_RATED: "rated",
    pb.RATED_FILTER_UNRATED: "unrated",
    pb.RATED_FILTER_CORRECTED: "corrected",
}
_VERDICT = {
    pb.VERDICT_FILTER_UNSPECIFIED: "",
    pb.VERDICT_FILTER_BLOCKED: "blocked",
    pb.VERDICT_FILTER_FLAGGED: "flagged",
    pb.VERDICT_FILTER_CLEAN: "clean",
}


def ts(value: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(as_utc(value))
    return t


def _time(t: Timestamp, present: bool) -> datetime | None:
    return t.ToDatetime(tzinfo=UTC) if present else None


def filter_of(f: pb.InteractionFilter) -> Filter:
    if f.rated not in _RATED:
        raise InvalidArgument(f"unknown value {f.rated}", field="filter.rated")
    if f.verdict not in _VERDICT:
        raise InvalidArgument(f"unknown value {f.verdict}", field="filter.verdict")
    if f.thumb not in (pb.THUMB_UNSPECIFIED, pb.THUMB_UP, pb.THUMB_DOWN):
        raise InvalidArgument(f"unknown value {f.thumb}", field="filter.thumb")
    if f.model_version < 0:
        raise InvalidArgument("must not be negative", field="filter.model_version")
    return Filter(
        tenant=f.tenant,
        model=f.model,
        model_version=f.model_version,
        base_model=f.base_model,
        rated=_RATED[f.rated],  # type: ignore[arg-type]
        thumb=f.thumb,
        verdict=_VERDICT[f.verdict],  # type: ignore[arg-type]
        start=_time(f.start_time, f.HasField("start_time")),
        end=_time(f.end_time, f.HasField("end_time")),
    )


def score_of(s: pb.Score) -> Score | None:
    kind = s.WhichOneof("value")
    if kind is None:
        return None
    if kind == "thumb":
        return Score("thumb", thumb=s.thumb)
    if kind == "rating":
        return Score("rating", value=s.rating.value, min=s.rating.min, max=s.rating.max)
    if kind == "category":
        return Score("category", category=s.category)
    return Score("text", text=s.text)


def submission_of(r: pb.SubmitFeedbackRequest, limits: Limits) -> Submission:
    return Submission(
        request_id=r.request_id,
        tenant=r.tenant,
        client_id=r.client_id,
        source=r.source or pb.SOURCE_END_USER,
        rater=r.rater,
        score=score_of(r.score) if r.HasField("score") else None,
        correction=r.correction,
        comment=r.comment,
        limits=limits,
    )


def error_pb(e: KeelError) -> pb.SubmitFeedbackError:
    return pb.SubmitFeedbackError(code=e.code.name, message=e.message, field=e.field or "")


def feedback_pb(f: Feedback) -> pb.Feedback:
    out = pb.Feedback(
        id=f.id,
        client_id=f.client_id or "",
        request_id=f.request_id,
        tenant=f.tenant,
        source=f.source,  # type: ignore[arg-type]
        rater=f.rater,
        correction=f.correction,
        comment=f.comment,
        created_at=ts(f.created_at),
    )
    if f.kind == "thumb":
        out.score.thumb = f.thumb  # type: ignore[assignment]
    elif f.kind == "rating":
        out.score.rating.CopyFrom(pb.NumericRating(value=f.rating_value, min=f.rating_min, max=f.rating_max))
    elif f.kind == "category":
        out.score.category = f.category
    elif f.kind == "text":
        out.score.text = f.text
    if f.normalized is not None:
        out.normalized = f.normalized
    return out


def stored_pb(s: Stored) -> pb.StoredInteraction:
    if s.interaction is not None:
        interaction = gpb.Interaction.FromString(s.interaction.record)
    else:
        interaction = gpb.Interaction(request_id=s.request_id, tenant=s.tenant)
    return pb.StoredInteraction(
        interaction=interaction,
        feedback=[feedback_pb(f) for f in s.feedback],
        interaction_received=s.interaction is not None,
    )


def quality_pb(q: VersionQuality) -> pb.VersionQuality:
    return pb.VersionQuality(
        model=q.model,
        model_version=q.model_version,
        base_model=q.base_model,
        adapter_ref=q.adapter_ref,
        interactions=q.interactions,
        rated=q.rated,
        thumbs_up=q.thumbs_up,
        thumbs_down=q.thumbs_down,
        mean_rating=q.mean_rating,
        thumbs_up_rate=q.thumbs_up_rate,
        corrections=q.corrections,
        correction_rate=q.correction_rate,
        guardrail_blocks=q.guardrail_blocks,
        guardrail_block_rate=q.guardrail_block_rate,
        mean_latency_ms=q.mean_latency_ms,
        first_seen=ts(q.first_seen),
        last_seen=ts(q.last_seen),
    )
