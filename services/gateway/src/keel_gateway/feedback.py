"""Feedback and stored interactions over the feedback service's gRPC API, in Keel's JSON shapes.

Every call carries the caller's tenant. A completion id is checked at the edge first: the
gateway recognises the ids it issued (``CompletionIds``), so feedback on an id no gateway gave
this tenant is refused before it reaches the service — 404 when the completion is another
tenant's, 400 when nobody issued it."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc

from keel.common.v1 import common_pb2 as cpb
from keel.feedback.v1 import feedback_pb2 as pb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_common.contract import ACTOR_HEADER
from keel_common.paging import encode_token
from keel_common.protoenum import enum_name
from keel_gateway.completion_ids import CompletionIds
from keel_gateway.errors import ApiError, from_grpc
from keel_gateway.feedback_batch import SubmitBatcher
from keel_gateway.feedback_schemas import ExportRequest, FeedbackRequest
from keel_gateway.feedback_stub import FeedbackStub
from keel_gateway.listing import limit_of, page

T = TypeVar("T")

# The service's field names → the request's.
_PARAMS = {
    "request_id": "completion_id",
    "client_id": "client_id",
    "score": "score",
    "score.thumb": "score.value",
    "score.value": "score.value",
    "score.scale": "score.scale",
    "score.category": "score.value",
    "score.text": "score.value",
    "correction": "correction",
    "comment": "comment",
    "rater": "rater",
    "source": "source",
    "page_token": "after",
    # exports
    "kind": "kind",
    "min_rating": "min_rating",
    "min_ratings": "min_ratings",
    "validation_fraction": "validation_fraction",
    "max_examples": "max_examples",
    "exclude_dataset": "exclude_dataset",
    "dataset_id": "dataset",
    "dataset_name": "dataset",
}
_SOURCE = {"end_user": pb.SOURCE_END_USER, "annotator": pb.SOURCE_ANNOTATOR, "judge": pb.SOURCE_JUDGE}
_THUMB = {"up": pb.THUMB_UP, "down": pb.THUMB_DOWN}
_KIND = {"sft": pb.EXPORT_KIND_SFT, "dpo": pb.EXPORT_KIND_DPO, "kto": pb.EXPORT_KIND_KTO}
_RATED = {
    "rated": pb.RATED_FILTER_RATED,
    "unrated": pb.RATED_FILTER_UNRATED,
    "corrected": pb.RATED_FILTER_CORRECTED,
}
_VERDICT = {
    "blocked": pb.VERDICT_FILTER_BLOCKED,
    "flagged": pb.VERDICT_FILTER_FLAGGED,
    "clean": pb.VERDICT_FILTER_CLEAN,
}


def _name(enum: Any, value: int) -> str | None:
    return enum_name(enum, value).lower() if value else None


def score_object(s: pb.Score) -> dict[str, Any] | None:
    kind = s.WhichOneof("value")
    if kind == "thumb":
        return {"type": "thumbs", "value": "up" if s.thumb == pb.THUMB_UP else "down"}
    if kind == "rating":
        return {
            "type": "rating",
            "value": s.rating.value,
            "scale": {"min": s.rating.min, "max": s.rating.max},
        }
    if kind == "category":
        return {"type": "category", "value": s.category}
    if kind == "text":
        return {"type": "text", "value": s.text}
    return None


def feedback_object(f: pb.Feedback) -> dict[str, Any]:
    return {
        "id": f.id,
        "object": "feedback",
        "completion_id": f.request_id,
        "client_id": f.client_id or None,
        "score": score_object(f.score) if f.HasField("score") else None,
        "normalized_score": f.normalized if f.HasField("normalized") else None,
        "correction": f.correction or None,
        "comment": f.comment or None,
        "source": _name(pb.Source, f.source),
        "rater": f.rater or None,
        "created_at": f.created_at.seconds,
    }


def interaction_object(s: pb.StoredInteraction) -> dict[str, Any]:
    i = s.interaction
    body: dict[str, Any] = {"id": i.request_id, "object": "interaction", "received": s.interaction_received}
    if s.interaction_received:
        body |= {
            "created_at": i.created_at.seconds,
            "endpoint": i.endpoint,
            "model": i.requested_model,
            "registry_model": i.model or None,
            "model_version": i.model_version or None,
            "base_model": i.base_model,
            "adapter": i.adapter_ref or None,
            "stored": i.stored,
            "messages": [{"role": m.role, "content": m.content} for m in i.messages] or None,
            "prompt": i.prompt or None,
            "completion": i.completion if i.stored else None,
            "metadata": dict(i.metadata),
            "usage": {
                "prompt_tokens": i.usage.prompt_tokens,
                "completion_tokens": i.usage.completion_tokens,
                "total_tokens": i.usage.total_tokens,
            },
            "finish_reason": _name(cpb.FinishReason, i.finish_reason),
            "status_code": i.status_code,
            "guardrails": [
                {
                    "rail": v.rail,
                    "stage": _name(gpb.GuardrailStage, v.stage),
                    "action": _name(gpb.GuardrailAction, v.action),
                    "reason": v.reason or None,
                }
                for v in i.guardrail_verdicts
            ],
            "latency_ms": round(i.latency_ms, 3),
        }
    body["feedback"] = [feedback_object(f) for f in s.feedback]
    return body


def quality_object(q: pb.VersionQuality) -> dict[str, Any]:
    return {
        "object": "model.quality",
        "model": q.model or None,
        "version": q.model_version or None,
        "base_model": q.base_model,
        "adapter": q.adapter_ref or None,
        "interactions": q.interactions,
        "rated": q.rated,
        "thumbs_up": q.thumbs_up,
        "thumbs_down": q.thumbs_down,
        "thumbs_up_rate": round(q.thumbs_up_rate, 6),
        "mean_rating": round(q.mean_rating, 6),
        "corrections": q.corrections,
        "correction_rate": round(q.correction_rate, 6),
        "guardrail_blocks": q.guardrail_blocks,
        "guardrail_block_rate": round(q.guardrail_block_rate, 6),
        "mean_latency_ms": round(q.mean_latency_ms, 3),
        "first_seen": q.first_seen.seconds,
        "last_seen": q.last_seen.seconds,
    }


def _choice(value: str | None, options: dict[str, T], param: str) -> T | None:
    if value is None:
        return None
    if value not in options:
        raise ApiError(
            400, f"{param} must be one of: {', '.join(options)}.", param=param, code="invalid_value"
        )
    return options[value]


def interaction_filter(
    tenant: str,
    model: str | None = None,
    version: int | None = None,
    base_model: str | None = None,
    rated: str | None = None,
    thumbs: str | None = None,
    verdict: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> pb.InteractionFilter:
    if version is not None and version < 1:
        raise ApiError(400, "version must be a positive integer.", param="version", code="invalid_value")
    f = pb.InteractionFilter(
        tenant=tenant,
        model=model or "",
        model_version=version or 0,
        base_model=base_model or "",
        rated=_choice(rated, _RATED, "rated") or pb.RATED_FILTER_UNSPECIFIED,
        thumb=_choice(thumbs, _THUMB, "thumbs") or pb.THUMB_UNSPECIFIED,
        verdict=_choice(verdict, _VERDICT, "verdict") or pb.VERDICT_FILTER_UNSPECIFIED,
    )
    for value, field, param in ((since, f.start_time, "since"), (until, f.end_time, "until")):
        if value is not None:
            if value < 0:
                raise ApiError(
                    400, f"{param} must be a Unix time in seconds.", param=param, code="invalid_value"
                )
            field.FromSeconds(value)
    return f


def _score(body: FeedbackRequest) -> pb.Score | None:
    s = body.score
    if s is None:
        return None
    if s.type == "thumbs":
        return pb.Score(thumb=_THUMB[s.value])
    if s.type == "rating":
        return pb.Score(rating=pb.NumericRating(value=s.value, min=s.scale.min, max=s.scale.max))
    if s.type == "category":
        return pb.Score(category=s.value)
    return pb.Score(text=s.value)


class Feedback:
    def __init__(self, stub: FeedbackStub, ids: CompletionIds, timeout_s: float = 30.0) -> None:
        self.stub = stub
        self.ids = ids
        self.timeout_s = timeout_s
        self.batcher = SubmitBatcher(stub, _PARAMS, timeout_s)

    @staticmethod
    async def _call(pending: Awaitable[T]) -> T:
        try:
            return await pending
        except grpc.RpcError as err:
            api = from_grpc(err, "feedback", _PARAMS)
        except ApiError as err:  # one submission of a batch, refused
            api = err
        if api.status == 404:
            api.code = "not_found"
        raise api

    async def _check_issued(self, tenant: str, completion_id: str) -> None:
        if self.ids.issued_to(completion_id, tenant):
            return
        try:  # issued to someone else? Then it exists, and it is not the caller's.
            req = pb.GetInteractionRequest(request_id=completion_id)
            await self.stub.GetInteraction(req, timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND:
                raise from_grpc(err, "feedback", _PARAMS) from None
            raise ApiError(
                400,
                f"No completion with id '{completion_id}' was returned by this API.",
                param="completion_id",
                code="invalid_value",
            ) from None
        raise ApiError(
            404, f"No completion with id '{completion_id}'.", param="completion_id", code="not_found"
        )

    async def submit(self, tenant: str, key_id: str, body: FeedbackRequest) -> dict[str, Any]:
        await self._check_issued(tenant, body.completion_id)
        req = pb.SubmitFeedbackRequest(
            request_id=body.completion_id,
            tenant=tenant,
            client_id=body.client_id or "",
            source=_SOURCE[body.source],
            rater=body.rater or f"key:{key_id}",
            correction=body.correction or "",
            comment=body.comment or "",
        )
        score = _score(body)
        if score is not None:
            req.score.CopyFrom(score)
        resp = await self._call(self.batcher.submit(req))
        return feedback_object(resp.feedback) | {
            "created": resp.created,
            "interaction_received": resp.interaction_received,
        }

    async def get_interaction(self, tenant: str, completion_id: str) -> dict[str, Any]:
        req = pb.GetInteractionRequest(request_id=completion_id, tenant=tenant)
        return interaction_object(await self._call(self.stub.GetInteraction(req, timeout=self.timeout_s)))

    async def list_interactions(
        self, f: pb.InteractionFilter, after: str | None, limit: int | None
    ) -> dict[str, Any]:
        req = pb.ListInteractionsRequest(
            filter=f, page_size=limit_of(limit), page_token=encode_token({"id": after}) if after else ""
        )
        resp = await self._call(self.stub.ListInteractions(req, timeout=self.timeout_s))
        return page([interaction_object(s) for s in resp.interactions], bool(resp.next_page_token))

    async def export(self, tenant: str, actor: str, body: ExportRequest) -> dict[str, Any]:
        """The next training set from rated answers, registered as a dataset version."""
        by_id = body.dataset.startswith("ds_")
        req = pb.ExportDatasetRequest(
            kind=_KIND[body.kind],
            filter=interaction_filter(
                tenant, body.model, body.version, body.base_model, since=body.since, until=body.until
            ),
            min_ratings=body.min_ratings or 0,
            exclude_dataset=body.exclude_dataset or "",
            seed=body.seed or 0,
            max_examples=body.max_examples or 0,
            dataset_id=body.dataset if by_id else "",
            dataset_name="" if by_id else body.dataset,
            dry_run=body.dry_run,
        )
        for name in ("min_rating", "include_corrections", "exclude_guardrail_hits", "validation_fraction"):
            value = getattr(body, name)
            if value is not None:
                setattr(req, name, value)
        resp = await self._call(
            self.stub.ExportDataset(req, timeout=self.timeout_s, metadata=((ACTOR_HEADER, actor),))
        )
        ref = f"{resp.dataset_id}@{resp.dataset_version}" if resp.dataset_id else None
        return {
            "object": "feedback.export",
            "kind": body.kind,
            "dataset_id": resp.dataset_id or None,
            "version": resp.dataset_version or None,
            "training_file": ref,
            "examples": {"train": resp.train_examples, "validation": resp.validation_examples},
            "counts": json.loads(resp.counts_json or "{}"),
            "model_versions": list(resp.model_versions),
            "dry_run": body.dry_run,
        }

    async def quality(self, f: pb.InteractionFilter) -> dict[str, Any]:
        resp = await self._call(
            self.stub.GetQualityMetrics(pb.GetQualityMetricsRequest(filter=f), timeout=self.timeout_s)
        )
        return {"object": "list", "data": [quality_object(q) for q in resp.versions]}
