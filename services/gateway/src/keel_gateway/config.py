"""Gateway settings: ``KEEL_GATEWAY_*`` plus the platform-wide ``KEEL_*`` fields."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import ALIAS_CHANNEL, INTERACTIONS_STREAM, OPERATOR_TENANT
from keel_common.settings import KeelSettings, reject_placeholder


class GatewaySettings(KeelSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEL_GATEWAY_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    host: str = "127.0.0.1"
    # One port serves the OpenAI API, /livez, /readyz and /metrics.
    http_port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    registry_target: str = "127.0.0.1:50051"
    inference_target: str = "127.0.0.1:50052"
    training_target: str = "127.0.0.1:50053"
    ingestion_target: str = "127.0.0.1:50054"
    feedback_target: str = "127.0.0.1:50055"
    upstream_timeout_s: float = Field(300.0, gt=0, description="deadline of one inference call")

    # API keys: stored as HMAC-SHA256(pepper, key); the pepper never leaves the gateway.
    key_pepper: SecretStr = Field(SecretStr(""), description="secret mixed into every key hash")
    key_cache_ttl_s: float = Field(
        0.5, ge=0, le=1.0, description="how long a verified key is trusted without asking Redis"
    )
    key_cache_stale_s: float = Field(
        60.0, ge=0, description="how long a cached key keeps working while Redis is unreachable"
    )
    operator_tenant: str = Field(
        OPERATOR_TENANT, description="admins of this tenant manage every tenant's keys"
    )

    # Rate limits for keys that do not set their own (0 = unlimited).
    default_rpm: int = Field(600, ge=0)
    default_tpm: int = Field(200_000, ge=0)
    default_concurrency: int = Field(32, ge=0)

    # Guardrails
    policy_path: Path | None = Field(None, description="YAML policy; empty = the built-in default")
    semantic_rails: bool = Field(True, description="load all-MiniLM-L6-v2 for injection/topic rails")
    embed_threads: int = Field(1, ge=1, le=64)
    embed_max_batch: int = Field(32, ge=1, le=512)

    # Requests
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_file_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="POST /v1/files and /v1/documents bodies"
    )
    default_max_tokens: int = Field(256, ge=1, description="chat completions without max_tokens")
    route_cache_ttl_s: float = Field(30.0, ge=0, description="safety net; alias events invalidate at once")
    alias_channel: str = ALIAS_CHANNEL

    # Interaction log
    interactions_stream: str = INTERACTIONS_STREAM
    interactions_maxlen: int = Field(1_000_000, ge=1)
    interactions_buffer: int = Field(10_000, ge=1, description="records kept while Redis is down")
    interactions_batch: int = Field(100, ge=1)

    @field_validator("key_pepper")
    @classmethod
    def _no_placeholder(cls, v: SecretStr) -> SecretStr:
        reject_placeholder(v.get_secret_value(), "KEEL_GATEWAY_KEY_PEPPER")
        return v

    def pepper_bytes(self) -> bytes:
        pepper = self.key_pepper.get_secret_value()
        if not pepper:
            raise ValueError("KEEL_GATEWAY_KEY_PEPPER is not set; API keys cannot be hashed without it")
        return pepper.encode()
