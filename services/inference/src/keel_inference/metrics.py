"""The inference front's metrics: client-visible latencies and token counts, and the engine's
gauges as last polled by the readiness check."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

from keel_common import metrics

SVC = "inference"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


# Engine figures exported as gauges: (key in the engine's stats, metric name part, unit, help).
_ENGINE_GAUGES = (
    ("running", "running", "requests", "requests in the running batch"),
    ("waiting", "waiting", "requests", "requests waiting for a batch slot"),
    ("batch_size", "batch_size", "sequences", "rows in the last decode step"),
    ("kv_reserved_tokens", "kv_reserved", "tokens", "KV tokens reserved by admitted requests"),
    ("kv_budget_tokens", "kv_budget", "tokens", "KV token budget (max_batch_tokens)"),
    ("kv_cached_tokens", "kv_cached", "tokens", "tokens held in the KV cache"),
    ("adapters_loaded", "adapters_loaded", "adapters", "LoRA adapters loaded"),
    ("adapter_loads_total", "adapter_loads", "total", "adapter loads so far (sampled replica)"),
    (
        "adapter_evictions_total",
        "adapter_evictions",
        "total",
        "adapter LRU evictions so far (sampled replica)",
    ),
)


class FrontMetrics:
    """Client-visible latencies and token counts, plus the engine's gauges as last polled."""

    def __init__(self) -> None:
        labels = ("model", "adapter")
        self.ttft = metrics.histogram(
            SVC, "time_to_first_token", "time to first token", labels, _LATENCY_BUCKETS
        )
        self.itl = metrics.histogram(
            SVC,
            "inter_token_latency",
            "time between streamed tokens",
            labels,
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.e2e = metrics.histogram(
            SVC, "request_duration", "end-to-end generation latency", labels, _LATENCY_BUCKETS
        )
        self.prompt_tokens: Counter = metrics.counter(SVC, "prompt_tokens", "prompt tokens processed", labels)
        self.completion_tokens: Counter = metrics.counter(
            SVC, "completion_tokens", "tokens generated", labels
        )
        self.finished: Counter = metrics.counter(
            SVC, "requests_finished", "requests by finish reason", ("reason",)
        )
        self.engine: dict[str, Gauge] = {
            stat: Gauge(metrics.metric_name(SVC, what, unit), doc) for stat, what, unit, doc in _ENGINE_GAUGES
        }

    def set_engine(self, stats: dict[str, Any]) -> None:
        for stat, gauge in self.engine.items():
            gauge.set(stats.get(stat, 0))


_METRICS: FrontMetrics | None = None


def front_metrics() -> FrontMetrics:
    global _METRICS
    if _METRICS is None:
        _METRICS = FrontMetrics()
    return _METRICS
