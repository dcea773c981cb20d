"""Feedback's metrics, defined once (names ``keel_feedback_<what>_<unit>``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keel_common import metrics

CONSUMED = metrics.counter(
    "feedback",
    "interactions_consumed",
    "Stream entries handled, by outcome (stored, duplicate, invalid, trimmed)",
    ("outcome",),
)
CLAIMED = metrics.counter(
    "feedback", "interactions_claimed", "Pending entries taken over from a consumer that went silent"
)
BATCH_SECONDS = metrics.histogram(
    "feedback",
    "consume_batch",
    "Time to store one batch of stream entries",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SUBMITTED = metrics.counter(
    "feedback",
    "submissions",
    "Feedback submitted, by kind (thumb, rating, category, text, none) and outcome",
    ("kind", "outcome"),
)

SUBMIT_BATCH = metrics.histogram(
    "feedback",
    "submit_batch",
    "Submissions per call: how many the gateway sent together (SubmitFeedback is a batch of one)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    unit="submissions",
)


class LagCollector(Collector):
    """At scrape time, from the stream: ``keel_feedback_consumer_pending`` (delivered, not yet
    acknowledged), ``keel_feedback_consumer_undelivered`` and ``keel_feedback_consumer_lag_seconds``
    (age of the oldest entry not yet acknowledged, delivered or not)."""

    def __init__(self, lag: Callable[[], tuple[int, int, float]]) -> None:
        self.lag = lag

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending, undelivered, age = self.lag()
        except Exception:  # a scrape while Redis is down shows no value, not an error
            return
        yield GaugeMetricFamily(
            "keel_feedback_consumer_pending", "Entries delivered, not acknowledged", pending
        )
        yield GaugeMetricFamily(
            "keel_feedback_consumer_undelivered", "Entries in the stream no consumer has read", undelivered
        )
        yield GaugeMetricFamily(
            "keel_feedback_consumer_lag_seconds", "Age of the oldest entry not acknowledged", age
        )


class QualityCollector(Collector):
    """Quality per model version as gauges, from a snapshot the service refreshes (a scrape must
    not run an aggregate over every interaction). Labels: model, version, base_model only."""

    NAMES = (
        ("interactions", "Answers served"),
        ("rated", "Answers with a thumb or a rating"),
        ("thumbs_up_rate", "Thumbs up / thumbs given"),
        ("mean_rating", "Mean normalised rating (0..1)"),
        ("correction_rate", "Answers with a correction / answers"),
        ("guardrail_block_rate", "Answers a guardrail blocked / answers"),
    )

    def __init__(self, snapshot: Callable[[], list[tuple[str, str, str, dict[str, float]]]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            name: GaugeMetricFamily(
                f"keel_feedback_quality_{name}", text, labels=["model", "version", "base_model"]
            )
            for name, text in self.NAMES
        }
        for model, version, base, values in self.snapshot():
            for name, fam in families.items():
                fam.add_metric([model, version, base], values[name])
        yield from families.values()
