"""The hyperparameters a trainer may set: ranges (0 takes the default) and the effective
values a job runs with; the training method (SFT or DPO) and DPO's beta."""

from __future__ import annotations

import re

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import InvalidArgument
from keel_training.trainer import DEFAULT_TARGETS
from keel_training.trainer_dpo import DEFAULT_BETA
from keel_training.validation import CHAT, PREFERENCE

DEFAULT_LR = 2e-4

# Inclusive (low, high) of the numeric hyperparameters a trainer may set; 0 takes the default.
_RANGES: dict[str, tuple[float, float]] = {
    "rank": (1, 256),
    "alpha": (1e-3, 4096),
    "learning_rate": (1e-7, 1.0),
    "learning_rate_multiplier": (1e-3, 100.0),
    "epochs": (1, 100),
    "max_steps": (1, 1_000_000),
    "batch_size": (1, 256),
    "gradient_accumulation_steps": (1, 1024),
    "max_seq_len": (16, 32768),
    "warmup_steps": (1, 100_000),
    "save_steps": (1, 1_000_000),
    "eval_steps": (1, 1_000_000),
    "early_stopping_patience": (1, 100),
}


def check_hyperparameters(hp: pb.LoraHyperparameters, model_max_len: int) -> pb.LoraHyperparameters:
    """The effective hyperparameters (defaults filled in), or InvalidArgument naming the field."""
    for name, (low, high) in _RANGES.items():
        value = getattr(hp, name)
        if value and not low <= value <= high:
            raise InvalidArgument(
                f"must be between {low:g} and {high:g}, got {value:g}", field=f"hyperparameters.{name}"
            )
    if hp.HasField("dropout") and not 0 <= hp.dropout < 1:
        raise InvalidArgument(f"must be in [0, 1), got {hp.dropout:g}", field="hyperparameters.dropout")
    if hp.HasField("eval_split") and not 0 <= hp.eval_split <= 0.5:
        raise InvalidArgument(
            f"must be in [0, 0.5], got {hp.eval_split:g}", field="hyperparameters.eval_split"
        )
    if hp.learning_rate and hp.learning_rate_multiplier:
        raise InvalidArgument(
            "give learning_rate or learning_rate_multiplier, not both", field="hyperparameters"
        )
    if hp.max_seq_len > model_max_len:
        raise InvalidArgument(
            f"must not exceed the model's context of {model_max_len} tokens",
            field="hyperparameters.max_seq_len",
        )
    for m in hp.target_modules:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", m):
            raise InvalidArgument(f"{m!r} is not a module name", field="hyperparameters.target_modules")
    out = pb.LoraHyperparameters()
    out.CopyFrom(hp)
    out.rank = hp.rank or 8
    out.alpha = hp.alpha or 2.0 * out.rank
    if not hp.HasField("dropout"):
        out.dropout = 0.05
    if not hp.target_modules:
        out.target_modules.extend(DEFAULT_TARGETS)
    out.learning_rate = hp.learning_rate or DEFAULT_LR * (hp.learning_rate_multiplier or 1.0)
    out.learning_rate_multiplier = out.learning_rate / DEFAULT_LR
    out.epochs = hp.epochs or 3
    out.batch_size = hp.batch_size or 8
    out.gradient_accumulation_steps = hp.gradient_accumulation_steps or 1
    out.max_seq_len = hp.max_seq_len or min(1024, model_max_len)
    if not hp.HasField("seed"):
        out.seed = 42
    return out


MAX_BETA = 10.0  # beyond it the reference pins the policy so hard that DPO learns nothing


def check_method(method: int, dpo: pb.DpoHyperparameters) -> tuple[pb.TrainingMethod, pb.DpoHyperparameters]:
    """The effective method (UNSPECIFIED is SUPERVISED) and DPO hyperparameters (defaults filled
    in; empty for SFT), or InvalidArgument naming the field."""
    if method not in (pb.TRAINING_METHOD_UNSPECIFIED, pb.TRAINING_METHOD_SUPERVISED, pb.TRAINING_METHOD_DPO):
        raise InvalidArgument(f"unknown training method {method}; supervised or dpo", field="method")
    if method != pb.TRAINING_METHOD_DPO:
        return pb.TRAINING_METHOD_SUPERVISED, pb.DpoHyperparameters()
    if dpo.beta and not 0 < dpo.beta <= MAX_BETA:  # NaN fails the comparison too
        raise InvalidArgument(f"must be in (0, {MAX_BETA:g}], got {dpo.beta:g}", field="dpo.beta")
    return pb.TRAINING_METHOD_DPO, pb.DpoHyperparameters(beta=dpo.beta or DEFAULT_BETA)


def data_kind(method: int) -> str:
    """What a method trains on: preference pairs for DPO, chat examples otherwise."""
    return PREFERENCE if method == pb.TRAINING_METHOD_DPO else CHAT
