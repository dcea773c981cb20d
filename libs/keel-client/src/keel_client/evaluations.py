"""Evaluation by generation through the gateway (a key with the training scope): base models and
the tenant's registry versions answer the same questions of a dataset version, scored by exact
match, token F1, embedding similarity and, for questions asked with a passage, closed book.

An evaluation (``eval_…``) runs on a training worker: ``queued`` → ``running`` → ``succeeded``
(``results``: one per model, ``metrics`` and a few ``answers``) or ``failed``
(``status_message``). There is no event stream: :meth:`EvaluationsMixin.wait_evaluation` polls.
A gated promotion (``promote(..., gate=...)``) answers with such an evaluation; its
``gate_outcome`` says whether the alias moved.

The mixin is part of :class:`keel_client.gateway.GatewayClient`; its errors are that module's
``GatewayError`` (``param`` names the field at fault, e.g. ``models[1]`` or ``gate.metric``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from keel_client.errors import GatewayError
from keel_client.polling import follow
from keel_client.routes import RoutesMixin

EVALUATION_DONE = ("succeeded", "failed")
# Answers worth polling again after: no answer at all (a gateway restart), or an upstream hiccup.
# The scores an evaluation reports (and a gate may be set on).
METRICS = (
    "eval_exact_match",
    "eval_f1",
    "eval_similarity",
    "closed_book_exact_match",
    "closed_book_f1",
    "closed_book_similarity",
)


def gate_of(
    metric: str | None = None,
    margin: float | None = None,
    min_examples: int | None = None,
    dataset: str | None = None,
    split: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """A promotion gate (the fields left out take the training service's defaults: eval_f1, a
    margin of 0, 10 questions at least, the candidate's training dataset, validation, 64)."""
    given = {
        "metric": metric,
        "margin": margin,
        "min_examples": min_examples,
        "dataset": dataset,
        "split": split,
        "limit": limit,
    }
    return {k: v for k, v in given.items() if v is not None}


class EvaluationsMixin(RoutesMixin):
    """The ``/v1/evaluations`` routes of :class:`~keel_client.gateway.GatewayClient`."""

    def create_evaluation(
        self,
        models: list[str],
        dataset: str,
        split: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Queue an evaluation of ``models`` (base model ids, ``name``, ``name@alias``,
        ``name/N``, ``ft:…``) on the questions of ``dataset`` (``ds_…@N``; ``ds_…`` alone: its
        latest ready version); ``split``: validation (the default) or train; ``limit``: the
        questions asked of each model (64 by default)."""
        body: dict[str, Any] = {"models": list(models), "dataset": dataset}
        if split is not None:
            body["split"] = split
        if limit is not None:
            body["limit"] = limit
        return self._dict("POST", "/v1/evaluations", json=body)

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any]:
        return self._dict("GET", f"/v1/evaluations/{quote(evaluation_id, safe='')}")

    def wait_evaluation(
        self,
        evaluation_id: str,
        timeout: float | None = 1800.0,
        poll: float = 1.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        retries: int = 5,
    ) -> dict[str, Any]:
        """Poll every ``poll`` seconds until the evaluation has succeeded or failed, and return
        it (a failed one too: look at ``status``). ``on_update`` receives it each time it
        changes. A poll that gets no answer or a 502/503/504 is tried again (up to ``retries``
        in a row); past ``timeout`` seconds (``None``: no limit) a GatewayError says it goes on."""

        def timed_out(ev: dict[str, Any]) -> GatewayError:
            return GatewayError(
                f"evaluation {evaluation_id} did not finish within {timeout:g} s (it is "
                f"{ev.get('status')}); it goes on: keel eval show {evaluation_id}",
                code="timeout",
            )

        last: dict[str, Any] = {}
        for last in follow(
            lambda: self.get_evaluation(evaluation_id),
            lambda ev: ev.get("status") in EVALUATION_DONE,
            poll,
            timeout,
            retries,
            timed_out,
        ):
            if on_update is not None:
                on_update(last)
        return last
