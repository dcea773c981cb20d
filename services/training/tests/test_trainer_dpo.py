"""DPO in the training loop, on SmolLM2's real tokenizer and a tiny random Llama: answer-only
labels and truncation of pairs, the loss at the start (log 2, gradients only into LoRA), that
training raises preferred answers above rejected ones on HELD-OUT pairs, exact resume, and
starting from a fine-tuned model's adapter (merged in, then stacked with the new one)."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from keel_training.adapters import stack_adapters
from keel_training.lora import load_for_training
from keel_training.trainer import IGNORE, Hooks, TrainConfig, collate, train
from keel_training.trainer_dpo import (
    Dpo,
    EncodedPair,
    encode_answer,
    encode_pair,
    pair_logps,
    sequence_logps,
)
from keel_training.validation import PreferencePair

CPU = torch.device("cpu")
END = "<|im_end|>\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def pair(user: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair([{"role": "user", "content": user}], chosen, rejected)


def fresh(
    model_dir: Path, cfg: TrainConfig, init_seed: int = 0, start: Path | None = None
) -> tuple[Any, Any]:
    torch.manual_seed(init_seed)
    return load_for_training(model_dir, cfg, CPU, start)


# --- encoding ------------------------------------------------------------------------------------
def test_a_pair_labels_only_its_answer_and_shares_the_prompt(tok: Any) -> None:
    p = pair("Is the sky blue?", "Yes, on a clear day.", "No.")
    enc = encode_pair(tok, p, 1024)
    for e, answer in ((enc.chosen, p.chosen), (enc.rejected, p.rejected)):
        assert tok.decode([t for t in e.labels if t != IGNORE]) == answer + END
        marked = [i for i, lab in enumerate(e.labels) if lab != IGNORE]
        assert marked == list(range(marked[0], len(e.labels)))  # one run, at the end
        whole = tok.apply_chat_template([*p.prompt, {"role": "assistant", "content": answer}], tokenize=False)
        assert e.input_ids == tok(whole, add_special_tokens=False)["input_ids"]
    prompt_len = enc.chosen.labels.count(IGNORE)
    assert enc.chosen.input_ids[:prompt_len] == enc.rejected.input_ids[:prompt_len]
    assert not enc.truncated


def test_truncation_keeps_the_prompts_end_and_the_answers_start(tok: Any) -> None:
    prompt = [{"role": "user", "content": "word " * 200 + "THE QUESTION?"}]
    answer = "alpha beta gamma delta " * 30
    whole = encode_answer(tok, prompt, answer, 4096)
    n_answer = sum(1 for t in whole.labels if t != IGNORE)
    cut = encode_answer(tok, prompt, answer, 64)
    assert cut.truncated and len(cut.input_ids) == 64
    labels = [t for t in cut.labels if t != IGNORE]
    # The prompt keeps half the budget (its end: the question and the assistant header) ...
    assert len(labels) == 32 < n_answer
    assert tok.decode(cut.input_ids[:32]).endswith("THE QUESTION?<|im_end|>\n<|im_start|>assistant\n")
    # ... and the answer its first tokens.
    assert labels == [t for t in whole.labels if t != IGNORE][:32]
    # A short prompt is kept whole and the answer gets the rest of the budget.
    hi = [{"role": "user", "content": "Hi"}]
    short, full = encode_answer(tok, hi, answer, 64), encode_answer(tok, hi, answer, 4096)
    assert short.truncated and len(short.input_ids) == 64
    assert short.labels.count(IGNORE) == full.labels.count(IGNORE) < 32
    assert short.input_ids == full.input_ids[:64]


# --- the loss ------------------------------------------------------------------------------------
def test_the_loss_starts_at_log_2_and_only_lora_weights_get_gradients(tiny_dir: Path, tok: Any) -> None:
    cfg = TrainConfig(dropout=0.0)
    model, tk = fresh(tiny_dir, cfg)
    pairs = [
        encode_pair(tk, pair(f"Question {i}?", f"A good answer {i}.", f"Bad {i}"), 256) for i in range(4)
    ]
    loss, stats = Dpo(beta=0.1).loss(model, pairs, int(tk.pad_token_id), CPU)
    # LoRA's B starts at zero: the policy is the reference, every margin 0, each pair log 2.
    assert loss.item() / len(pairs) == pytest.approx(math.log(2), abs=1e-6)
    assert stats["reward_margin"].item() == 0.0 and stats["preference_accuracy"].item() == 0.0
    loss.backward()  # type: ignore[no-untyped-call]
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all("lora_" in n for n in with_grad)
    assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    assert all(not p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)


def test_the_reference_is_the_model_with_its_adapter_off(tiny_dir: Path, tok: Any) -> None:
    cfg = TrainConfig(dropout=0.0)
    model, tk = fresh(tiny_dir, cfg)
    pairs = [encode_pair(tk, pair("Say hi", "Hi there!", "Go away."), 256)]
    pad = int(tk.pad_token_id)
    before = pair_logps(model, pairs, pad, CPU).detach()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.add_(0.5)
    after = pair_logps(model, pairs, pad, CPU).detach()
    with torch.no_grad(), model.disable_adapter():
        reference = pair_logps(model, pairs, pad, CPU)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(reference, before)
    # One forward over [chosen; rejected] equals the rows scored one at a time.
    alone = sequence_logps(model, collate([pairs[0].rejected], pad, CPU)).detach()
    torch.testing.assert_close(after[1], alone, rtol=1e-5, atol=1e-5)


# --- learning a preference, shown on held-out pairs ---------------------------------------------
GOOD = ["kind", "clear", "honest", "helpful", "polite", "careful", "precise", "gentle"]
BAD = ["rude", "vague", "wrong", "lazy", "harsh", "sloppy", "smug", "curt"]
THINGS = ["river", "garden", "engine", "letter", "bridge", "forest", "market", "window", "planet", "castle"]


def synthetic_pairs(tok: Any, n: int, things: list[str], seed: int) -> list[EncodedPair]:
    """Same sentence, one word apart: the preferred answer uses a word from GOOD, the other a
    word from BAD. Nothing but that word tells them apart, and the held-out pairs talk about
    other things, with other prompts."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        thing = rng.choice(things)
        good, bad = rng.choice(GOOD), rng.choice(BAD)
        template = rng.choice(
            ["The {t} answer is {w}.", "My {t} reply: {w} and short.", "A {w} note on the {t}."]
        )
        out.append(
            encode_pair(
                tok,
                pair(
                    f"Tell me about the {thing} ({i}).",
                    template.format(t=thing, w=good),
                    template.format(t=thing, w=bad),
                ),
                128,
            )
        )
    return out


def ranked_right(model: Any, data: list[EncodedPair], pad: int) -> float:
    """Held-out pairs whose preferred answer the model finds more likely than the rejected one."""
    model.eval()
    with torch.no_grad():
        logps = pair_logps(model, data, pad, CPU)
    model.train()
    return float((logps[0] > logps[1]).float().mean())


def test_dpo_raises_preferred_answers_above_rejected_ones_on_held_out_pairs(
    learnable_dir: Path, tok: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train_pairs = synthetic_pairs(tok, 48, THINGS[:6], seed=1)
    held_out = synthetic_pairs(tok, 32, THINGS[6:], seed=2)
    cfg = TrainConfig(dropout=0.0, learning_rate=2e-2, batch_size=8, epochs=3, seed=3)
    model, tk = fresh(learnable_dir, cfg)
    pad = int(tk.pad_token_id)
    objective = Dpo(beta=0.5)
    started = time.perf_counter()
    before = objective.evaluate(model, held_out, cfg, pad, CPU)
    right_before = ranked_right(model, held_out, pad)
    evals: list[dict[str, Any]] = []
    result = train(
        model,
        tk,
        train_pairs,
        held_out,
        cfg,
        tmp_path,
        CPU,
        hooks=Hooks(on_eval=evals.append),
        objective=objective,
    )
    after = objective.evaluate(model, held_out, cfg, pad, CPU)
    right_after = ranked_right(model, held_out, pad)
    took = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\nheld-out DPO: log-prob ranking {right_before:.3f} -> {right_after:.3f}; "
            f"preference accuracy {before['eval_preference_accuracy']:.3f} -> "
            f"{after['eval_preference_accuracy']:.3f}; margin {before['eval_reward_margin']:.3f} -> "
            f"{after['eval_reward_margin']:.3f}; loss {before['eval_loss']:.3f} -> {after['eval_loss']:.3f}; "
            f"{result.step} steps in {took:.1f} s"
        )
    # Before: the policy is the reference (no margin at all), and the base model ranks the
    # held-out answers about as a coin would.
    assert before["eval_reward_margin"] == 0.0 and before["eval_loss"] == pytest.approx(math.log(2))
    assert 0.25 <= right_before <= 0.75
    # After: the preferred answer is the likelier one on nearly every unseen pair.
    assert right_after >= 0.9
    assert after["eval_preference_accuracy"] >= 0.9
    assert after["eval_reward_margin"] > 0.5
    assert after["eval_chosen_reward"] > after["eval_rejected_reward"]
    assert after["eval_loss"] < math.log(2) - 0.2
    # The per-epoch evaluations went into the loop's metrics, as eval_loss does for SFT.
    assert [e["step"] for e in evals] == [6, 12, 18]
    assert set(result.metrics) >= {
        "eval_loss",
        "eval_preference_accuracy",
        "eval_reward_margin",
        "eval_chosen_reward",
        "eval_rejected_reward",
    }
    assert result.metrics["eval_preference_accuracy"] == pytest.approx(after["eval_preference_accuracy"])


# --- resume and cancel run the loop SFT uses; resume is exact for DPO too -----------------------
def test_dpo_resume_from_a_checkpoint_equals_an_uninterrupted_run(
    tiny_dir: Path, tok: Any, tmp_path: Path
) -> None:
    data = synthetic_pairs(tok, 8, THINGS, seed=5)
    held = synthetic_pairs(tok, 3, THINGS, seed=6)
    cfg = TrainConfig(
        dropout=0.1, learning_rate=5e-2, batch_size=2, gradient_accumulation_steps=2, epochs=3, save_steps=3
    )
    objective = Dpo(beta=0.2)
    saved: list[tuple[Path, dict[str, Any]]] = []
    model, tk = fresh(tiny_dir, cfg)
    straight = train(
        model, tk, data, held, cfg, tmp_path / "straight", CPU,
        hooks=Hooks(on_checkpoint=lambda d, m: saved.append((d, m))), objective=objective,
    )  # fmt: skip
    assert (straight.outcome, straight.step) == ("completed", 6)
    assert [d.name for d, _ in saved] == ["step-3"]
    assert set(saved[0][1]) >= {"loss", "eval_loss", "eval_preference_accuracy", "eval_reward_margin"}

    steps: list[dict[str, Any]] = []
    model, tk = fresh(tiny_dir, cfg)
    stopped = train(
        model, tk, data, held, cfg, tmp_path / "first", CPU,
        hooks=Hooks(on_step=steps.append, should_stop=lambda: len(steps) >= 3), objective=objective,
    )  # fmt: skip
    assert (stopped.outcome, stopped.step) == ("cancelled", 3)
    assert set(steps[0]) >= {"loss", "preference_accuracy", "reward_margin", "chosen_reward"}
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)

    model, tk = fresh(tiny_dir, cfg, init_seed=99)
    resumed = train(
        model, tk, data, held, cfg, tmp_path / "second", CPU, resume_from=saved[0][0], objective=objective
    )
    assert (resumed.outcome, resumed.step) == ("completed", 6)
    want = load_file(str(straight.adapter_dir / "adapter_model.safetensors"))
    got = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-7)
    assert resumed.metrics["eval_loss"] == pytest.approx(straight.metrics["eval_loss"], rel=1e-5)


# --- starting from a fine-tuned model ------------------------------------------------------------
def logits_of(model: Any, tok: Any, text: str) -> torch.Tensor:
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def test_dpo_on_a_fine_tuned_model_merges_its_adapter_and_registers_both_stacked(
    tiny_dir: Path, tok: Any, tmp_path: Path
) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    # "The SFT model": an adapter of another rank, on other modules, with random A and B.
    torch.manual_seed(7)
    sft_cfg = LoraConfig(
        r=4, lora_alpha=12, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False
    )
    sft = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir), sft_cfg)
    sft.save_pretrained(tmp_path / "sft")
    sft.eval()
    text = "<|im_start|>user\nTell me about the river.<|im_end|>\n<|im_start|>assistant\nThe river is kind."
    sft_logits = logits_of(sft, tok, text)
    base_logits = logits_of(AutoModelForCausalLM.from_pretrained(tiny_dir), tok, text)
    assert not torch.allclose(sft_logits, base_logits, atol=1e-3)

    cfg = TrainConfig(dropout=0.0, learning_rate=5e-2, batch_size=4, max_steps=3)
    model, tk = fresh(tiny_dir, cfg, start=tmp_path / "sft")
    model.eval()
    # With the new adapter off, the model is the fine-tuned one: the right DPO reference.
    with model.disable_adapter():
        torch.testing.assert_close(logits_of(model, tk, text), sft_logits, rtol=1e-4, atol=1e-4)
    model.train()
    data = synthetic_pairs(tk, 8, THINGS, seed=8)
    steps: list[dict[str, Any]] = []
    result = train(
        model, tk, data, [], cfg, tmp_path / "out", CPU, hooks=Hooks(on_step=steps.append), objective=Dpo()
    )
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert result.outcome == "completed"
    model.eval()
    trained = logits_of(model, tk, text)
    assert not torch.allclose(trained, sft_logits, atol=1e-4)

    # One adapter holding both, applied to the plain base model, is the trained model.
    stacked = stack_adapters(tmp_path / "sft", result.adapter_dir, tmp_path / "stacked")
    config = json.loads((stacked / "adapter_config.json").read_text())
    assert config["r"] == 4 + 8 and config["lora_alpha"] == 12
    linear = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert config["target_modules"] == linear  # the SFT adapter's and the default all-linear
    assert (stacked / "tokenizer.json").is_file()
    served = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), str(stacked))
    served.eval()
    torch.testing.assert_close(logits_of(served, tok, text), trained, rtol=1e-4, atol=1e-4)
