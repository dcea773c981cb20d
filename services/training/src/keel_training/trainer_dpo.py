"""DPO (direct preference optimisation) as an ``Objective`` of the training loop.

TRL's DPOTrainer is deliberately not used: Keel's worker owns the loop (checkpoints, exact
resume, cancel, pause, events), and DPO is only another loss in it. For each pair, the answer's
log-probability summed over its tokens (the prompt masked) under the policy (the LoRA adapter
on) and the reference (the same model with the adapter off: no second copy of the weights):

    loss = -logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))

``beta * (pi - ref)`` is an answer's implicit reward; a pair is ranked right when the chosen
answer's reward beats the rejected one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from keel_common.errors import InvalidArgument
from keel_training.trainer import IGNORE, Encoded, TrainConfig, autocast, collate, make_batches, render_chat
from keel_training.validation import PreferencePair

DEFAULT_BETA = 0.1


@dataclass
class EncodedPair:
    chosen: Encoded
    rejected: Encoded

    @property
    def truncated(self) -> bool:
        return self.chosen.truncated or self.rejected.truncated

    def answers(self) -> tuple[list[int], list[int]]:
        """The answers' tokens as the model sees them (after truncation)."""
        chosen = [t for t in self.chosen.labels if t != IGNORE]
        return chosen, [t for t in self.rejected.labels if t != IGNORE]


def encode_answer(tok: Any, prompt: Sequence[dict[str, Any]], answer: str, max_seq_len: int) -> Encoded:
    """The templated prompt plus one assistant answer, labels on the answer (its end-of-turn
    marker included). Too long, the prompt keeps its end (the latest turns) and the answer its
    start: the prompt gets at least half of ``max_seq_len`` when it needs it, the answer the rest."""
    head = render_chat(tok, prompt, True)
    text = render_chat(tok, [*prompt, {"role": "assistant", "content": answer}], False)
    if not text.startswith(head):
        raise InvalidArgument("the chat template does not render turns as prefixes", field="model")
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    split = next((j for j, (start, _) in enumerate(enc["offset_mapping"]) if start >= len(head)), len(ids))
    prompt_ids, answer_ids = ids[:split], ids[split:]
    truncated = len(ids) > max_seq_len
    if truncated:
        keep = min(len(prompt_ids), max(max_seq_len - len(answer_ids), max_seq_len // 2))
        prompt_ids = prompt_ids[len(prompt_ids) - keep :]
        answer_ids = answer_ids[: max_seq_len - keep]
    return Encoded(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids, truncated)


def encode_pair(tok: Any, pair: PreferencePair, max_seq_len: int) -> EncodedPair:
    return EncodedPair(
        encode_answer(tok, pair.prompt, pair.chosen, max_seq_len),
        encode_answer(tok, pair.prompt, pair.rejected, max_seq_len),
    )


def sequence_logps(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per row, the log-probability of its labelled tokens summed. Answers end their rows, so
    logits are computed only from the earliest answer on (a vocabulary-wide row per prompt
    token would be most of the memory), and only target positions are upcast to fp32."""
    labels = batch["labels"]
    first = int((labels[:, 1:] != IGNORE).int().argmax(1).min())  # earliest predicting position
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        logits_to_keep=labels.shape[1] - first,
    ).logits
    targets = labels[:, first + 1 :]
    keep = targets != IGNORE
    picked = logits[:, :-1][keep].float()
    per_token = -F.cross_entropy(picked, targets[keep], reduction="none")
    rows = keep.nonzero()[:, 0]
    return torch.zeros(keep.shape[0], device=per_token.device).index_add(0, rows, per_token)


def pair_logps(model: Any, items: Sequence[EncodedPair], pad_id: int, device: torch.device) -> torch.Tensor:
    """(2, n): the chosen (row 0) and rejected (row 1) answers' log-probabilities, from one
    forward pass over both halves of the batch."""
    n = len(items)
    batch = collate([p.chosen for p in items] + [p.rejected for p in items], pad_id, device)
    return sequence_logps(model, batch).view(2, n)


def dpo_terms(
    policy: torch.Tensor, reference: torch.Tensor, beta: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss summed over the pairs and its statistics, also summed: ``preference_accuracy``
    (pairs ranked right), ``reward_margin``, ``chosen_reward``, ``rejected_reward``."""
    rewards = beta * (policy - reference.detach())
    margin = rewards[0] - rewards[1]
    stats = {
        "preference_accuracy": (margin > 0).float().sum().detach(),
        "reward_margin": margin.sum().detach(),
        "chosen_reward": rewards[0].sum().detach(),
        "rejected_reward": rewards[1].sum().detach(),
    }
    return -F.logsigmoid(margin).sum(), stats


class Dpo:
    """The DPO objective on ``EncodedPair``s; the model must be a peft model (its adapter is
    switched off for the reference)."""

    def __init__(self, beta: float = DEFAULT_BETA) -> None:
        self.beta = beta

    def length(self, item: EncodedPair) -> int:
        return max(len(item.chosen.input_ids), len(item.rejected.input_ids))

    def units(self, item: EncodedPair) -> int:
        return 1

    def tokens(self, item: EncodedPair) -> int:
        return len(item.chosen.input_ids) + len(item.rejected.input_ids)

    def loss(
        self, model: Any, items: Sequence[EncodedPair], pad_id: int, device: torch.device
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.no_grad(), model.disable_adapter():
            reference = pair_logps(model, items, pad_id, device)
        return dpo_terms(pair_logps(model, items, pad_id, device), reference, self.beta)

    def evaluate(
        self, model: Any, data: Sequence[EncodedPair], cfg: TrainConfig, pad_id: int, device: torch.device
    ) -> dict[str, float]:
        """eval_loss (the DPO loss per pair), eval_preference_accuracy (pairs whose implicit
        reward margin is > 0), eval_reward_margin, eval_chosen_reward, eval_rejected_reward."""
        if not data:
            return {}
        model.eval()
        total = 0.0
        sums: dict[str, float] = {}
        with torch.no_grad(), autocast(device):
            for ids in make_batches([self.length(p) for p in data], cfg.batch_size, 0, 0, True):
                loss, stats = self.loss(model, [data[i] for i in ids], pad_id, device)
                total += float(loss)
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        model.train()
        return {"eval_loss": total / len(data), **{f"eval_{k}": v / len(data) for k, v in sums.items()}}
