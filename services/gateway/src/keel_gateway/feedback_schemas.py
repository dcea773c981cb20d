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
