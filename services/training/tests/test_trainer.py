"""The LoRA SFT loop on SmolLM2's real tokenizer and a tiny random Llama: assistant-only labels,
length-grouped batches, cancel, checkpoints, exact resume and early stopping."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from keel_training.lora import load_for_training
from keel_training.trainer import (
    IGNORE,
    Encoded,
    Hooks,
    TrainConfig,
    encode_example,
    make_batches,
    train,
)

CPU = torch.device("cpu")
END = "<|im_end|>\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def labelled_text(tok: Any, enc: Encoded) -> str:
    return str(tok.decode([t for t in enc.labels if t != IGNORE]))


def chat(user: str, answer: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def adapter_weights(adapter_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def fresh(model_dir: Path, cfg: TrainConfig, init_seed: int = 0) -> tuple[Any, Any]:
    """A new peft model; ``init_seed`` fixes the random LoRA A matrices."""
    torch.manual_seed(init_seed)
    return load_for_training(model_dir, cfg, CPU)


# --- encode_example ------------------------------------------------------------------------------
def test_labels_cover_the_answer_and_its_end_of_turn_only(tok: Any) -> None:
    messages = chat("What is two plus two?", "Two plus two is four.")
    enc = encode_example(tok, messages, 1024)
    text = tok.apply_chat_template(messages, tokenize=False)
    assert enc.input_ids == tok(text, add_special_tokens=False)["input_ids"]
    assert len(enc.labels) == len(enc.input_ids)
    assert all(lab in (IGNORE, tid) for lab, tid in zip(enc.labels, enc.input_ids, strict=True))
    assert labelled_text(tok, enc) == "Two plus two is four." + END
    # One contiguous labelled span, at the very end of the conversation.
    marked = [i for i, lab in enumerate(enc.labels) if lab != IGNORE]
    assert marked == list(range(marked[0], len(enc.labels)))
    assert enc.target_tokens == len(marked)
    assert not enc.truncated
    # The user's words are in the input but never a target.
    prompt = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab == IGNORE])
    assert "What is two plus two?" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_multi_turn_labels_every_assistant_turn_and_no_user_or_system(tok: Any) -> None:
    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris"},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome"},
    ]
    enc = encode_example(tok, messages, 1024)
    assert labelled_text(tok, enc) == "Paris" + END + "Rome" + END
    # Exactly two labelled runs, one per assistant turn.
    runs = sum(
        1 for i, lab in enumerate(enc.labels) if lab != IGNORE and (i == 0 or enc.labels[i - 1] == IGNORE)
    )
    assert runs == 2
    unlabelled = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab == IGNORE])
    for words in ("You answer in one word.", "Capital of France?", "And of Italy?"):
        assert words in unlabelled


def test_weight_zero_assistant_turns_are_context_not_targets(tok: Any) -> None:
    messages = [
        {"role": "user", "content": "Draft a greeting"},
        {"role": "assistant", "content": "Yo", "weight": 0},
        {"role": "user", "content": "More polite"},
        {"role": "assistant", "content": "Good morning", "weight": 1},
    ]
    enc = encode_example(tok, messages, 1024)
    assert labelled_text(tok, enc) == "Good morning" + END
    assert "Yo" in tok.decode(enc.input_ids)


def test_truncation_cuts_ids_and_labels_and_says_so(tok: Any) -> None:
    messages = chat("Tell me a story", "Once upon a time there was a tiny model.")
    whole = encode_example(tok, messages, 1024)
    n = len(whole.input_ids)
    cut = encode_example(tok, messages, n - 5)
    assert cut.truncated
    assert cut.input_ids == whole.input_ids[: n - 5]
    assert cut.labels == whole.labels[: n - 5]
    exact = encode_example(tok, messages, n)
    assert not exact.truncated
    assert exact.input_ids == whole.input_ids


def test_assistant_first_conversation_labels_only_the_answer(tok: Any) -> None:
    messages = [
        {"role": "assistant", "content": "How can I help?"},
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "Hi"},
    ]
    enc = encode_example(tok, messages, 1024)
    assert labelled_text(tok, enc) == "How can I help?" + END + "Hi" + END


# --- make_batches --------------------------------------------------------------------------------
def spread(n: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(8, 600) for _ in range(n)]


def padded(lengths: list[int], batches: list[list[int]]) -> int:
    """Tokens a padded batch holds: its width (longest row) times its rows."""
    return sum(max(lengths[i] for i in b) * len(b) for b in batches)


@pytest.mark.parametrize("group", [True, False])
@pytest.mark.parametrize(("n", "bs"), [(1, 4), (10, 3), (1200, 8), (64, 1)])
def test_batches_cover_every_index_once_and_repeat_per_seed_and_epoch(n: int, bs: int, group: bool) -> None:
    lengths = spread(n)
    batches = make_batches(lengths, bs, seed=3, epoch=1, group_by_length=group)
    assert sorted(i for b in batches for i in b) == list(range(n))
    assert all(1 <= len(b) <= bs for b in batches)
    # Only the last batch of each window (64 batches) may be short.
    windows = -(-n // (bs * 64)) if group else 1
    assert sum(1 for b in batches if len(b) < bs) <= windows
    assert make_batches(lengths, bs, seed=3, epoch=1, group_by_length=group) == batches


def test_epochs_and_seeds_change_the_order() -> None:
    lengths = spread(200)
    orders = {
        (seed, epoch): make_batches(lengths, 4, seed=seed, epoch=epoch, group_by_length=True)
        for seed in (0, 1)
        for epoch in (0, 1, 2)
    }
    firsts = [tuple(map(tuple, b)) for b in orders.values()]
    assert len(set(firsts)) == len(firsts)


def test_grouping_by_length_removes_padding() -> None:
    lengths = spread(512)
    grouped = make_batches(lengths, 8, seed=0, epoch=0, group_by_length=True)
    plain = make_batches(lengths, 8, seed=0, epoch=0, group_by_length=False)
    real = sum(lengths)
    assert padded(lengths, grouped) < padded(lengths, plain)
    # Sorted within one window of 64 batches: the padding nearly vanishes.
    assert padded(lengths, grouped) - real < 0.1 * (padded(lengths, plain) - real)
    # And the batches of one window do not come out in length order.
    widths = [max(lengths[i] for i in b) for b in grouped]
    assert widths != sorted(widths, reverse=True)


# --- train ---------------------------------------------------------------------------------------
def varied_data(tok: Any, n: int = 8) -> list[Encoded]:
    return [
        encode_example(tok, chat(f"Question {i}?", "Answer " + "and more " * (i % 4) + f"number {i}."), 256)
        for i in range(n)
    ]


def test_loss_falls_on_a_repeated_example(learnable_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(dropout=0.0, learning_rate=3e-2, max_steps=10, batch_size=4)
    model, tk = fresh(learnable_dir, cfg)
    data = [encode_example(tk, chat("Say hi", "Hi there, friend!"), 256)] * 4
    steps: list[dict[str, Any]] = []
    result = train(model, tk, data, [], cfg, tmp_path, CPU, hooks=Hooks(on_step=steps.append))
    losses = [s["loss"] for s in steps]
    assert [s["step"] for s in steps] == list(range(1, 11))
    assert losses[-1] < losses[0] - 2.0, losses
    assert result.outcome == "completed"
    assert result.step == 10
    assert result.metrics["train_loss"] == pytest.approx(losses[-1])
    assert result.metrics["steps"] == 10
    assert result.metrics["trained_tokens"] == 10 * 4 * len(data[0].input_ids)
    assert result.adapter_dir == tmp_path / "final" / "adapter"
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert (result.adapter_dir / "tokenizer.json").is_file()
    # The learning rate decays linearly to zero over max_steps (no warm-up).
    assert steps[0]["learning_rate"] == pytest.approx(3e-2 * 9 / 10)
    assert steps[-1]["learning_rate"] == 0.0


def test_gradient_accumulation_equals_the_larger_batch(tiny_dir: Path, tok: Any, tmp_path: Path) -> None:
    """The loss is averaged over every target token of the step, not per micro-batch."""
    data = varied_data(tok, 4)
    outs = []
    for bs, acc in ((4, 1), (2, 2), (1, 4)):
        cfg = TrainConfig(
            dropout=0.0, learning_rate=1e-2, max_steps=1, batch_size=bs, gradient_accumulation_steps=acc
        )
        model, tk = fresh(tiny_dir, cfg)
        outs.append(adapter_weights(train(model, tk, data, [], cfg, tmp_path / f"{bs}", CPU).adapter_dir))
    base = outs[0]
    assert any(not torch.equal(v, torch.zeros_like(v)) for k, v in base.items() if "lora_B" in k)
    for other in outs[1:]:
        for k, v in base.items():
            torch.testing.assert_close(other[k], v, rtol=1e-4, atol=1e-6)


class StopAfter:
    """``should_stop`` that answers True once ``steps`` steps have run."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def test_should_stop_cancels_at_the_next_step_boundary(tiny_dir: Path, tok: Any, tmp_path: Path) -> None:
    cfg = TrainConfig(dropout=0.0, batch_size=2, epochs=3)
    model, tk = fresh(tiny_dir, cfg)
    steps: list[int] = []
    result = train(
        model,
        tk,
        varied_data(tok),
        [],
        cfg,
        tmp_path,
        CPU,
        hooks=Hooks(on_step=lambda m: steps.append(m["step"]), should_stop=StopAfter(3)),
    )
    assert result.outcome == "cancelled"
    assert result.step == 3
    assert steps == [1, 2, 3]
    assert result.metrics["steps"] == 3
    # A cancelled run's adapter is no result: nothing is written for it.
    assert not (result.adapter_dir / "adapter_model.safetensors").exists()


def test_should_pause_checkpoints_where_it_stops(tiny_dir: Path, tok: Any, tmp_path: Path) -> None:
    cfg = TrainConfig(dropout=0.0, batch_size=2, epochs=3, save_steps=2)
    model, tk = fresh(tiny_dir, cfg)
    saved: list[str] = []
    result = train(
        model,
        tk,
        varied_data(tok),
        [],
        cfg,
        tmp_path,
        CPU,
        hooks=Hooks(on_checkpoint=lambda d, m: saved.append(d.name), should_pause=StopAfter(3)),
    )
    assert (result.outcome, result.step) == ("paused", 3)
    # The regular checkpoint at 2, then one where it paused (so a resume loses nothing).
    assert saved == ["step-2", "step-3"]
    assert (tmp_path / "step-3" / "trainer_state.json").is_file()


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(
    tiny_dir: Path, tok: Any, tmp_path: Path, dropout: float
) -> None:
    data = varied_data(tok, 8)
    held = varied_data(tok, 3)
    # 8 examples / batch 2 / accumulate 2 = 2 steps per epoch, 3 epochs = 6 steps;
    # the checkpoint at step 3 lies inside epoch 1, during warm-up's aftermath.
    cfg = TrainConfig(
        dropout=dropout,
        learning_rate=5e-2,
        batch_size=2,
        gradient_accumulation_steps=2,
        epochs=3,
        warmup_steps=2,
        save_steps=3,
        seed=11,
    )

    saved: list[tuple[Path, dict[str, Any]]] = []
    model, tk = fresh(tiny_dir, cfg)
    straight = train(
        model, tk, data, held, cfg, tmp_path / "straight", CPU,
        hooks=Hooks(on_checkpoint=lambda d, m: saved.append((d, m))),
    )  # fmt: skip
    assert straight.outcome == "completed"
    assert straight.step == 6
    # Checkpoints at every save_steps, but not at the last step (the final adapter covers it).
    assert [d.name for d, _ in saved] == ["step-3"]
    where, ckpt_metrics = saved[0]
    assert where == tmp_path / "straight" / "step-3"
    assert (where / "adapter" / "adapter_model.safetensors").is_file()
    assert (where / "optim.pt").is_file()
    state = json.loads((where / "trainer_state.json").read_text())
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (3, 1, 2)
    assert set(ckpt_metrics) >= {"loss", "eval_loss", "eval_perplexity", "eval_token_accuracy"}

    first: list[Path] = []
    model, tk = fresh(tiny_dir, cfg)
    stopped = train(
        model, tk, data, held, cfg, tmp_path / "first", CPU,
        hooks=Hooks(on_checkpoint=lambda d, m: first.append(d), should_stop=StopAfter(3)),
    )  # fmt: skip
    assert (stopped.outcome, stopped.step) == ("cancelled", 3)
    assert [d.name for d in first] == ["step-3"]

    # A fresh model whose LoRA starts elsewhere: the checkpoint must overwrite all of it.
    model, tk = fresh(tiny_dir, cfg, init_seed=99)
    resumed = train(model, tk, data, held, cfg, tmp_path / "second", CPU, resume_from=first[0])
    assert (resumed.outcome, resumed.step) == ("completed", 6)

    want = adapter_weights(straight.adapter_dir)
    got = adapter_weights(resumed.adapter_dir)
    at_ckpt = adapter_weights(first[0] / "adapter")
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-7)
    assert any(not torch.allclose(at_ckpt[k], want[k]) for k in want), "the resumed run trained nothing"
    assert resumed.metrics["train_loss"] == pytest.approx(straight.metrics["train_loss"], rel=1e-5)
    assert resumed.metrics["trained_tokens"] == straight.metrics["trained_tokens"]
    assert resumed.metrics["eval_loss"] == pytest.approx(straight.metrics["eval_loss"], rel=1e-5)


@pytest.mark.parametrize(("patience", "stop_step"), [(1, 2), (2, 3)])
def test_early_stopping_after_patience_evaluations_without_improvement(
    tiny_dir: Path, tok: Any, tmp_path: Path, patience: int, stop_step: int
) -> None:
    # learning_rate 0: the weights never change, so no evaluation after the first improves.
    cfg = TrainConfig(
        dropout=0.0, learning_rate=0.0, batch_size=2, epochs=5, eval_steps=1, early_stopping_patience=patience
    )
    model, tk = fresh(tiny_dir, cfg)
    evals: list[dict[str, Any]] = []
    result = train(
        model,
        tk,
        varied_data(tok),
        varied_data(tok, 4),
        cfg,
        tmp_path,
        CPU,
        hooks=Hooks(on_eval=evals.append),
    )
    assert result.outcome == "early_stopping"
    assert result.step == stop_step
    assert [e["step"] for e in evals] == list(range(1, stop_step + 1))
    for e in evals:
        assert set(e) >= {
            "eval_loss",
            "eval_perplexity",
            "eval_token_accuracy",
            "step",
            "total_steps",
            "epoch",
        }
        assert e["eval_perplexity"] == pytest.approx(torch.tensor(e["eval_loss"]).exp().item(), rel=1e-5)
        assert 0.0 <= e["eval_token_accuracy"] <= 1.0
        assert e["eval_loss"] == evals[0]["eval_loss"]
    assert result.metrics["eval_loss"] == evals[-1]["eval_loss"]


def test_improving_evaluations_do_not_stop_early_and_run_once_per_epoch(
    learnable_dir: Path, tok: Any, tmp_path: Path
) -> None:
    data = [encode_example(tok, chat("Say hi", "Hi there, friend!"), 256)] * 4
    cfg = TrainConfig(dropout=0.0, learning_rate=3e-2, batch_size=2, epochs=3, early_stopping_patience=1)
    model, tk = fresh(learnable_dir, cfg)
    evals: list[dict[str, Any]] = []
    result = train(model, tk, data, data[:2], cfg, tmp_path, CPU, hooks=Hooks(on_eval=evals.append))
    assert result.outcome == "completed"
    assert result.step == 6
    # eval_steps 0: one evaluation at the end of each epoch, each better than the last.
    assert [(e["step"], e["epoch"]) for e in evals] == [(2, 1), (4, 2), (6, 3)]
    losses = [e["eval_loss"] for e in evals]
    assert losses == sorted(losses, reverse=True) and losses[0] > losses[-1]


def test_same_seed_gives_the_same_adapter(tiny_dir: Path, tok: Any, tmp_path: Path) -> None:
    cfg = TrainConfig(dropout=0.0, max_steps=1, batch_size=4, seed=5)
    data = varied_data(tok, 4)
    outs = []
    for run in range(2):
        model, tk = load_for_training(tiny_dir, cfg, CPU)
        outs.append(adapter_weights(train(model, tk, data, [], cfg, tmp_path / str(run), CPU).adapter_dir))
    for k in outs[0]:
        torch.testing.assert_close(outs[1][k], outs[0][k])
