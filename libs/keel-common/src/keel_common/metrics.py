"""Prometheus helpers: one naming rule (``keel_<service>_<what>_<unit>``) and shared buckets."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def metric_name(service: str, what: str, unit: str) -> str:
    """``keel_<service>_<what>_<unit>``; ``unit`` is e.g. ``total``, ``seconds``, ``bytes``."""
    name = f"keel_{service}_{what}_{unit}"
    if not _NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    return name


def counter(
    service: str, what: str, doc: str, labels: tuple[str, ...] = (), registry: CollectorRegistry = REGISTRY
) -> Counter:
    # prometheus_client appends _total itself; pass the name without it.
    return Counter(metric_name(service, what, "total")[: -len("_total")], doc, labels, registry=registry)


def histogram(
    service: str,
    what: str,
    doc: str,
    labels: tuple[str, ...] = (),
    buckets: tuple[float, ...] = LATENCY_BUCKETS,
    registry: CollectorRegistry = REGISTRY,
    unit: str = "seconds",
) -> Histogram:
    return Histogram(metric_name(service, what, unit), doc, labels, buckets=buckets, registry=registry)


def gauge(
    service: str,
    what: str,
    doc: str,
    labels: tuple[str, ...] = (),
    unit: str = "",
    registry: CollectorRegistry = REGISTRY,
) -> Gauge:
    """A gauge; ``unit`` empty for a plain count (``keel_ingestion_documents``)."""
    name = metric_name(service, what, unit) if unit else metric_name(service, what, "x")[: -len("_x")]
    return Gauge(name, doc, labels, registry=registry)
