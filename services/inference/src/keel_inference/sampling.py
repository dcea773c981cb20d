"""Decoding parameters and the sampler applied to one step's logits.

Sampling runs on one rank only (rank 0, or the single process); the chosen tokens are sent
to every rank with the next step, so ranks can never disagree about a sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class SamplingConfig:
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def plain(self) -> bool:
        """Greedy with no penalties: a bare argmax."""
        return (
            self.greedy
            and self.repetition_penalty == 1.0
            and self.frequency_penalty == 0.0
            and self.presence_penalty == 0.0
        )


@dataclass
class SamplerState:
    """Per-sequence sampler state: the config, a seeded generator and the token history
    (prompt + output) the penalties look at."""

    config: SamplingConfig
    prompt_len: int
    history: list[int]
    generator: torch.Generator | None = field(default=None)

    @classmethod
    def create(cls, config: SamplingConfig, prompt_ids: list[int]) -> SamplerState:
        gen = None
        if not config.greedy:
            gen = torch.Generator()
            if config.seed is not None:
                gen.manual_seed(config.seed)
            else:
                gen.seed()
        return cls(config, len(prompt_ids), list(prompt_ids), gen)


def _penalise(logits: torch.Tensor, state: SamplerState) -> torch.Tensor:
    cfg = state.config
    if cfg.repetition_penalty != 1.0:
        # As in transformers' RepetitionPenaltyLogitsProcessor: over prompt and output.
        ids = torch.tensor(sorted(set(state.history)), dtype=torch.long)
        sel = logits[ids]
        logits[ids] = torch.where(sel > 0, sel / cfg.repetition_penalty, sel * cfg.repetition_penalty)
    if cfg.frequency_penalty or cfg.presence_penalty:
        # As in OpenAI's API: over the output tokens only.
        out = state.history[state.prompt_len :]
        if out:
            counts = torch.bincount(torch.tensor(out, dtype=torch.long), minlength=logits.shape[-1]).to(
                logits.dtype
            )
            logits -= cfg.frequency_penalty * counts + cfg.presence_penalty * (counts > 0).to(logits.dtype)
    return logits


def _sample_one(logits: torch.Tensor, state: SamplerState) -> int:
    cfg = state.config
    logits = _penalise(logits, state)
    if cfg.greedy:
        return int(logits.argmax())
    logits = logits / cfg.temperature
    if cfg.top_k and cfg.top_k < logits.shape[-1]:
        kth = torch.topk(logits, cfg.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token once the mass before it already reaches top_p (the first always stays).
        drop = (cum - sorted_logits.softmax(-1)) >= cfg.top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), float("-inf"))
    probs = logits.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=state.generator))


def sample(logits: torch.Tensor, states: list[SamplerState]) -> list[int]:
    """One token per row of ``logits`` ([rows, vocab]); appends it to each state's history."""
    logits = logits.float()
    if all(s.config.plain for s in states):
        tokens: list[int] = logits.argmax(-1).tolist()
    else:
        tokens = [_sample_one(logits[i].clone(), s) for i, s in enumerate(states)]
    for s, t in zip(states, tokens, strict=True):
        s.history.append(t)
    return tokens
