"""OpenAI's response bodies as typed models (field order is the JSON's order; ``None`` fields
are sent as ``null``, as OpenAI sends them). ``keel`` carries Keel's additions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class Usage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class KeelInfo(_Out):
    request_id: str
    model: str
    guardrails: list[dict[str, object]]


class AssistantMessage(_Out):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class ChatChoice(_Out):
    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: str


class ChatCompletion(_Out):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: None = None
    choices: list[ChatChoice]
    usage: Usage
    keel: KeelInfo


class ChunkChoice(_Out):
    index: int = 0
    delta: dict[str, str]
    logprobs: None = None
    finish_reason: str | None


class ChatCompletionChunk(_Out):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: None = None
    choices: list[ChunkChoice]


class CompletionChoice(_Out):
    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: str | None


class CompletionChunk(_Out):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]


class Completion(CompletionChunk):
    usage: Usage
    keel: KeelInfo


class ModelObject(_Out):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelRoute(_Out):
    base_model: str
    version: int
    adapter: str


class ModelDetail(ModelObject):
    keel: ModelRoute


class ModelList(_Out):
    object: Literal["list"] = "list"
    data: list[ModelObject]
