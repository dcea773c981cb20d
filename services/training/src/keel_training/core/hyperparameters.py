"""The hyperparameters a trainer may set: ranges (0 takes the default) and the effective
values a job runs with; the training method (SFT or DPO) and DPO's beta.

Epochs, batch size, learning rate and warm-up left unset are "auto", as in OpenAI's API: they
are chosen from the training set's size and the base model's size once the data is read
(``choose_auto``), and the job records the values and which of them were chosen."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import InvalidArgument
from keel_training.lora import ALL_LINEAR, DEFAULT_TARGETS
from keel_training.trainer import planned_steps
from keel_training.trainer_dpo import DEFAULT_BETA
from keel_training.validation import CHAT, PREFERENCE

# LoRA's customary learning rate for a ~7B model; smaller models take larger steps (``auto_lr``).
DEFAULT_LR = 2e-4
_REFERENCE_PARAMS = 7e9
# Auto epochs aim at about this many example presentations in all (OpenAI's fine-tuning
# guide uses the same bounds), so 12 examples get 9 epochs and 10,000 get 3.
_TARGET_EXAMPLES = (100, 25_000)
_AUTO_EPOCHS = (1, 25)
DEFAULT_EPOCHS = 3

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
        if m == ALL_LINEAR:
            if len(hp.target_modules) > 1:
                raise InvalidArgument(
                    f"{ALL_LINEAR!r} stands alone, not with module names",
                    field="hyperparameters.target_modules",
                )
            continue
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
    out.gradient_accumulation_steps = hp.gradient_accumulation_steps or 1
    out.max_seq_len = hp.max_seq_len or min(1024, model_max_len)
    if not hp.HasField("seed"):
        out.seed = 42
    return out


@dataclass(frozen=True)
class AutoChoice:
    """The effective hyperparameters and, for the job's log, why each auto value was chosen."""

    hyperparameters: pb.LoraHyperparameters
    reasons: dict[str, str]

    def describe(self) -> str:
        hp = self.hyperparameters
        shown = {
            "epochs": str(hp.epochs),
            "batch_size": str(hp.batch_size),
            "learning_rate": f"{hp.learning_rate:.3g}",
            "warmup_steps": str(hp.warmup_steps),
        }
        return "; ".join(f"{k} {shown[k]} ({why})" for k, why in self.reasons.items())


def model_parameters(model_dir: Path) -> int:
    """The parameter count of a decoder-only transformer, from its config.json (nothing is
    loaded): embeddings, attention with grouped KV heads, a gated MLP, and the output head
    unless it is tied."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_dir)
    d = int(c.hidden_size)
    heads = int(getattr(c, "num_attention_heads", 1))
    kv = int(getattr(c, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(c, "head_dim", None) or d // heads)
    inter = int(getattr(c, "intermediate_size", 4 * d))
    attention = 2 * d * heads * head_dim + 2 * d * kv * head_dim
    embed = int(c.vocab_size) * d
    head = 0 if getattr(c, "tie_word_embeddings", False) else embed
    return int(c.num_hidden_layers) * (attention + 3 * d * inter) + embed + head


def auto_lr(parameters: int, method: int) -> float:
    """LoRA's 2e-4 at 7B, scaled by the square root of how much smaller the model is (a small
    model's adapter needs larger steps to move: on SmolLM2-135M, 2e-4 for 3 epochs learns no
    fact, 1.4e-3 learns them), bounded to [1e-4, 2e-3]; DPO a quarter of that (it starts
    from a model that already answers and must not drift far from it)."""
    lr = DEFAULT_LR * math.sqrt(_REFERENCE_PARAMS / max(parameters, 1))
    lr = min(2e-3, max(1e-4, lr))
    return lr / 4 if method == pb.TRAINING_METHOD_DPO else lr


def auto_epochs(examples: int) -> int:
    low, high = _TARGET_EXAMPLES
    if examples * DEFAULT_EPOCHS < low:
        return min(_AUTO_EPOCHS[1], math.ceil(low / max(examples, 1)))
    if examples * DEFAULT_EPOCHS > high:
        return max(_AUTO_EPOCHS[0], high // examples)
    return DEFAULT_EPOCHS


def auto_batch_size(examples: int) -> int:
    """A power of two near 1/25 of the set, from 4 (small sets still get several steps per
    epoch) to 16 (a CPU or one GPU does not gain from more; accumulate for larger)."""
    return int(min(16, max(4, 2 ** math.floor(math.log2(max(examples, 1) / 25)))))


def choose_auto(hp: pb.LoraHyperparameters, examples: int, parameters: int, method: int) -> AutoChoice:
    """Fill in the auto hyperparameters (those still 0 after ``check_hyperparameters``) for a
    training set of ``examples`` on a model of ``parameters``; ``hp.auto`` lists them."""
    out = pb.LoraHyperparameters()
    out.CopyFrom(hp)
    reasons: dict[str, str] = {}
    if not hp.epochs:
        out.epochs = auto_epochs(examples)
        reasons["epochs"] = f"auto: {examples} examples"
    if not hp.batch_size:
        out.batch_size = auto_batch_size(examples)
        reasons["batch_size"] = f"auto: {examples} examples"
    base_lr = auto_lr(parameters, method)
    if not hp.learning_rate:
        out.learning_rate = base_lr * (hp.learning_rate_multiplier or 1.0)
        why = f"auto: LoRA on {parameters / 1e6:,.0f}M parameters"
        reasons["learning_rate"] = why + (
            f" times {hp.learning_rate_multiplier:g}" if hp.learning_rate_multiplier else ""
        )
    out.learning_rate_multiplier = out.learning_rate / base_lr
    if not hp.warmup_steps:
        steps = planned_steps(
            examples, out.batch_size, out.gradient_accumulation_steps, out.epochs, out.max_steps
        )
        out.warmup_steps = max(1, round(0.06 * steps))
        reasons["warmup_steps"] = f"auto: 6% of {steps} steps, then linear decay"
    del out.auto[:]
    out.auto.extend(reasons)
    return AutoChoice(out, reasons)


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
