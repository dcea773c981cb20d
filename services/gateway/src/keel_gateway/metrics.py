"""The gateway's Prometheus metrics (one set per process)."""

from __future__ import annotations

from prometheus_client import Gauge

from keel_common import metrics

S = "gateway"

REQUESTS = metrics.counter(
    S, "requests", "HTTP requests by route, model and status", ("route", "model", "status")
)
LATENCY = metrics.histogram(S, "request_duration", "End-to-end request latency", ("route", "status"))
TTFT = metrics.histogram(S, "time_to_first_token", "Time to the first streamed token", ("route",))
OVERHEAD = metrics.histogram(
    S, "overhead", "Time spent in the gateway itself (excluding inference)", ("route",)
)
TOKENS = metrics.counter(
    S, "tokens", "Tokens served by model and kind (prompt|completion)", ("model", "kind")
)
VERDICTS = metrics.counter(
    S, "guardrail_verdicts", "Guardrail verdicts that were not a plain allow", ("rail", "stage", "action")
)
RATE_LIMITED = metrics.counter(S, "rate_limit_rejections", "Requests refused with 429, by limit", ("limit",))
RATE_UNENFORCED = metrics.counter(
    S, "rate_limit_unenforced", "Requests admitted because Redis was unreachable"
)
STALE_ROUTES = metrics.counter(
    S, "stale_routes", "Requests routed by a cached route because the registry was unreachable"
)
UPSTREAM_ERRORS = metrics.counter(S, "upstream_errors", "Failed calls to other services", ("service", "code"))
INTERACTIONS_DROPPED = metrics.counter(S, "interactions_dropped", "Interaction records dropped (buffer full)")
INTERACTIONS_WRITTEN = metrics.counter(S, "interactions_written", "Interaction records written to the stream")
INTERACTIONS_BUFFERED = Gauge(
    metrics.metric_name(S, "interactions_buffered", "records"), "Interaction records waiting for Redis"
)
