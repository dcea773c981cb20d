"""Ingestion's metrics, defined once (names ``keel_ingestion_<what>_<unit>``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keel_common import metrics

DOCUMENTS = metrics.counter("ingestion", "documents", "Documents uploaded, by outcome", ("status",))
PAGES = metrics.counter("ingestion", "pages_extracted", "Pages of text extracted from documents")
EXTRACTED_BYTES = metrics.counter("ingestion", "extracted_bytes", "Bytes of documents extracted")
STAGE_SECONDS = metrics.histogram(
    "ingestion", "build_stage", "Time one build task took, by stage", ("stage",),
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600, 1800),
)  # fmt: skip
EXAMPLES = metrics.counter(
    "ingestion", "chunks", "Chunks builds kept or dropped, by outcome (kept, a quality rule, pii, duplicate)",
    ("outcome",),
)  # fmt: skip
DEDUP_REMOVED = metrics.counter("ingestion", "dedup_removed", "Chunks removed as duplicates", ("kind",))
SYNTH_TOKENS = metrics.counter("ingestion", "synthesis_tokens", "Tokens generated for QA synthesis")
SYNTH_KEPT = metrics.histogram(
    "ingestion", "synthesis_kept", "Per build, the fraction of proposed QA pairs kept as grounded",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0), unit="ratio",
)  # fmt: skip
BUILDS = metrics.counter("ingestion", "builds", "Dataset builds finished, by outcome", ("status",))


class StateCollector(Collector):
    """At scrape time: ``keel_ingestion_documents_stored{status}`` from SQL and
    ``keel_ingestion_queue_length`` (build tasks waiting) from the broker."""

    def __init__(self, counts: Callable[[], dict[str, int]], queue_length: Callable[[], int]) -> None:
        self.counts = counts
        self.queue_length = queue_length

    def collect(self) -> Iterator[GaugeMetricFamily]:
        docs = GaugeMetricFamily(
            "keel_ingestion_documents_stored", "Documents stored, by status", labels=["status"]
        )
        queue = GaugeMetricFamily("keel_ingestion_queue_length", "Build tasks waiting in the Celery queue")
        try:
            for status, n in sorted(self.counts().items()):
                docs.add_metric([status], n)
            queue.add_metric([], self.queue_length())
        except Exception:  # a scrape while a dependency is down shows no value, not an error
            return
        yield docs
        yield queue
