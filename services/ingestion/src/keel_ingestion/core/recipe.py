"""A dataset's recipe: everything that decides its examples. Its canonical JSON, the inputs'
sha256 and the code version make the build's fingerprint, so building the same recipe over the
same documents again returns the existing version instead of a copy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.errors import InvalidArgument
from keel_common.pii import KINDS as PII_KINDS
from keel_ingestion.core.chunk import check_params
from keel_ingestion.core.dedup import DEFAULT_THRESHOLD
from keel_ingestion.core.examples import check_format
from keel_ingestion.core.quality import QualityParams

# Bumped when a change to the pipeline changes its output for the same recipe and inputs.
PIPELINE_VERSION = "1"
PII_ACTIONS = ("redact", "drop", "keep")


@dataclass(frozen=True)
class Synthesis:
    model: str = DEFAULT_BASE_MODEL
    pairs_per_chunk: int = 2
    max_tokens: int = 160
    temperature: float = 0.0
    # Kept answers must be supported by the passage: at least this share of their content words.
    min_support: float = 0.8


@dataclass(frozen=True)
class Recipe:
    base_model: str = DEFAULT_BASE_MODEL
    chunk_tokens: int = 256
    overlap_tokens: int = 32
    format: str = "text"
    quality: QualityParams = field(default_factory=QualityParams)
    dedup: bool = True
    near_dup_threshold: float = DEFAULT_THRESHOLD
    # PII kind -> redact | drop (the whole example) | keep; kinds not named are redacted.
    pii: dict[str, str] = field(default_factory=dict)
    validation_fraction: float = 0.1
    seed: int = 0
    synthesis: Synthesis | None = None

    def __post_init__(self) -> None:
        check_params(self.chunk_tokens, self.overlap_tokens)
        check_format(self.format)
        for kind, action in self.pii.items():
            if kind not in PII_KINDS:
                raise InvalidArgument(
                    f"unknown PII kind {kind!r}; one of {', '.join(PII_KINDS)}", field="pii"
                )
            if action not in PII_ACTIONS:
                raise InvalidArgument(f"{kind}: action must be one of {', '.join(PII_ACTIONS)}", field="pii")
        if not 0 <= self.validation_fraction < 1:
            raise InvalidArgument("must be in [0, 1)", field="split.validation_fraction")
        if not 0.5 <= self.near_dup_threshold <= 1:
            raise InvalidArgument("must be in [0.5, 1]", field="dedup.threshold")
        if self.format != "text" and self.synthesis is None:
            raise InvalidArgument(
                f"format {self.format} needs qa_synthesis (its questions)", field="qa_synthesis"
            )
        if self.synthesis is not None and not 1 <= self.synthesis.pairs_per_chunk <= 8:
            raise InvalidArgument("must be between 1 and 8", field="qa_synthesis.pairs_per_chunk")

    def pii_action(self, kind: str) -> str:
        return self.pii.get(kind, "redact")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Recipe:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise InvalidArgument(f"unknown recipe fields: {', '.join(sorted(unknown))}", field="recipe")
        data = dict(raw)
        if isinstance(data.get("quality"), dict):
            data["quality"] = QualityParams(**data["quality"])
        if isinstance(data.get("synthesis"), dict):
            data["synthesis"] = Synthesis(**data["synthesis"])
        return cls(**data)


def fingerprint(recipe: Recipe, inputs: list[tuple[str, str]], code_version: str) -> str:
    """sha256 over the inputs (document id, sha256) in order, the recipe and the code version."""
    canonical = json.dumps(
        {"inputs": inputs, "recipe": recipe.to_dict(), "code": code_version},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def code_version() -> str:
    from importlib.metadata import version

    return f"keel-ingestion {version('keel-ingestion')} pipeline {PIPELINE_VERSION}"
