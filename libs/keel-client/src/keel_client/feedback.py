"""Feedback through the gateway: rate or correct an answer by its completion id (a key with the
inference or training scope), and read the stored interactions and quality per model version (a
key with the training scope).

The mixin is part of :class:`keel_client.gateway.GatewayClient`; its errors are that module's
``GatewayError`` (``param`` names the field at fault, e.g. ``score.value``)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from keel_client.routes import RoutesMixin

Thumbs = Literal["up", "down"]
Source = Literal["end_user", "annotator", "judge"]


def score_of(
    thumbs: Thumbs | None = None,
    rating: float | None = None,
    scale: tuple[float, float] = (1, 5),
    category: str | None = None,
    text: str | None = None,
) -> dict[str, Any] | None:
    """The one score given (None when none is); two at once is a ValueError."""
    given = [
        {"type": "thumbs", "value": thumbs} if thumbs is not None else None,
        {"type": "rating", "value": rating, "scale": {"min": scale[0], "max": scale[1]}}
        if rating is not None
        else None,
        {"type": "category", "value": category} if category is not None else None,
        {"type": "text", "value": text} if text is not None else None,
    ]
    scores = [s for s in given if s is not None]
    if len(scores) > 1:
        raise ValueError("give one score: thumbs, rating, category or text")
    return scores[0] if scores else None


class FeedbackMixin(RoutesMixin):
    """The feedback routes of :class:`~keel_client.gateway.GatewayClient`."""

    def submit_feedback(
        self,
        completion_id: str,
        *,
        thumbs: Thumbs | None = None,
        rating: float | None = None,
        scale: tuple[float, float] = (1, 5),
        category: str | None = None,
        text: str | None = None,
        correction: str | None = None,
        comment: str | None = None,
        source: Source = "end_user",
        rater: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """Rate and/or correct the answer ``completion_id`` (the ``id`` a chat completion returned).
        With ``client_id``, sending the same feedback again returns it (``created`` false)."""
        body = {
            "completion_id": completion_id,
            "score": score_of(thumbs, rating, scale, category, text),
            "correction": correction,
            "comment": comment,
            "source": source,
            "rater": rater,
            "client_id": client_id,
        }
        return self._dict("POST", "/v1/feedback", json={k: v for k, v in body.items() if v is not None})

    def get_interaction(self, completion_id: str) -> dict[str, Any]:
        """The stored request and answer with every feedback on it (``received`` false while only
        feedback has arrived)."""
        return self._dict("GET", f"/v1/interactions/{quote(completion_id, safe='')}")

    def list_interactions(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        base_model: str | None = None,
        rated: Literal["rated", "unrated", "corrected"] | None = None,
        thumbs: Thumbs | None = None,
        verdict: Literal["blocked", "flagged", "clean"] | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = 20,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``since``/``until`` are Unix seconds; ``limit=None`` follows every page."""
        params = {
            "model": model,
            "version": version,
            "base_model": base_model,
            "rated": rated,
            "thumbs": thumbs,
            "verdict": verdict,
            "since": since,
            "until": until,
        }
        return self._list("/v1/interactions", params, limit, after=after)

    def export_feedback(
        self,
        kind: Literal["sft", "dpo", "kto"],
        dataset: str,
        *,
        model: str | None = None,
        version: int | None = None,
        since: int | None = None,
        until: int | None = None,
        min_rating: float | None = None,
        min_ratings: int | None = None,
        include_corrections: bool | None = None,
        exclude_guardrail_hits: bool | None = None,
        exclude_dataset: str | None = None,
        validation_fraction: float | None = None,
        seed: int | None = None,
        max_examples: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """The next training set from rated answers, registered as a version of ``dataset`` (a
        name, created when missing, or a ``ds_…`` id); ``training_file`` (``ds_…@N``) is what a
        fine-tuning job takes. ``dry_run`` only counts."""
        body = {
            "kind": kind,
            "dataset": dataset,
            "model": model,
            "version": version,
            "since": since,
            "until": until,
            "min_rating": min_rating,
            "min_ratings": min_ratings,
            "include_corrections": include_corrections,
            "exclude_guardrail_hits": exclude_guardrail_hits,
            "exclude_dataset": exclude_dataset,
            "validation_fraction": validation_fraction,
            "seed": seed,
            "max_examples": max_examples,
            "dry_run": dry_run,
        }
        return self._dict(
            "POST", "/v1/feedback/exports", json={k: v for k, v in body.items() if v is not None}
        )

    def feedback_stats(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        base_model: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """Quality per model version: answers, rated, thumbs-up rate, mean rating (0..1),
        correction rate, guardrail block rate."""
        params = {
            "model": model,
            "version": version,
            "base_model": base_model,
            "since": since,
            "until": until,
        }
        page = self._call(
            "GET", "/v1/feedback/stats", params={k: v for k, v in params.items() if v is not None}
        )
        return list(page["data"])
