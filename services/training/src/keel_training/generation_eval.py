"""Evaluation by generation: does the model answer the held-out questions?

Loss and perplexity say how likely the reference answers are, not whether the model says them.
Here the model answers each evaluation question greedily (batched: prompts sorted by length and
left-padded, so a batch wastes little), and each answer is scored against the reference with
SQuAD's exact match and token F1 (``keel_common.qa_metrics``) and, as a semantic score, the
cosine similarity of their MiniLM embeddings (``keel_common.embeddings``). For a question asked
with its passage (``qa_with_context``: a system message carrying the context), the same question
is also asked without it — "closed book" — which shows whether the model learned the fact or
copies it from the passage.

Used per evaluation in jobs (through the trainer's own model) and for registered versions on
demand (``keel eval run``, the promotion gate).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from keel_common.qa_metrics import score_answers
from keel_training.trainer import autocast, render_chat
from keel_training.validation import PreferencePair

log = logging.getLogger(__name__)

Message = dict[str, Any]
# (predictions, references) -> one similarity per pair
Similarity = Callable[[list[str], list[str]], list[float]]
DEFAULT_MAX_NEW_TOKENS = 64
DEFAULT_LIMIT = 64


@dataclass(frozen=True)
class QaItem:
    """One question: the conversation up to the answer, the reference answer, and the
    conversation without its context passage (None when it had none)."""

    prompt: list[Message]
    reference: str
    closed_book: list[Message] | None = None


def qa_items(examples: Sequence[Any], limit: int = DEFAULT_LIMIT) -> list[QaItem]:
    """Questions from chat examples (the last weighted assistant turn is the reference, what
    precedes it the prompt) or from preference pairs (the preferred answer is the reference),
    at most ``limit`` of them, in order."""
    items: list[QaItem] = []
    for ex in examples:
        if len(items) >= limit:
            break
        if isinstance(ex, PreferencePair):
            prompt, reference = list(ex.prompt), ex.chosen
        else:
            turns = [i for i, m in enumerate(ex) if m["role"] == "assistant" and m.get("weight", 1) == 1]
            if not turns:
                continue
            prompt, reference = list(ex[: turns[-1]]), ex[turns[-1]]["content"]
        plain = [{"role": m["role"], "content": m["content"]} for m in prompt]
        if not any(m["role"] == "user" for m in plain):
            continue
        context_free = [m for m in plain if m["role"] != "system"]
        closed = context_free if len(context_free) < len(plain) else None
        items.append(QaItem(plain, reference, closed))
    return items


def generate(
    model: Any,
    tok: Any,
    conversations: Sequence[Sequence[Message]],
    device: torch.device,
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 16,
) -> list[str]:
    """Greedy replies to ``conversations``, in their order."""
    if not conversations:
        return []
    prompts = [render_chat(tok, c, True) for c in conversations]
    ids = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    pad = int(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    stop = [t for t in {tok.eos_token_id, *_end_of_turn(tok)} if t is not None]
    replies: list[str] = [""] * len(ids)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(device):
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                width = max(len(ids[i]) for i in chunk)
                batch = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):  # left padding: every prompt ends where generation starts
                    batch[row, width - len(ids[i]) :] = torch.tensor(ids[i])
                    mask[row, width - len(ids[i]) :] = 1
                out = model.generate(
                    input_ids=batch.to(device),
                    attention_mask=mask.to(device),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=stop,
                    pad_token_id=pad,
                )
                for row, i in enumerate(chunk):
                    replies[i] = tok.decode(out[row, width:], skip_special_tokens=True).strip()
    finally:
        if was_training:
            model.train()
    return replies


def _end_of_turn(tok: Any) -> list[int]:
    """The chat template's end-of-turn token (``<|im_end|>`` for ChatML), if the vocabulary has
    one: a reply ends there even when the model's eos is another token."""
    ids = []
    for marker in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        tid = tok.convert_tokens_to_ids(marker)
        if isinstance(tid, int) and tid != tok.unk_token_id:
            ids.append(tid)
    return ids


def _scores(
    prefix: str, predictions: list[str], references: list[str], similarity: Similarity | None
) -> dict[str, float]:
    s = score_answers(predictions, [[r] for r in references])
    out = {f"{prefix}_exact_match": s.exact_match, f"{prefix}_f1": s.f1}
    if similarity is not None:
        sims = similarity(predictions, references)
        out[f"{prefix}_similarity"] = sum(sims) / len(sims)
    return out


@dataclass
class GenerationReport:
    metrics: dict[str, float]
    # (question, reference, answer, closed-book answer or "") per item, for tables and events
    answers: list[tuple[str, str, str, str]]


def evaluate_generation(
    model: Any,
    tok: Any,
    items: Sequence[QaItem],
    device: torch.device,
    similarity: Similarity | None = None,
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = 16,
) -> GenerationReport:
    """``eval_exact_match``, ``eval_f1``, ``eval_similarity`` (when ``similarity`` is given),
    the same three prefixed ``closed_book_`` over the items asked with a context, and
    ``eval_generations`` and ``eval_generation_seconds``."""
    if not items:
        return GenerationReport({}, [])
    started = time.perf_counter()
    closed = [it for it in items if it.closed_book is not None]
    replies = generate(
        model,
        tok,
        [it.prompt for it in items] + [it.closed_book for it in closed if it.closed_book is not None],
        device,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    open_replies, closed_replies = replies[: len(items)], replies[len(items) :]
    metrics = _scores("eval", open_replies, [it.reference for it in items], similarity)
    if closed:
        metrics |= _scores("closed_book", closed_replies, [it.reference for it in closed], similarity)
    metrics["eval_generations"] = float(len(replies))
    metrics["eval_generation_seconds"] = time.perf_counter() - started
    by_item = iter(closed_replies)
    answers = [
        (
            next((m["content"] for m in reversed(it.prompt) if m["role"] == "user"), ""),
            it.reference,
            reply,
            next(by_item) if it.closed_book is not None else "",
        )
        for it, reply in zip(items, open_replies, strict=True)
    ]
    return GenerationReport(metrics, answers)


@functools.cache
def shared_similarity() -> Similarity | None:
    """MiniLM's similarity, loaded once per process; None (logged) where the model's wheel is
    missing: the other scores do not need it."""
    try:
        from keel_common.embeddings import SentenceEncoder

        return SentenceEncoder().similarity
    except Exception as exc:  # ImportError, or a broken model directory
        log.warning("answer similarity is off: the MiniLM model could not be loaded (%s)", exc)
        return None
