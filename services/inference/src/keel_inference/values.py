"""Plain values the gRPC front and the engine exchange: requests in, adapter and model facts
out. Plain dataclasses on purpose: with Ray they cross process boundaries by pickling."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Message:
    role: str
    content: str
    name: str = ""


@dataclass
class SamplingInput:
    """Sampling fields as the client sent them; ``None`` = unset."""

    max_tokens: int = 0
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    ignore_eos: bool = False


@dataclass
class AdapterInput:
    ref: str
    artifact_uri: str = ""
    artifact_sha256: str = ""


@dataclass
class GenerateInput:
    request_id: str = ""
    model: str = ""
    messages: list[Message] | None = None
    prompt: str | None = None
    adapter: AdapterInput | None = None
    sampling: SamplingInput = field(default_factory=SamplingInput)


@dataclass
class AdapterInfo:
    ref: str
    name: str
    sha256: str
    pinned: bool
    loaded_at: float
    last_used_at: float


@dataclass
class EngineInfo:
    """What one engine replica serves (ListModels)."""

    model: str
    source: str
    context_length: int
    dtype: str
    tensor_parallel_size: int
    replicas: int
    ready: bool
    max_adapters: int
    adapters: list[AdapterInfo] = field(default_factory=list)
