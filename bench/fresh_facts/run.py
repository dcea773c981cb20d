"""Do the default hyperparameters learn? (``make bench-facts``)

Each run invents three facts no model knows (random names and answers, a dozen paraphrased
questions each: ``keel_training.facts``), fine-tunes SmolLM2-135M-Instruct on the 36 examples
twice in the same process — with Keel's "auto" hyperparameters (chosen exactly as a job with
``hyperparameters`` omitted gets them) and with the fixed defaults Keel had before (3 epochs,
batch 8, learning rate 2e-4, LoRA on q/k/v/o) — and asks each model, and the base model, the
two held-out phrasings of every fact (greedy). A fact counts as learned when the answer names
it on at least one of the two.

Seeds are random unless ``--seed`` is given; they are printed, so a miss can be replayed.
Prints a line per run and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from keel.training.v1 import training_pb2 as pb
from keel_common.loader import resolve_source
from keel_training.core.hyperparameters import check_hyperparameters, choose_auto, model_parameters
from keel_training.facts import Fact, invent_fact
from keel_training.generation_eval import generate
from keel_training.lora import load_for_training
from keel_training.trainer import TrainConfig, encode_example, train
from keel_training.worker.job_run import train_config

CPU = torch.device("cpu")
OLD_DEFAULTS = TrainConfig(
    learning_rate=2e-4, epochs=3, batch_size=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]
)


def fine_tune(model_dir: Path, cfg: TrainConfig, facts: list[Fact]) -> tuple[Any, Any, float]:
    model, tok = load_for_training(model_dir, cfg, CPU)
    data = [encode_example(tok, ex["messages"], cfg.max_seq_len) for f in facts for ex in f.train]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(model, tok, data, [], cfg, Path(out), CPU)
    return model, tok, time.perf_counter() - t0


def known(model: Any, tok: Any, facts: list[Fact], base: bool = False) -> list[bool]:
    questions = [[{"role": "user", "content": q}] for f in facts for q in f.held_out]
    if base:
        with model.disable_adapter():
            replies = generate(model, tok, questions, CPU, max_new_tokens=24)
    else:
        replies = generate(model, tok, questions, CPU, max_new_tokens=24)
    return [any(f.known_by(r) for r in replies[2 * i : 2 * i + 2]) for i, f in enumerate(facts)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of three facts each")
    ap.add_argument("--seed", type=int, default=None, help="first fact seed (default: random)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    model_dir = resolve_source("", Path(".cache/models")).path
    start = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    params = model_parameters(model_dir)
    totals = {"auto": 0, "old": 0, "base": 0}
    seconds = {"auto": 0.0, "old": 0.0}
    chosen: pb.LoraHyperparameters | None = None
    for run in range(args.runs):
        seeds = [start + 3 * run + i for i in range(3)]
        facts = [invent_fact(s) for s in seeds]
        hp = check_hyperparameters(pb.LoraHyperparameters(), 8192)
        chosen = choose_auto(
            hp, sum(len(f.train) for f in facts), params, pb.TRAINING_METHOD_SUPERVISED
        ).hyperparameters
        model, tok, auto_s = fine_tune(model_dir, train_config(chosen), facts)
        auto = known(model, tok, facts)
        base = known(model, tok, facts, base=True)
        del model
        model, tok, old_s = fine_tune(model_dir, OLD_DEFAULTS, facts)
        old = known(model, tok, facts)
        del model
        totals["auto"] += sum(auto)
        totals["old"] += sum(old)
        totals["base"] += sum(base)
        seconds["auto"] += auto_s
        seconds["old"] += old_s
        print(
            f"run {run + 1}: seeds {seeds}  auto {sum(auto)}/3 ({auto_s:.0f} s)  "
            f"old defaults {sum(old)}/3 ({old_s:.0f} s)  base {sum(base)}/3",
            flush=True,
        )
    n = 3 * args.runs
    assert chosen is not None
    print(
        f"\n{n} facts: auto hyperparameters learned {totals['auto']}/{n}, the old defaults "
        f"{totals['old']}/{n}, the base model knew {totals['base']}/{n}"
    )
    result = {
        "facts": n,
        "first_seed": start,
        "auto_learned_rate": totals["auto"] / n,
        "old_defaults_learned_rate": totals["old"] / n,
        "base_known_rate": totals["base"] / n,
        "auto_train_s_per_run": seconds["auto"] / args.runs,
        "old_train_s_per_run": seconds["old"] / args.runs,
        "auto_vs_old_time_ratio": seconds["auto"] / max(seconds["old"], 1e-9),
        "auto_hyperparameters": {
            "epochs": chosen.epochs,
            "batch_size": chosen.batch_size,
            "learning_rate": chosen.learning_rate,
            "warmup_steps": chosen.warmup_steps,
            "target_modules": list(chosen.target_modules),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
