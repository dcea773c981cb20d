"""One request's state through the gateway, from admission to the interaction record, and the
finish-reason names shared by the core and the record."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from keel.common.v1 import common_pb2 as cpb
from keel_common.contract import GUARDRAILS_HEADER, MODEL_HEADER, REQUEST_ID_HEADER
from keel_gateway.guardrails.pipeline import Rails, Verdict
from keel_gateway.keys import ApiKey
from keel_gateway.ratelimit import Admission
from keel_gateway.routing import Route

FINISH = {
    cpb.FinishReason.FINISH_REASON_STOP: "stop",
    cpb.FinishReason.FINISH_REASON_LENGTH: "length",
    cpb.FinishReason.FINISH_REASON_CONTENT_FILTER: "content_filter",
    cpb.FinishReason.FINISH_REASON_CANCELLED: "cancelled",
}
FINISH_PB = {v: k for k, v in FINISH.items()}


@dataclass
class Call:
    """One request's state, from admission to the interaction record."""

    route_name: str  # chat.completions | completions
    request_id: str
    key: ApiKey
    stream: bool
    requested_model: str
    started: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))  # OpenAI's "created"
    route: Route | None = None
    rails: Rails | None = None
    roles: list[str] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    sampling: cpb.SamplingParams = field(default_factory=cpb.SamplingParams)
    include_usage: bool = False
    verdicts: list[Verdict] = field(default_factory=list)
    admission: Admission | None = None
    reserved: int = 0
    upstream_s: float = 0.0
    ttft_s: float = 0.0
    completion: str = ""
    usage: cpb.Usage = field(default_factory=cpb.Usage)
    finish: str = ""
    status: int = 200
    error_type: str = ""
    released: bool = False
    elapsed_s: float = 0.0
    streamed_tokens: int = 0
    store: bool | None = None  # the request's OpenAI `store`; None follows the tenant's policy
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def model_label(self) -> str:
        return self.route.requested if self.route is not None else "unresolved"

    def headers(self) -> dict[str, str]:
        h = {REQUEST_ID_HEADER: self.request_id}
        if self.route is not None:
            h[MODEL_HEADER] = self.route.served
        if self.elapsed_s:
            gateway_ms = max(self.elapsed_s - self.upstream_s, 0.0) * 1000
            h["server-timing"] = f"gateway;dur={gateway_ms:.2f}, inference;dur={self.upstream_s * 1000:.2f}"
        if self.verdicts:
            h[GUARDRAILS_HEADER] = ",".join(v.header() for v in self.verdicts)
        a = self.admission
        if a is not None and a.enforced:
            if a.remaining_requests >= 0:
                h["x-ratelimit-remaining-requests"] = str(max(a.remaining_requests, 0))
            if a.remaining_tokens >= 0:
                h["x-ratelimit-remaining-tokens"] = str(max(a.remaining_tokens, 0))
        return h
