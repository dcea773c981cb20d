"""A feedback submission, validated: the typed score, the correction, the limits. Every error
names the field at fault."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field

from keel_common.errors import InvalidArgument

THUMB_UP, THUMB_DOWN = 1, 2
SOURCES = {1: "end_user", 2: "annotator", 3: "judge"}
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class Score:
    kind: str  # "thumb" | "rating" | "category" | "text"
    thumb: int = 0
    value: float | None = None
    min: float | None = None
    max: float | None = None
    category: str = ""
    text: str = ""


@dataclass(frozen=True)
class Limits:
    correction: int = 32_768
    comment: int = 4096
    text: int = 4096
    category: int = 64


@dataclass(frozen=True)
class Submission:
    request_id: str
    tenant: str
    client_id: str = ""
    source: int = 1
    rater: str = ""
    score: Score | None = None
    correction: str = ""
    comment: str = ""
    limits: Limits = field(default=Limits(), compare=False)

    def validate(self) -> None:
        if not _REQUEST_ID.fullmatch(self.request_id):
            raise InvalidArgument("must be a completion id returned by the gateway", field="request_id")
        if not self.tenant:
            raise InvalidArgument("is required", field="tenant")
        if len(self.client_id) > 128:
            raise InvalidArgument("must be at most 128 characters", field="client_id")
        if self.source not in SOURCES:
            raise InvalidArgument(f"must be one of {', '.join(SOURCES.values())}", field="source")
        if len(self.rater) > 256:
            raise InvalidArgument("must be at most 256 characters", field="rater")
        if self.score is None and not self.correction and not self.comment:
            raise InvalidArgument("give a score, a correction or a comment", field="score")
        if self.correction and not self.correction.strip():
            raise InvalidArgument("must not be empty", field="correction")
        _max_len(self.correction, self.limits.correction, "correction")
        _max_len(self.comment, self.limits.comment, "comment")
        if self.score is not None:
            self._validate_score(self.score)

    def _validate_score(self, s: Score) -> None:
        if s.kind == "thumb":
            if s.thumb not in (THUMB_UP, THUMB_DOWN):
                raise InvalidArgument("must be up or down", field="score.thumb")
        elif s.kind == "rating":
            lo, hi, v = s.min, s.max, s.value
            if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                raise InvalidArgument("the scale needs finite min < max, e.g. 1 and 5", field="score.scale")
            if v is None or not math.isfinite(v) or not lo <= v <= hi:
                raise InvalidArgument(f"must lie on the scale [{lo:g}, {hi:g}]", field="score.value")
        elif s.kind == "category":
            if (
                not s.category
                or len(s.category) > self.limits.category
                or not _CATEGORY.fullmatch(s.category)
            ):
                raise InvalidArgument(
                    f"must be a label of lower-case letters, digits, '_', '-' or '.', at most "
                    f"{self.limits.category} characters",
                    field="score.category",
                )
        elif s.kind == "text":
            if not s.text.strip():
                raise InvalidArgument("must not be empty", field="score.text")
            _max_len(s.text, self.limits.text, "score.text")
        else:
            raise InvalidArgument("must be a thumb, a rating, a category or a text", field="score")

    def normalized(self) -> float | None:
        """Thumbs and ratings on one 0..1 scale; None for a category, a text or no score."""
        s = self.score
        if s is None:
            return None
        if s.kind == "thumb":
            return 1.0 if s.thumb == THUMB_UP else 0.0
        if s.kind == "rating" and s.value is not None and s.min is not None and s.max is not None:
            return (s.value - s.min) / (s.max - s.min)
        return None

    def digest(self) -> str:
        """What was said, hashed: a retry under the same client_id must say the same."""
        body = {k: v for k, v in asdict(self).items() if k not in ("limits", "client_id")}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _max_len(value: str, limit: int, name: str) -> None:
    if len(value) > limit:
        raise InvalidArgument(f"must be at most {limit} characters, got {len(value)}", field=name)
