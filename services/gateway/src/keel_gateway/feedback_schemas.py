"""Request bodies of the feedback routes (Keel's own API: unknown fields are refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Thumbs(_Strict):
    type: Literal["thumbs"]
    value: Literal["up", "down"]


class Scale(_Strict):
    min: float
    max: float


class Rating(_Strict):
    type: Literal["rating"]
    value: float
    scale: Scale = Field(description="the scale the value is on, e.g. {'min': 1, 'max': 5}")


class Category(_Strict):
    type: Literal["category"]
    value: str = Field(description="a label such as 'wrong_facts' or 'off_topic'")


class Text(_Strict):
    type: Literal["text"]
    value: str


Score = Annotated[Thumbs | Rating | Category | Text, Field(discriminator="type")]


class FeedbackRequest(_Strict):
    completion_id: str = Field(max_length=64, description="the `id` of a chat completion or completion")
    client_id: str | None = Field(
        None, max_length=128, description="your idempotency key: sending it again returns the same feedback"
    )
    score: Score | None = None
    correction: str | None = Field(None, description="the answer the user wanted")
    comment: str | None = None
    source: Literal["end_user", "annotator", "judge"] = "end_user"
    rater: str | None = Field(
        None, max_length=256, description="your id for who rated (default: the API key)"
    )

    @field_validator("correction")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty; leave it out when there is no correction")
        return v


class ExportRequest(_Strict):
    kind: Literal["sft", "dpo", "kto"]
    dataset: str = Field(
        max_length=128,
        description="the dataset the export becomes a version of: a name (created when missing) or ds_… id",
    )
    model: str | None = Field(None, max_length=256, description="only answers of this registry model")
    version: int | None = Field(None, ge=1, description="… and this version of it")
    base_model: str | None = Field(None, max_length=128)
    since: int | None = Field(None, ge=0, description="Unix seconds")
    until: int | None = Field(None, ge=0, description="Unix seconds")
    min_rating: float | None = Field(
        None, ge=0, le=1, description="on 0..1; default 0.5 (thumbs up qualifies)"
    )
    min_ratings: int | None = Field(None, ge=1, description="ratings an answer needs; default 1")
    include_corrections: bool | None = None
    exclude_guardrail_hits: bool | None = None
    exclude_dataset: str | None = Field(None, max_length=128, description="an evaluation set ds_…@N left out")
    validation_fraction: float | None = Field(None, ge=0, lt=1, description="share of prompts; default 0.1")
    seed: int | None = Field(None, ge=0, le=2**62)
    max_examples: int | None = Field(None, ge=1)
    dry_run: bool = False
