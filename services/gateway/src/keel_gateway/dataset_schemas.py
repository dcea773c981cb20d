"""Request bodies of Keel's dataset routes (not an OpenAI API: unknown fields are refused, so a
typo in a recipe never silently builds something else)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Chunking(_Strict):
    max_tokens: int | None = Field(None, ge=16, le=32768)
    overlap_tokens: int | None = Field(None, ge=0, le=16384)


class Quality(_Strict):
    min_words: int | None = Field(None, ge=0)
    max_symbol_ratio: float | None = Field(None, ge=0, le=1)
    min_alpha_word_ratio: float | None = Field(None, ge=0, le=1)
    max_dup_line_ratio: float | None = Field(None, ge=0, le=1)
    max_dup_ngram_ratio: float | None = Field(None, ge=0, le=1)
    max_boilerplate_ratio: float | None = Field(None, ge=0, le=1)


class Dedup(_Strict):
    enabled: bool | None = None
    near_threshold: float | None = Field(None, ge=0.5, le=1)


class QaSynthesis(_Strict):
    model: str | None = Field(None, max_length=256)
    pairs_per_chunk: int | None = Field(None, ge=1, le=8)
    max_tokens: int | None = Field(None, ge=16, le=2048)
    temperature: float | None = Field(None, ge=0, le=2)
    min_support: float | None = Field(None, ge=0, le=1)


class Split(_Strict):
    validation_fraction: float | None = Field(None, ge=0, lt=1)
    seed: int | None = Field(None, ge=0, le=2**62)


PiiAction = Literal["redact", "drop", "keep"]
Format = Literal["text", "qa_with_context", "qa_closed_book"]


class BuildSpec(_Strict):
    documents: list[str] = Field(min_length=1, max_length=100_000)
    base_model: str | None = Field(None, max_length=256)
    chunking: Chunking | None = None
    quality: Quality | None = None
    dedup: Dedup | None = None
    pii: dict[str, PiiAction] | None = None
    format: Format | None = None
    qa_synthesis: QaSynthesis | None = None
    split: Split | None = None


class CreateDatasetRequest(BuildSpec):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=2000)
