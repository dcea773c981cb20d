"""Training benchmark (``make bench-training``).

Training throughput — real (non-padding) tokens per second — of Keel's LoRA SFT loop
(``keel_training.trainer.train`` with length-grouped batches) against the script a typical
user writes: ``AutoModelForCausalLM`` + ``peft.get_peft_model`` + ``transformers.Trainer`` with
``DataCollatorForSeq2Seq`` padding each random batch to its longest example.

Both systems train on the same token ids and labels (``encode_example`` output), the same
model (SmolLM2-135M-Instruct, float32 on CPU), the same LoRA config, learning rate, batch size
and one epoch, in the same process, on two synthetic chat sets:

  variable  assistant answers of 10..400 tokens (log-uniform: many short, a long tail)
  fixed     every example exactly the same token length (grouping cannot help; ratio ≈ 1)

Each system is warmed up with one untimed step; then each system runs each set ``--rounds``
times (who goes first alternates) and the median counts. Prints a table, the ratios
and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from keel_common.loader import resolve_source
from keel_training.lora import load_for_training
from keel_training.trainer import (
    IGNORE,
    Encoded,
    TrainConfig,
    encode_example,
    make_batches,
    train,
)

REPO = Path(__file__).resolve().parents[2]
_TEXT = (
    "the a of and to in is that it for on with as was at by this from be have or are not but "
    "model data train token system answer question time water light river city small large "
    "people world number place work year make find give long short early late night morning "
    "house garden road music paper stone glass metal cloud forest mountain ocean window table "
    "simple careful quick slow bright dark warm cold quiet loud first second third every other "
    "because although however therefore while during before after between under over around "
    "explain describe compare measure build follow change remember consider improve reduce"
)
WORDS = _TEXT.split()


# ---------------------------------------------------------------------------------- data


def words(rng: random.Random, n: int) -> str:
    out = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(out).capitalize() + "."


def answer_of(tok: Any, rng: random.Random, n_tokens: int) -> str:
    """Text of about ``n_tokens`` tokens (cut at a token boundary, so within ±1 once templated)."""
    text = words(rng, n_tokens + 8)
    ids = tok(text, add_special_tokens=False)["input_ids"][:n_tokens]
    return str(tok.decode(ids)).strip()


def variable_set(tok: Any, n: int, seed: int, lo: int, hi: int, dist: str, max_len: int) -> list[Encoded]:
    """User questions of 6..30 words; assistant answers of lo..hi tokens, log-uniform or uniform."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if dist == "uniform":
            k = rng.randint(lo, hi)
        else:
            k = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        msgs = [
            {"role": "user", "content": words(rng, rng.randint(6, 30))},
            {"role": "assistant", "content": answer_of(tok, rng, k)},
        ]
        out.append(encode_example(tok, msgs, max_len))
    return out


def fixed_set(tok: Any, n: int, seed: int, length: int) -> list[Encoded]:
    """Every example exactly ``length`` tokens: the answer is sized to fill what the template and
    a 12-word question leave; an overshoot of a token boundary is cut as ``max_seq_len`` would."""
    rng = random.Random(seed + 1)
    out = []
    for _ in range(n):
        user, answer_seed = words(rng, 12), rng.random()
        k = length - 40
        for attempt in range(8):
            msgs = [
                {"role": "user", "content": user},
                {"role": "assistant", "content": answer_of(tok, random.Random(answer_seed), k)},
            ]
            full = len(encode_example(tok, msgs, 1 << 30).input_ids)
            if full == length or (full > length and attempt >= 3):
                break
            # after a few misses aim one over: truncation then makes it exact
            k += length - full + (attempt >= 2)
        else:
            raise RuntimeError(f"could not build an example of {length} tokens")
        enc = encode_example(tok, msgs, length)
        out.append(enc)
    return out


def cpu_now() -> float:
    t = os.times()
    return t.user + t.system


def pad_fraction(lengths: list[int], batches: list[list[int]]) -> float:
    real = sum(lengths[i] for b in batches for i in b)
    slots = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - real / slots


# ------------------------------------------------------------------------------- systems


@dataclass
class Run:
    seconds: float
    tokens: int
    padding: float
    steps: int
    cpu_seconds: float

    @property
    def tps(self) -> float:
        return self.tokens / self.seconds


class Keel:
    """``load_for_training`` + ``train`` with ``group_by_length=True`` (the service's path)."""

    def __init__(self, model_dir: Path, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.device = torch.device("cpu")
        self.model, self.tok = load_for_training(model_dir, cfg, self.device)

    def run(self, data: list[Encoded], max_steps: int = 0) -> Run:
        cfg = TrainConfig(**{**self.cfg.__dict__, "max_steps": max_steps})
        lengths = [len(e.input_ids) for e in data]
        batches = make_batches(lengths, cfg.batch_size, cfg.seed, 0, cfg.group_by_length)
        if max_steps:
            batches = batches[:max_steps]
        with tempfile.TemporaryDirectory() as out:
            t0, c0 = time.perf_counter(), cpu_now()
            res = train(self.model, self.tok, data, [], cfg, Path(out), self.device)
            dt, cpu = time.perf_counter() - t0, cpu_now() - c0
        tokens = sum(lengths[i] for b in batches for i in b)
        return Run(dt, tokens, pad_fraction(lengths, batches), res.step, cpu)


class _Counting:
    """The collator, counting the real and padded token slots of every batch it builds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.real = 0
        self.slots = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(features)
        self.real += sum(len(f["input_ids"]) for f in features)
        self.slots += batch["input_ids"].numel()
        return batch  # type: ignore[no-any-return]


class Plain:
    """What a user writes from the transformers + peft docs: random batches, padded to the
    longest example of each batch by ``DataCollatorForSeq2Seq``."""

    def __init__(self, model_dir: Path, cfg: TrainConfig) -> None:
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        if self.tok.pad_token_id is None:
            self.tok.pad_token = self.tok.eos_token
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        lora = LoraConfig(
            r=cfg.rank,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=list(cfg.target_modules),
            task_type="CAUSAL_LM",
        )
        self.model = get_peft_model(base, lora)

    def run(self, data: list[Encoded], max_steps: int = 0) -> Run:
        from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

        rows = [
            {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}
            for e in data
        ]
        collator = _Counting(DataCollatorForSeq2Seq(self.tok, padding=True, label_pad_token_id=IGNORE))
        with tempfile.TemporaryDirectory() as out:
            args = TrainingArguments(
                output_dir=out,
                per_device_train_batch_size=self.cfg.batch_size,
                num_train_epochs=1,
                max_steps=max_steps or -1,
                learning_rate=self.cfg.learning_rate,
                report_to=[],
                save_strategy="no",
                logging_steps=10**6,
                use_cpu=True,
                dataloader_num_workers=0,
                # transformers 5 spells ``group_by_length=False`` this way
                train_sampling_strategy="random",
                seed=self.cfg.seed,
                disable_tqdm=True,
            )
            trainer = Trainer(
                model=self.model,
                args=args,
                train_dataset=rows,  # type: ignore[arg-type]
                data_collator=collator,
                processing_class=self.tok,
            )
            trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict
            t0, c0 = time.perf_counter(), cpu_now()
            res = trainer.train()
            dt, cpu = time.perf_counter() - t0, cpu_now() - c0
        padding = 1 - collator.real / max(collator.slots, 1)
        return Run(dt, collator.real, padding, res.global_step, cpu)


# ---------------------------------------------------------------------------------- main


def describe(name: str, data: list[Encoded]) -> str:
    n = [len(e.input_ids) for e in data]
    return (
        f"{name}: {len(n)} examples, {sum(n)} tokens; length min {min(n)} median "
        f"{statistics.median(n):.0f} mean {statistics.mean(n):.0f} max {max(n)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (about a minute)")
    ap.add_argument("--examples", type=int, default=48, help="variable-length examples")
    ap.add_argument("--fixed-examples", type=int, default=32)
    ap.add_argument("--fixed-len", type=int, default=128, help="token length of every fixed example")
    ap.add_argument("--min-answer", type=int, default=10, help="shortest assistant answer (tokens)")
    ap.add_argument("--max-answer", type=int, default=400, help="longest assistant answer (tokens)")
    ap.add_argument("--dist", choices=["loguniform", "uniform"], default="loguniform")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=2, help="timed runs per system and set (median)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up step")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="", help="model source (default: SmolLM2-135M-Instruct)")
    args = ap.parse_args()
    if args.quick:
        args.examples, args.fixed_examples, args.fixed_len = 8, 4, 48
        args.max_answer, args.batch_size = 120, 4

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    model_dir = resolve_source(args.model, REPO / ".cache" / "models").path
    cfg = TrainConfig(
        epochs=1,
        batch_size=args.batch_size,
        max_seq_len=args.max_seq_len,
        group_by_length=True,
        seed=args.seed,
    )
    keel, plain = Keel(model_dir, cfg), Plain(model_dir, cfg)
    tok = keel.tok
    sets = {
        "variable": variable_set(
            tok, args.examples, args.seed, args.min_answer, args.max_answer, args.dist, args.max_seq_len
        ),
        "fixed": fixed_set(tok, args.fixed_examples, args.seed, args.fixed_len),
    }
    for name, data in sets.items():
        print(describe(name, data), flush=True)
    print(
        f"model {model_dir.name} float32 cpu, {args.threads} threads, batch {args.batch_size}, "
        f"LoRA r={cfg.rank} alpha={cfg.alpha} on {','.join(cfg.target_modules)}, lr {cfg.learning_rate}, "
        f"1 epoch, {args.rounds} round(s)",
        flush=True,
    )

    if not args.no_warmup:
        # One untimed step through each system on the shortest batch (first allocations, kernels).
        short = sorted(sets["variable"], key=lambda e: len(e.input_ids))[: args.batch_size]
        for sys_ in (keel, plain):
            sys_.run(short, max_steps=1)

    systems = {"keel": keel, "plain": plain}
    runs: dict[str, dict[str, list[Run]]] = {n: {"keel": [], "plain": []} for n in sets}
    for rnd in range(args.rounds):
        for i, (name, data) in enumerate(sets.items()):
            # Alternate who goes first (per set and per round) so drift favours neither side.
            order = ("plain", "keel") if (rnd + i) % 2 == 0 else ("keel", "plain")
            for label in order:
                r = systems[label].run(data)
                runs[name][label].append(r)
                print(
                    f"  round {rnd + 1} {name:<8} {label:<6} {r.tokens} tokens in {r.seconds:.1f}s "
                    f"({r.cpu_seconds:.1f} cpu-s), {r.steps} steps",
                    flush=True,
                )

    def med(rs: list[Run], key: str) -> float:
        return statistics.median(getattr(r, key) for r in rs)

    summary: dict[str, dict[str, dict[str, float]]] = {}
    for name, by in runs.items():
        summary[name] = {
            label: {
                "tps": med(rs, "tps"),
                "cpu_tps": med([Run(r.cpu_seconds, r.tokens, 0, 0, 0) for r in rs], "tps"),
                "seconds": med(rs, "seconds"),
                "tokens": rs[0].tokens,
                "padding": rs[0].padding,
            }
            for label, rs in by.items()
        }

    print()
    print(
        f"{'dataset':<9} {'system':<14} {'tokens':>7} {'seconds':>8} {'tok/s':>8} "
        f"{'tok/cpu-s':>10} {'padding':>8}"
    )
    for name, by in summary.items():
        for label, title in (("plain", "plain Trainer"), ("keel", "keel")):
            s = by[label]
            print(
                f"{name:<9} {title:<14} {s['tokens']:>7.0f} {s['seconds']:>8.1f} {s['tps']:>8.1f} "
                f"{s['cpu_tps']:>10.1f} {s['padding']:>8.1%}"
            )
    ratio = {n: by["keel"]["tps"] / by["plain"]["tps"] for n, by in summary.items()}
    cpu_ratio = {n: by["keel"]["cpu_tps"] / by["plain"]["cpu_tps"] for n, by in summary.items()}
    print(
        f"keel / plain Trainer tokens/s: variable {ratio['variable']:.2f}x, fixed {ratio['fixed']:.2f}x "
        f"(per cpu-second: {cpu_ratio['variable']:.2f}x, {cpu_ratio['fixed']:.2f}x)"
    )

    v, f = summary["variable"], summary["fixed"]
    print(
        json.dumps(
            {
                "throughput_ratio_vs_plain_trainer": round(ratio["variable"], 3),
                "fixed_length_ratio_vs_plain_trainer": round(ratio["fixed"], 3),
                "cpu_time_ratio_vs_plain_trainer": round(cpu_ratio["variable"], 3),
                "fixed_cpu_time_ratio_vs_plain_trainer": round(cpu_ratio["fixed"], 3),
                "keel_tokens_per_s": round(v["keel"]["tps"], 1),
                "plain_trainer_tokens_per_s": round(v["plain"]["tps"], 1),
                "fixed_keel_tokens_per_s": round(f["keel"]["tps"], 1),
                "fixed_plain_trainer_tokens_per_s": round(f["plain"]["tps"], 1),
                "keel_padding_fraction": round(v["keel"]["padding"], 4),
                "plain_trainer_padding_fraction": round(v["plain"]["padding"], 4),
                "fixed_keel_padding_fraction": round(f["keel"]["padding"], 4),
                "fixed_plain_trainer_padding_fraction": round(f["plain"]["padding"], 4),
                "variable_examples": len(sets["variable"]),
                "variable_tokens": int(v["keel"]["tokens"]),
                "fixed_examples": len(sets["fixed"]),
                "fixed_length": args.fixed_len,
                "answer_tokens": [args.min_answer, args.max_answer],
                "length_distribution": args.dist,
                "batch_size": args.batch_size,
                "max_seq_len": args.max_seq_len,
                "threads": args.threads,
                "rounds": args.rounds,
                "warmup": not args.no_warmup,
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
