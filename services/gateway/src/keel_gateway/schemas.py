"""OpenAI request bodies. Unknown fields are accepted and ignored, as OpenAI does; fields Keel
cannot honour (n > 1, logprobs, tools) are refused with the parameter named."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from keel_gateway.evaluation_schemas import AutoPromote

MAX_STOP = 4


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class ContentPart(_Body):
    type: str
    text: str | None = None


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, max_length=256)

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content if p.type == "text")


class StreamOptions(_Body):
    include_usage: bool = False


class _Sampling(_Body):
    model: str = Field(min_length=1, max_length=512)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    user: str | None = Field(None, max_length=512)
    # OpenAI's storage choice and tags for a stored completion.
    store: bool | None = None
    metadata: dict[str, str] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_limits(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        """OpenAI's limits: at most 16 pairs, keys up to 64 and values up to 512 characters."""
        if v is None:
            return v
        if len(v) > 16:
            raise ValueError(f"at most 16 key-value pairs, got {len(v)}")
        for k, val in v.items():
            if not k or len(k) > 64:
                raise ValueError(f"keys must be 1-64 characters: {k[:80]!r}")
            if len(val) > 512:
                raise ValueError(f"values must be at most 512 characters (key {k!r})")
        return v

    logprobs: bool | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> list[str] | None:
        if v is None:
            return None
        stops = [v] if isinstance(v, str) else v
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must not be empty")
        return stops

    def stops(self) -> list[str]:
        return list(self.stop or [])  # normalised to a list by the validator

    def unsupported(self) -> tuple[str, str] | None:
        if self.n not in (None, 1):
            return "n", "only n=1 is supported"
        if self.logprobs:
            return "logprobs", "logprobs are not supported"
        return None


class ChatCompletionRequest(_Sampling):
    messages: list[Message] = Field(min_length=1, max_length=2048)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    tools: list[dict[str, Any]] | None = None

    def unsupported(self) -> tuple[str, str] | None:
        if self.tools:
            return "tools", "tool calling is not supported"
        return super().unsupported()

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1, le=20)

    def unsupported(self) -> tuple[str, str] | None:
        if isinstance(self.prompt, list) and len(self.prompt) != 1:
            return "prompt", "exactly one prompt is supported per request"
        if self.echo:
            return "echo", "echo is not supported"
        if self.suffix:
            return "suffix", "suffix is not supported"
        if self.best_of not in (None, 1):
            return "best_of", "only best_of=1 is supported"
        return super().unsupported()

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(None, description="defaults to the caller's tenant")
    scopes: list[str] = Field(default_factory=lambda: ["inference"])
    name: str = Field("", max_length=200)
    rpm: int = Field(0, ge=-1, description="requests per minute; 0 = default, -1 = unlimited")
    tpm: int = Field(0, ge=-1, description="tokens per minute; 0 = default, -1 = unlimited")
    concurrency: int = Field(0, ge=-1, description="in-flight requests; 0 = default, -1 = unlimited")


Auto = Literal["auto"]
# The training API's fields are int32: larger values are refused here as a 400, not a 500.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class FineTuningHyperparameters(BaseModel):
    """OpenAI's three knobs ("auto" = Keel's default) plus Keel's LoRA settings; unknown keys
    are refused so a misspelt setting is not silently ignored."""

    model_config = ConfigDict(extra="forbid")
    n_epochs: Int32 | Auto | None = None
    batch_size: Int32 | Auto | None = None
    learning_rate_multiplier: float | Auto | None = None
    learning_rate: float | None = None
    lora_r: Int32 | None = None
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    lora_target_modules: list[str] | None = Field(None, max_length=32)
    max_seq_len: Int32 | None = None
    max_steps: Int32 | None = None
    gradient_accumulation_steps: Int32 | None = None
    warmup_steps: Int32 | None = None
    save_steps: Int32 | None = None
    eval_steps: Int32 | None = None
    eval_split: float | None = None
    early_stopping_patience: Int32 | None = None


class DpoHyperparameters(FineTuningHyperparameters):
    """DPO's beta ("auto": 0.1), and every knob of supervised training."""

    beta: float | Auto | None = None

    @field_validator("beta", mode="before")
    @classmethod
    def _beta(cls, value: Any) -> Any:
        # Checked before the union, so a refusal names the field itself ("…beta", not
        # "…beta.constrained-float"). Beyond 10 the reference pins the policy: nothing is learnt.
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 10:
            raise ValueError("beta must be a number greater than 0 and at most 10, or 'auto'")
        return float(value)


class _Supervised(BaseModel):
    hyperparameters: FineTuningHyperparameters | None = None


class _Dpo(BaseModel):
    hyperparameters: DpoHyperparameters | None = None


class FineTuningMethod(BaseModel):
    """OpenAI's ``method``: ``supervised`` (SFT on chat examples) or ``dpo`` (preference pairs);
    a block of the other type is refused rather than ignored."""

    type: Literal["supervised", "dpo"] = "supervised"
    supervised: _Supervised | None = None
    dpo: _Dpo | None = None

    @model_validator(mode="after")
    def _one_block(self) -> FineTuningMethod:
        other = "dpo" if self.type == "supervised" else "supervised"
        if getattr(self, other) is not None:
            raise ValueError(f"'{other}' settings do not apply to method type '{self.type}'")
        return self


class CreateFineTuningJobRequest(_Body):
    model: str = Field(min_length=1, max_length=256)
    training_file: str = Field(min_length=1, max_length=128)
    validation_file: str | None = Field(None, max_length=128)
    hyperparameters: FineTuningHyperparameters | None = None
    method: FineTuningMethod | None = None
    suffix: str | None = Field(None, max_length=64)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, str] | None = None
    # Keel's extension: promote the job's version through the evaluation gate when it succeeds.
    auto_promote: AutoPromote | None = None

    def effective_hyperparameters(self) -> FineTuningHyperparameters:
        """The method's hyperparameters (a ``DpoHyperparameters`` for DPO), else the top-level
        ones (OpenAI's older place for them)."""
        method = self.method
        if method and method.type == "dpo":
            given = method.dpo.hyperparameters if method.dpo else None
            return given or DpoHyperparameters(
                **(self.hyperparameters.model_dump() if self.hyperparameters else {})
            )
        if method and method.supervised and method.supervised.hyperparameters:
            return method.supervised.hyperparameters
        return self.hyperparameters or FineTuningHyperparameters()
