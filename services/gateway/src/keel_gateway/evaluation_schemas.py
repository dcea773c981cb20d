"""Request and response bodies of evaluations by generation (Keel's own API: unknown request
fields are refused). What a value may be (a split, a metric, a margin) is the training service's
rule; the gateway checks types and the ranges of the wire's integers, then maps the service's
field errors to these names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# The training API's fields are int32: larger values are refused here as a 400, not a 500.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
DATASET_HELP = "a dataset version: ds_…@N (ds_… alone: its latest ready version)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _Out(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


# --- requests -------------------------------------------------------------------------------------
class CreateEvaluationRequest(_Strict):
    models: list[Annotated[str, Field(max_length=512)]] = Field(
        max_length=64, description="base model ids and registry refs (name, name@alias, name/N, ft:…)"
    )
    dataset: str = Field(max_length=128, description=f"the questions: {DATASET_HELP}")
    split: str | None = Field(None, max_length=32, description="validation (the default) or train")
    limit: Int32 | None = Field(None, description="questions asked of each model (default 64)")


class GateSettings(_Strict):
    """How a candidate is judged against what its alias serves now (the training service's
    defaults where left out)."""

    metric: str | None = Field(
        None,
        max_length=64,
        description="eval_f1 (the default), eval_exact_match, eval_similarity, closed_book_f1, "
        "closed_book_exact_match or closed_book_similarity",
    )
    margin: float | None = Field(None, description="the candidate needs current + margin, in [0, 1] (0)")
    min_examples: Int32 | None = Field(None, description="fewer questions fail the gate (10)")


class PromotionGate(GateSettings):
    dataset: str | None = Field(
        None, max_length=128, description=f"{DATASET_HELP}; default: the one the candidate was trained on"
    )
    split: str | None = Field(None, max_length=32, description="validation (the default) or train")
    limit: Int32 | None = Field(None, description="questions asked of each model (default 64)")


class AutoPromote(GateSettings):
    """A fine-tuning job's request to promote its own version through the gate when it succeeds
    (Keel's extension of OpenAI's job; the openai SDK sends it with ``extra_body``)."""

    alias: str | None = Field(None, max_length=128, description="the alias to move (production)")


# --- responses ------------------------------------------------------------------------------------
class EvaluationAnswer(_Out):
    question: str
    reference: str
    answer: str
    closed_book_answer: str | None = Field(description="the answer without the passage (null: none)")


class EvaluationResult(_Out):
    model: str = Field(description="as requested")
    ref: str = Field(description="what it resolved to: name/N or the base model id")
    metrics: dict[str, float] = Field(description="eval_f1, eval_exact_match, … once scored")
    answers: list[EvaluationAnswer] = Field(description="the first few answers, next to the scores")


class Gate(_Out):
    model: str
    version: int
    alias: str
    metric: str
    margin: float
    min_examples: int


class GateOutcome(_Out):
    passed: bool
    promoted: bool = Field(description="true when the alias moved")
    current_ref: str | None = Field(description="what the alias served (null: it did not exist)")
    candidate_score: float
    current_score: float
    message: str


class Evaluation(_Out):
    object: Literal["evaluation"] = "evaluation"
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "unspecified"]
    status_message: str
    models: list[str]
    dataset: str | None = Field(description="ds_…@N, the version the questions come from")
    split: str
    limit: int
    examples: int = Field(description="questions asked of each model")
    results: list[EvaluationResult] = Field(description="one per model, in order")
    gate: Gate | None
    gate_outcome: GateOutcome | None = Field(description="set once a gated evaluation is decided")
    job_id: str | None = Field(description="the fine-tuning job whose auto_promote created it")
    created_at: int
    finished_at: int | None
