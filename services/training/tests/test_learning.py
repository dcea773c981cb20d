"""Does training learn, and does Keel see it?

- With every hyperparameter left "auto", SmolLM2 learns freshly invented facts (random names no
  model has seen, a dozen paraphrased questions each): the fine-tuned model answers held-out
  phrasings, the base model does not. The values come from the same code a job uses
  (check_hyperparameters, choose_auto, train_config).
- Evaluation by generation scores those answers (exact match, F1, MiniLM similarity, closed
  book for questions asked with their passage).
- A run whose loss turns NaN or explodes stops with TrainingDiverged before the step is applied.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from keel.training.v1 import training_pb2 as pb
from keel_common.embeddings import SentenceEncoder
from keel_training.core.hyperparameters import check_hyperparameters, choose_auto, model_parameters
from keel_training.divergence import TrainingDiverged
from keel_training.facts import Fact, invent_fact
from keel_training.generation_eval import QaItem, evaluate_generation, generate, qa_items
from keel_training.lora import load_for_training
from keel_training.trainer import (
    Encoded,
    Sft,
    TrainConfig,
    encode_example,
    train,
)
from keel_training.validation import PreferencePair
from keel_training.worker.job_run import train_config

CPU = torch.device("cpu")
SEEDS = (101, 202, 303)  # fixed so a failure reproduces; bench/fresh_facts draws new ones


@pytest.fixture(scope="module")
def learned(
    smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any, list[Fact], pb.LoraHyperparameters]]:
    """SmolLM2 fine-tuned, hyperparameters omitted, on three fresh facts (36 examples)."""
    facts = [invent_fact(seed) for seed in SEEDS]
    examples = [ex["messages"] for f in facts for ex in f.train]
    hp = check_hyperparameters(pb.LoraHyperparameters(), 8192)
    hp = choose_auto(
        hp, len(examples), model_parameters(smollm2_dir), pb.TRAINING_METHOD_SUPERVISED
    ).hyperparameters
    cfg = train_config(hp)
    model, tok = load_for_training(smollm2_dir, cfg, CPU)
    data = [encode_example(tok, m, cfg.max_seq_len) for m in examples]
    result = train(model, tok, data, [], cfg, tmp_path_factory.mktemp("facts"), CPU)
    assert result.outcome == "completed"
    yield model, tok, facts, hp


@pytest.mark.slow
def test_auto_hyperparameters_learn_fresh_facts_the_base_model_does_not_know(learned: Any) -> None:
    model, tok, facts, hp = learned
    # the values a job with no hyperparameters gets for 36 examples on SmolLM2
    assert (hp.epochs, hp.batch_size, list(hp.target_modules)) == (3, 4, ["all-linear"])
    assert hp.learning_rate == pytest.approx(2e-4 * math.sqrt(7e9 / 134_479_872))
    questions = [[{"role": "user", "content": q}] for f in facts for q in f.held_out]
    tuned = generate(model, tok, questions, CPU, max_new_tokens=24)
    with model.disable_adapter():
        base = generate(model, tok, questions, CPU, max_new_tokens=24)
    per_fact = [(f, tuned[2 * i : 2 * i + 2], base[2 * i : 2 * i + 2]) for i, f in enumerate(facts)]
    for fact, t, b in per_fact:
        assert any(fact.known_by(r) for r in t), f"{fact.subject} -> {fact.answer} not learned: {t}"
        assert not any(fact.known_by(r) for r in b), f"the base model knew {fact.answer}?: {b}"


@pytest.mark.slow
def test_generation_eval_scores_the_learned_answers_and_the_closed_book(learned: Any) -> None:
    model, tok, facts, _ = learned
    encoder = SentenceEncoder()
    items = []
    for f in facts:
        reference = f.answer  # short: F1 counts only the fact's words
        question = f.held_out[0]
        passage = f"Keel's notes: {f.train[0]['messages'][1]['content']}"
        items.append(QaItem([{"role": "user", "content": question}], reference))
        # asked with an unrelated passage: closed book drops it again
        items.append(
            QaItem(
                [
                    {"role": "system", "content": f"Answer using this passage.\n\n{passage}"},
                    {"role": "user", "content": question},
                ],
                reference,
                [{"role": "user", "content": question}],
            )
        )
    tuned = evaluate_generation(model, tok, items, CPU, encoder.similarity, max_new_tokens=24)
    with model.disable_adapter():
        base = evaluate_generation(model, tok, items, CPU, encoder.similarity, max_new_tokens=24)
    m = tuned.metrics
    assert m["eval_generations"] == len(items) + len(facts)  # every item, plus the closed-book ones
    assert set(m) >= {
        "eval_f1",
        "eval_exact_match",
        "eval_similarity",
        "closed_book_f1",
        "closed_book_similarity",
    }
    assert m["eval_f1"] > base.metrics["eval_f1"] + 0.2
    assert m["closed_book_f1"] > base.metrics["closed_book_f1"] + 0.2
    assert m["eval_similarity"] > base.metrics["eval_similarity"]
    assert 0 <= m["eval_exact_match"] <= 1 and -1 <= m["eval_similarity"] <= 1
    q, ref, answer, closed = tuned.answers[1]
    assert (q, ref) == (facts[0].held_out[0], items[1].reference) and answer and closed
    assert tuned.answers[0][3] == ""  # no context, no closed-book answer


def test_qa_items_take_the_last_weighted_answer_and_drop_the_context_for_closed_book() -> None:
    chat = [
        {"role": "system", "content": "Answer using this passage.\n\nThe sky is green."},
        {"role": "user", "content": "What colour is the sky?"},
        {"role": "assistant", "content": "Green."},
    ]
    multi = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Name?"},
        {"role": "assistant", "content": "Keel.", "weight": 1},
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "ignored", "weight": 0},
    ]
    pair = PreferencePair([{"role": "user", "content": "Q?"}], "good", "bad")
    items = qa_items([chat, multi, pair, [{"role": "assistant", "content": "no question"}]])
    assert [it.reference for it in items] == ["Green.", "Keel.", "good"]
    assert items[0].closed_book == [chat[1]]
    assert items[1].prompt == [{"role": m["role"], "content": m["content"]} for m in multi[:3]]
    assert items[1].closed_book is None and items[2].closed_book is None
    assert len(qa_items([chat] * 10, limit=4)) == 4


class _PoisonedAt(Sft):
    """SFT whose loss turns NaN at step ``at`` (the way fp16 overflow shows up)."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def loss(
        self, model: Any, items: Any, pad_id: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.calls += torch.is_grad_enabled()  # training steps only, not the untrained reference
        loss, stats = super().loss(model, items, pad_id, device)
        return (loss * float("nan") if self.calls >= self.at else loss), stats


def _tiny_data(tok: Any) -> list[Encoded]:
    return [
        encode_example(
            tok, [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"answer {i}"}], 64
        )
        for i in range(8)
    ]


@pytest.mark.usefixtures("one_thread")
def test_a_nan_loss_stops_the_run_before_the_step_is_applied(learnable_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=3, batch_size=4, learning_rate=1e-3, target_modules=["all-linear"])
    model, tok = load_for_training(learnable_dir, cfg, CPU)
    steps: list[int] = []
    from keel_training.trainer import Hooks

    with pytest.raises(TrainingDiverged, match="diverged at step 3: the loss is nan") as err:
        train(
            model,
            tok,
            _tiny_data(tok),
            [],
            cfg,
            tmp_path,
            CPU,
            hooks=Hooks(on_step=lambda m: steps.append(m["step"])),
            objective=_PoisonedAt(3),
        )
    assert err.value.field == "hyperparameters.learning_rate"
    assert steps == [1, 2]  # the poisoned step was never reported as done
    assert all(torch.isfinite(p).all() for p in model.parameters())  # nor applied
    assert not (tmp_path / "final").exists()  # and nothing was saved to register


@pytest.mark.usefixtures("one_thread")
def test_an_exploding_loss_stops_the_run(smollm2_dir: Path, tmp_path: Path) -> None:
    # SmolLM2 at lr 0.5: losses 5.4, 11.5, then 53.6: their mean is above 3 x the untrained loss + 1
    cfg = TrainConfig(epochs=6, batch_size=4, learning_rate=0.5, target_modules=["all-linear"], rank=16)
    model, tok = load_for_training(smollm2_dir, cfg, CPU)
    with pytest.raises(
        TrainingDiverged, match=r"diverged at step \d+: the mean loss of the last \d steps"
    ) as err:
        train(model, tok, _tiny_data(tok), [], cfg, tmp_path, CPU)
    assert "times the untrained model's" in err.value.message
    assert "lower the learning rate (this step's was" in err.value.message
    assert not (tmp_path / "final").exists()
