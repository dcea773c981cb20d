"""Hyperparameters: the ranges a trainer may set (each refusal names its field), the defaults,
and the "auto" values chosen from the training set's size and the base model's size."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from keel.training.v1 import training_pb2 as pb
from keel_common.errors import InvalidArgument
from keel_training.core import DEFAULT_LR, check_hyperparameters, fine_tuned_name, output_model_name
from keel_training.core.hyperparameters import choose_auto, model_parameters
from keel_training.lora import DEFAULT_TARGETS
from keel_training.trainer import planned_steps

# --- hyperparameters -----------------------------------------------------------------------------
OUT_OF_RANGE = [
    ("rank", 257),
    ("rank", -1),
    ("alpha", 4097.0),
    ("alpha", 1e-4),
    ("learning_rate", 1.5),
    ("learning_rate", 1e-8),
    ("learning_rate_multiplier", 101.0),
    ("learning_rate_multiplier", 1e-4),
    ("epochs", 101),
    ("epochs", -1),
    ("max_steps", 1_000_001),
    ("max_steps", -5),
    ("batch_size", 257),
    ("batch_size", -1),
    ("gradient_accumulation_steps", 1025),
    ("gradient_accumulation_steps", -2),
    ("max_seq_len", 32769),
    ("max_seq_len", 15),
    ("warmup_steps", 100_001),
    ("warmup_steps", -1),
    ("save_steps", 1_000_001),
    ("save_steps", -1),
    ("eval_steps", 1_000_001),
    ("eval_steps", -1),
    ("early_stopping_patience", 101),
    ("early_stopping_patience", -1),
]


@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE)
def test_each_out_of_range_hyperparameter_is_named(name: str, value: float) -> None:
    with pytest.raises(InvalidArgument, match="must be between") as err:
        check_hyperparameters(pb.LoraHyperparameters(**{name: value}), 100_000)
    assert err.value.field == f"hyperparameters.{name}"


@pytest.mark.parametrize(
    ("hp", "field", "match"),
    [
        (pb.LoraHyperparameters(dropout=1.0), "hyperparameters.dropout", "must be in"),
        (pb.LoraHyperparameters(dropout=-0.1), "hyperparameters.dropout", "must be in"),
        (pb.LoraHyperparameters(eval_split=0.6), "hyperparameters.eval_split", "must be in"),
        (pb.LoraHyperparameters(eval_split=-0.1), "hyperparameters.eval_split", "must be in"),
        (
            pb.LoraHyperparameters(learning_rate=1e-4, learning_rate_multiplier=2),
            "hyperparameters",
            "not both",
        ),
        (pb.LoraHyperparameters(max_seq_len=4096), "hyperparameters.max_seq_len", "context of 2048"),
        (
            pb.LoraHyperparameters(target_modules=["q_proj", "model.v_proj"]),
            "hyperparameters.target_modules",
            "v_proj",
        ),
        (
            pb.LoraHyperparameters(target_modules=["1x"]),
            "hyperparameters.target_modules",
            "not a module name",
        ),
    ],
)
def test_other_hyperparameter_refusals(hp: pb.LoraHyperparameters, field: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match) as err:
        check_hyperparameters(hp, 2048)
    assert err.value.field == field


def test_defaults_are_filled_in_and_explicit_zeros_kept() -> None:
    hp = check_hyperparameters(pb.LoraHyperparameters(), 8192)
    assert (hp.rank, hp.alpha, hp.gradient_accumulation_steps) == (8, 16.0, 1)
    # epochs, batch size, learning rate and warm-up stay "auto" until the data is read
    assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.warmup_steps) == (0, 0, 0.0, 0)
    assert hp.dropout == pytest.approx(0.05)
    assert list(hp.target_modules) == DEFAULT_TARGETS == ["all-linear"]
    assert hp.max_seq_len == 1024
    assert hp.seed == 42
    assert (hp.max_steps, hp.save_steps, hp.eval_steps) == (0, 0, 0)
    assert not hp.HasField("eval_split")
    # A short model context caps the default sequence length.
    assert check_hyperparameters(pb.LoraHyperparameters(), 256).max_seq_len == 256

    given = pb.LoraHyperparameters(dropout=0.0, seed=0, rank=4, learning_rate_multiplier=2.5, eval_split=0.0)
    hp = check_hyperparameters(given, 8192)
    assert hp.HasField("dropout") and hp.dropout == 0.0
    assert hp.HasField("seed") and hp.seed == 0
    assert hp.HasField("eval_split") and hp.eval_split == 0.0
    assert (hp.rank, hp.alpha) == (4, 8.0)
    assert given.rank == 4 and not given.target_modules  # the request is not changed


SMOLLM2_PARAMS = 134_479_872


@pytest.mark.parametrize(
    ("examples", "epochs", "batch"),
    [
        (1, 25, 4),
        (4, 25, 4),
        (12, 9, 4),
        (18, 6, 4),
        (34, 3, 4),
        (200, 3, 8),
        (500, 3, 16),
        (9000, 2, 16),
        (30_000, 1, 16),
    ],
)
def test_auto_epochs_and_batch_follow_the_set_size(examples: int, epochs: int, batch: int) -> None:
    hp = check_hyperparameters(pb.LoraHyperparameters(), 8192)
    chosen = choose_auto(hp, examples, SMOLLM2_PARAMS, pb.TRAINING_METHOD_SUPERVISED).hyperparameters
    assert chosen.epochs == epochs
    assert chosen.batch_size == batch
    assert list(chosen.auto) == ["epochs", "batch_size", "learning_rate", "warmup_steps"]
    steps = planned_steps(examples, chosen.batch_size, 1, chosen.epochs, 0)
    assert chosen.warmup_steps == max(1, round(0.06 * steps))


def test_auto_learning_rate_scales_with_the_model_and_the_multiplier() -> None:
    hp = check_hyperparameters(pb.LoraHyperparameters(), 8192)
    sft = pb.TRAINING_METHOD_SUPERVISED
    small = choose_auto(hp, 12, SMOLLM2_PARAMS, sft).hyperparameters.learning_rate
    assert small == pytest.approx(DEFAULT_LR * math.sqrt(7e9 / SMOLLM2_PARAMS))
    assert choose_auto(hp, 12, 7_000_000_000, sft).hyperparameters.learning_rate == pytest.approx(DEFAULT_LR)
    assert choose_auto(hp, 12, 70_000_000_000, sft).hyperparameters.learning_rate == pytest.approx(1e-4)
    assert choose_auto(hp, 12, 1_000_000, sft).hyperparameters.learning_rate == pytest.approx(2e-3)
    dpo = choose_auto(hp, 12, SMOLLM2_PARAMS, pb.TRAINING_METHOD_DPO).hyperparameters.learning_rate
    assert dpo == pytest.approx(small / 4)
    doubled = check_hyperparameters(pb.LoraHyperparameters(learning_rate_multiplier=2.0), 8192)
    chosen = choose_auto(doubled, 12, SMOLLM2_PARAMS, sft).hyperparameters
    assert chosen.learning_rate == pytest.approx(2 * small)
    assert chosen.learning_rate_multiplier == pytest.approx(2.0)


def test_given_values_are_kept_and_not_marked_auto() -> None:
    given = pb.LoraHyperparameters(epochs=2, batch_size=3, learning_rate=1e-4, warmup_steps=5)
    choice = choose_auto(
        check_hyperparameters(given, 8192), 12, SMOLLM2_PARAMS, pb.TRAINING_METHOD_SUPERVISED
    )
    hp = choice.hyperparameters
    assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.warmup_steps) == (2, 3, 1e-4, 5)
    assert not hp.auto and not choice.reasons
    assert hp.learning_rate_multiplier == pytest.approx(1e-4 / (DEFAULT_LR * math.sqrt(7e9 / SMOLLM2_PARAMS)))


def test_model_parameters_counts_smollm2_from_its_config(smollm2_dir: Path, smollm2: tuple[Any, Any]) -> None:
    # against the real model's parameter count, norms aside (they are a few thousand)
    real = sum(p.numel() for p in smollm2[0].parameters())
    assert model_parameters(smollm2_dir) == SMOLLM2_PARAMS
    assert 0 < real - SMOLLM2_PARAMS < 100_000


def test_all_linear_stands_alone() -> None:
    with pytest.raises(InvalidArgument, match="stands alone") as err:
        check_hyperparameters(pb.LoraHyperparameters(target_modules=["all-linear", "q_proj"]), 2048)
    assert err.value.field == "hyperparameters.target_modules"


def test_bounds_are_inclusive() -> None:
    top = pb.LoraHyperparameters(
        rank=256,
        alpha=4096,
        learning_rate=1.0,
        epochs=100,
        max_steps=1_000_000,
        batch_size=256,
        gradient_accumulation_steps=1024,
        max_seq_len=32768,
        warmup_steps=100_000,
        save_steps=1_000_000,
        eval_steps=1_000_000,
        early_stopping_patience=100,
        eval_split=0.5,
    )
    assert check_hyperparameters(top, 32768).max_seq_len == 32768
    low = pb.LoraHyperparameters(rank=1, learning_rate_multiplier=1e-3, max_seq_len=16, alpha=1e-3)
    hp = check_hyperparameters(low, 32768)
    assert hp.learning_rate_multiplier == pytest.approx(1e-3)


def test_names() -> None:
    assert fine_tuned_name("smollm2", "acme", "v1", "ftjob_1") == "ft:smollm2:acme:v1:ftjob_1"
    assert fine_tuned_name("smollm2", "acme", "", "ftjob_1") == "ft:smollm2:acme::ftjob_1"
    assert output_model_name("Acme Corp", "SmolLM2/135M-Instruct") == "acme-corp-ft-smollm2-135m-instruct"
    assert output_model_name("--t", "m..") == "t-ft-m"
    long = output_model_name("t" * 200, "m")
    assert len(long) == 128 and set(long) == {"t"}
