"""The LoRA training loop: length-grouped batches, gradient accumulation, evaluation, early
stopping, checkpoints and exact resume, around an ``Objective``: SFT's here (chat template, loss
on assistant tokens only), DPO's in ``trainer_dpo``.

It knows nothing of Celery, Redis or the registry: the runner passes ``Hooks`` that publish
events, upload checkpoints and answer "was I cancelled?" at each step boundary.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F

from keel_common.errors import InvalidArgument
from keel_training.divergence import REFERENCE_BATCHES, check_divergence
from keel_training.lora import DEFAULT_TARGETS

log = logging.getLogger(__name__)

IGNORE = -100


@dataclass
class TrainConfig:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    learning_rate: float = 2e-4
    epochs: int = 3
    max_steps: int = 0
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_seq_len: int = 1024
    seed: int = 0
    warmup_steps: int = 0
    save_steps: int = 0
    eval_steps: int = 0
    early_stopping_patience: int = 0
    # Batches of similar length (padding waste removed); False is the plain random order.
    group_by_length: bool = True


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False

    @property
    def target_tokens(self) -> int:
        # Position 0 is never predicted (the loss shifts by one).
        return sum(1 for t in self.labels[1:] if t != IGNORE)


def render_chat(tok: Any, messages: Sequence[dict[str, Any]], generation_prompt: bool) -> str:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return str(tok.apply_chat_template(plain, tokenize=False, add_generation_prompt=generation_prompt))


def encode_example(tok: Any, messages: Sequence[dict[str, Any]], max_seq_len: int) -> Encoded:
    """Token ids of the templated conversation; labels only on the assistant turns that carry
    weight 1 (their content and end-of-turn marker), so the model learns to answer and to stop,
    not to predict the user's words."""
    text = render_chat(tok, messages, False)
    spans: list[tuple[int, int]] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant" or msg.get("weight", 1) != 1:
            continue
        upto = render_chat(tok, messages[: i + 1], False)
        # A leading assistant turn has no prefix to render: its header ends where its text starts.
        before = render_chat(tok, messages[:i], True) if i else upto[: upto.rindex(msg["content"])]
        if not text.startswith(upto) or not upto.startswith(before):
            raise InvalidArgument("the chat template does not render turns as prefixes", field="model")
        spans.append((len(before), len(upto)))
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    labels = [IGNORE] * len(ids)
    for j, (start, _end) in enumerate(enc["offset_mapping"]):
        if any(a <= start < b for a, b in spans):
            labels[j] = ids[j]
    truncated = len(ids) > max_seq_len
    return Encoded(ids[:max_seq_len], labels[:max_seq_len], truncated)


def planned_steps(examples: int, batch_size: int, accumulation: int, epochs: int, max_steps: int) -> int:
    """Optimizer steps of a run: ``max_steps`` when set, else whole epochs of accumulated batches."""
    return max_steps or math.ceil(math.ceil(examples / batch_size) / accumulation) * epochs


def make_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Example indices per micro-batch for one epoch, reproducible from (seed, epoch) so a
    resumed run sees the same order. Grouping sorts each shuffled window of 64 batches by
    length (as transformers' ``group_by_length``) and then shuffles the batches."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * 64
    batches: list[list[int]] = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w : w + window], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def token_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The loss summed over target tokens (positions are picked before the fp32 upcast, so only
    target logits are copied)."""
    loss, _ = _loss_and_picks(model, batch)
    return loss


def _loss_and_picks(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    picked = logits[:, :-1][keep].float()
    gold = targets[keep]
    correct = picked.argmax(-1) == gold if not torch.is_grad_enabled() else gold
    return F.cross_entropy(picked, gold, reduction="sum"), correct


class Objective(Protocol):
    """What the loop minimises, over items of its own kind (``Encoded`` for SFT). ``length``
    (longest row, for length-grouped batches), ``units`` (what a step's loss is averaged over:
    target tokens, pairs), ``tokens`` (through the model); ``loss`` is summed over the items'
    units, as are its statistics (reported per unit with each step); ``evaluate`` returns
    ``eval_loss`` among its metrics (early stopping watches it)."""

    def length(self, item: Any) -> int: ...
    def units(self, item: Any) -> int: ...
    def tokens(self, item: Any) -> int: ...
    def loss(
        self, model: Any, items: Sequence[Any], pad_id: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...
    def evaluate(
        self, model: Any, data: Sequence[Any], cfg: TrainConfig, pad_id: int, device: torch.device
    ) -> dict[str, float]: ...


class Sft:
    """Next-token cross-entropy on the assistant tokens."""

    def length(self, item: Encoded) -> int:
        return len(item.input_ids)

    def units(self, item: Encoded) -> int:
        return item.target_tokens

    def tokens(self, item: Encoded) -> int:
        return len(item.input_ids)

    def loss(
        self, model: Any, items: Sequence[Encoded], pad_id: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return token_loss(model, collate(items, pad_id, device)), {}

    def evaluate(
        self, model: Any, data: Sequence[Encoded], cfg: TrainConfig, pad_id: int, device: torch.device
    ) -> dict[str, float]:
        return evaluate(model, data, cfg, pad_id, device)


@dataclass
class Hooks:
    """What the loop reports to and asks of its runner; every hook is optional."""

    on_step: Callable[[dict[str, Any]], None] | None = None
    on_eval: Callable[[dict[str, Any]], None] | None = None
    on_checkpoint: Callable[[Path, dict[str, Any]], None] | None = None
    should_stop: Callable[[], bool] | None = None
    # Asked at each step boundary too: checkpoint now and return "paused" (the worker is
    # shutting down; another run resumes from here).
    should_pause: Callable[[], bool] | None = None


@dataclass
class TrainResult:
    adapter_dir: Path
    # "completed", "cancelled", "paused" or "early_stopping"
    outcome: str
    metrics: dict[str, float]
    step: int


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    trained_tokens: int = 0
    best_eval_loss: float = math.inf
    bad_evals: int = 0
    last_loss: float = 0.0
    eval: dict[str, float] = field(default_factory=dict)
    # The untrained model's loss per unit: what a diverging run is measured against.
    reference_loss: float = 0.0


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def evaluate(
    model: Any, data: Sequence[Encoded], cfg: TrainConfig, pad_id: int, device: torch.device
) -> dict[str, float]:
    """eval_loss (per target token), eval_perplexity and eval_token_accuracy."""
    if not data:
        return {}
    model.eval()
    total = 0.0
    tokens = 0
    correct = 0
    lengths = [len(e.input_ids) for e in data]
    with torch.no_grad(), autocast(device):
        for batch_ids in make_batches(lengths, cfg.batch_size, 0, 0, True):
            loss, hits = _loss_and_picks(model, collate([data[i] for i in batch_ids], pad_id, device))
            total += float(loss)
            tokens += int(hits.numel())
            correct += int(hits.sum())
    model.train()
    mean = total / max(tokens, 1)
    return {
        "eval_loss": mean,
        "eval_perplexity": math.exp(min(mean, 50.0)),
        "eval_token_accuracy": correct / max(tokens, 1),
    }


def autocast(device: torch.device) -> Any:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def _reference_loss(
    model: Any, obj: Objective, items: Sequence[Any], pad_id: int, device: torch.device
) -> float:
    """The untrained model's mean loss per unit over ``items`` (no dropout, no gradients, no
    random numbers drawn: a resumed run is not disturbed)."""
    model.eval()
    total, units = 0.0, 0
    with torch.no_grad(), autocast(device):
        for i in range(0, len(items), 8):
            loss, _ = obj.loss(model, items[i : i + 8], pad_id, device)
            total += float(loss)
            units += sum(obj.units(e) for e in items[i : i + 8])
    model.train()
    return total / max(units, 1)


def train(
    model: Any,
    tok: Any,
    train_data: Sequence[Encoded],
    eval_data: Sequence[Encoded],
    cfg: TrainConfig,
    out_dir: Path,
    device: torch.device,
    hooks: Hooks | None = None,
    resume_from: Path | None = None,
    objective: Objective | None = None,
    generation_eval: Callable[[Any], dict[str, float]] | None = None,
) -> TrainResult:
    """Train ``model`` (a peft model) on ``objective`` (SFT by default) and save the adapter
    under ``out_dir/adapter``. ``generation_eval(model)`` adds metrics to each evaluation
    (answers generated and scored: ``generation_eval``)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    hooks = hooks or Hooks()
    obj: Objective = objective or Sft()
    if not train_data:
        raise InvalidArgument("no training examples", field="training_file")
    torch.manual_seed(cfg.seed)
    pad_id = int(tok.pad_token_id)
    lengths = [obj.length(e) for e in train_data]
    total = planned_steps(
        len(train_data), cfg.batch_size, cfg.gradient_accumulation_steps, cfg.epochs, cfg.max_steps
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.warmup_steps, total))
    st = _State()
    if resume_from is not None:
        set_peft_model_state_dict(
            model, load_file(str(resume_from / "adapter" / "adapter_model.safetensors"))
        )
        # CPU: RNG states must be CPU tensors; the optimizer moves its state to the params itself.
        saved = torch.load(resume_from / "optim.pt", map_location="cpu", weights_only=False)
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        if saved.get("cuda_rng") is not None and device.type == "cuda":
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        st = _State(**json.loads((resume_from / "trainer_state.json").read_text()))
        log.info("resumed", extra={"step": st.step, "epoch": st.epoch, "batch": st.batch_in_epoch})

    saved_at = [-1]  # the step of the newest checkpoint

    def checkpoint(final: bool = False) -> Path:
        where = out_dir / ("final" if final else f"step-{st.step}")
        model.save_pretrained(where / "adapter")
        if final:
            tok.save_pretrained(where / "adapter")
            return where / "adapter"
        torch.save(
            {
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            },
            where / "optim.pt",
        )
        (where / "trainer_state.json").write_text(json.dumps(asdict(st)))
        saved_at[0] = st.step
        if hooks.on_checkpoint:
            hooks.on_checkpoint(where, {"loss": st.last_loss, **st.eval})
        return where

    trained_since_eval = [0.0]  # training seconds since the last evaluation

    def run_eval() -> bool:
        """Evaluate; True when early stopping says stop."""
        if not eval_data:
            return False
        t0 = time.perf_counter()
        st.eval = obj.evaluate(model, eval_data, cfg, pad_id, device)
        if generation_eval is not None:
            st.eval |= generation_eval(model)
        # What evaluating costs next to the training it follows (an epoch, or eval_steps steps).
        spent = time.perf_counter() - t0
        st.eval["eval_seconds"] = spent
        if trained_since_eval[0] > 0:
            st.eval["eval_cost_ratio"] = spent / trained_since_eval[0]
        trained_since_eval[0] = 0.0
        if hooks.on_eval:
            hooks.on_eval({"step": st.step, "total_steps": total, "epoch": st.epoch, **st.eval})
        if st.eval["eval_loss"] < st.best_eval_loss - 1e-4:
            st.best_eval_loss, st.bad_evals = st.eval["eval_loss"], 0
        else:
            st.bad_evals += 1
        return bool(cfg.early_stopping_patience) and st.bad_evals >= cfg.early_stopping_patience

    if st.reference_loss <= 0:
        first = make_batches(lengths, cfg.batch_size, cfg.seed, 0, cfg.group_by_length)[:REFERENCE_BATCHES]
        st.reference_loss = _reference_loss(
            model, obj, [train_data[i] for b in first for i in b], pad_id, device
        )
    recent: list[float] = []
    model.train()
    outcome = "completed"
    started = time.perf_counter()
    while st.step < total and st.epoch < (cfg.epochs if not cfg.max_steps else 1 << 30):
        batches = make_batches(lengths, cfg.batch_size, cfg.seed, st.epoch, cfg.group_by_length)
        while st.batch_in_epoch < len(batches) and st.step < total:
            if hooks.should_stop and hooks.should_stop():
                outcome = "cancelled"
                break
            if hooks.should_pause and hooks.should_pause():
                outcome = "paused"
                if st.step and st.step != saved_at[0]:
                    checkpoint()
                break
            t0 = time.perf_counter()
            group = batches[st.batch_in_epoch : st.batch_in_epoch + cfg.gradient_accumulation_steps]
            micro = [[train_data[i] for i in ids] for ids in group]
            targets = sum(obj.units(e) for items in micro for e in items) or 1
            tokens = sum(obj.tokens(e) for items in micro for e in items)
            step_loss = torch.zeros((), device=device)
            sums: dict[str, torch.Tensor] = {}
            for items in micro:
                with autocast(device):
                    loss, stats = obj.loss(model, items, pad_id, device)
                (loss / targets).backward()  # type: ignore[no-untyped-call]
                step_loss += loss.detach()  # host syncs once per step (below), not per micro-batch
                for k, v in stats.items():
                    sums[k] = sums[k] + v.detach() if k in sums else v.detach()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
            lr = float(sched.get_last_lr()[0])
            check_divergence(st.reference_loss, recent, st.step, step_loss.item() / targets, grad_norm, lr)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            st.step += 1
            st.batch_in_epoch += len(group)
            st.trained_tokens += tokens
            st.last_loss = step_loss.item() / targets
            recent.append(st.last_loss)
            dt = time.perf_counter() - t0
            trained_since_eval[0] += dt
            if hooks.on_step:
                hooks.on_step(
                    {
                        "step": st.step,
                        "total_steps": total,
                        "epoch": st.epoch + st.batch_in_epoch / len(batches),
                        "trained_tokens": st.trained_tokens,
                        "loss": st.last_loss,
                        **{k: v.item() / targets for k, v in sums.items()},
                        "learning_rate": sched.get_last_lr()[0],
                        "grad_norm": grad_norm,
                        "tokens_per_second": tokens / dt if dt > 0 else 0.0,
                        "step_tokens": tokens,
                        "step_seconds": dt,
                    }
                )
            stop = cfg.eval_steps > 0 and st.step % cfg.eval_steps == 0 and run_eval()
            if cfg.save_steps and st.step % cfg.save_steps == 0 and st.step < total:
                checkpoint()
            if stop:
                outcome = "early_stopping"
                break
        if outcome != "completed":
            break
        if st.batch_in_epoch >= len(batches):
            st.epoch += 1
            st.batch_in_epoch = 0
            if cfg.eval_steps == 0 and run_eval():
                outcome = "early_stopping"
                break
    elapsed = time.perf_counter() - started
    # A stopped run's adapter is not a result: the runner neither registers nor keeps it.
    stopped = outcome in ("cancelled", "paused")
    adapter = out_dir / "final" / "adapter" if stopped else checkpoint(final=True)
    metrics = {
        "train_loss": st.last_loss,
        "trained_tokens": float(st.trained_tokens),
        "steps": float(st.step),
        "epochs": float(st.epoch),
        **st.eval,
    }
    if elapsed > 0:
        metrics["train_seconds"] = elapsed
    return TrainResult(adapter, outcome, metrics, st.step)
