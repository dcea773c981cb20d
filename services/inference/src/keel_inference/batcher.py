"""The model side of continuous batching: one running batch and its KV cache.

Sequences sit in one left-padded batch, so every row's next token lands in the same cache
column and a decode step is a single forward over ``[rows, 1]``. New sequences are prefilled
as their own batch and their cache is padded and concatenated onto the running one; finished
rows are cut out with ``index_select`` and columns that became padding for every row are
trimmed. Any transformers causal LM works (its own attention, its own tensor-parallel plan),
and with peft each row may name its own LoRA adapter in the same forward.

A runner is driven by ``StepPlan``s. In tensor-parallel mode every rank holds a runner with
its shard of the model and receives the same plans in the same order; only the sampling rank
samples, and the tokens it chose reach the others in the next plan's ``feed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from keel_common.errors import FailedPrecondition, InvalidArgument
from keel_inference.sampling import SamplerState, SamplingConfig, sample

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


@dataclass
class NewSequence:
    req_id: str
    prompt_ids: list[int]
    sampling: SamplingConfig
    adapter: str | None = None


@dataclass
class StepPlan:
    drop: list[str] = field(default_factory=list)
    add: list[NewSequence] = field(default_factory=list)
    # The token each running sequence feeds this step: the one sampled for it last step.
    feed: dict[str, int] = field(default_factory=dict)


@dataclass
class _Row:
    req_id: str
    adapter: str | None
    sampler: SamplerState | None


class ModelRunner:
    def __init__(self, model: Any, *, samples: bool = True) -> None:
        self.base = model
        self.peft: Any = None
        self.samples = samples
        self.device = next(model.parameters()).device
        self.pad_id = 0
        self.rows: list[_Row] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # [rows, width], 1 where a real token is cached
        self._new_cache: Any = None

    # --- introspection ----------------------------------------------------------------
    # Stats are read from other threads while the engine loop replaces or drops ``mask``: read
    # the attribute once, so a check and its use see the same tensor.
    @property
    def width(self) -> int:
        mask = self.mask
        return 0 if mask is None else int(mask.shape[1])

    def cached_tokens(self) -> tuple[int, int]:
        """(real tokens, padded slots) held in the KV cache."""
        mask = self.mask
        if mask is None:
            return 0, 0
        return int(mask.sum()), int(mask.numel())

    # --- adapters -------------------------------------------------------------------------
    def add_adapter(self, name: str, path: str | Path) -> None:
        from peft import PeftModel

        if self.peft is None:
            self.peft = PeftModel.from_pretrained(self.base, str(path), adapter_name=name)
            self.peft.eval()
        else:
            self.peft.load_adapter(str(path), adapter_name=name)

    def remove_adapter(self, name: str) -> None:
        if self.peft is not None and name in self.peft.peft_config:
            if any(r.adapter == name for r in self.rows):
                raise FailedPrecondition(f"adapter {name} is in use", field="adapter")
            if len(self.peft.peft_config) == 1:
                # peft cannot delete its last adapter; unwrap instead.
                self.peft.base_model.unload()
                self.peft = None
            else:
                self.peft.delete_adapter(name)

    def adapters(self) -> list[str]:
        return [] if self.peft is None else list(self.peft.peft_config)

    # --- stepping ---------------------------------------------------------------------------
    @torch.inference_mode()
    def step(self, plan: StepPlan) -> dict[str, int]:
        """Drop, decode the running rows one token, prefill the new ones. Returns the token
        sampled for every row (empty on ranks that do not sample)."""
        if plan.drop:
            self._drop(set(plan.drop))
        out: dict[str, int] = {}
        if self.rows:
            out.update(self._decode(plan.feed))
        if plan.add:
            out.update(self._prefill(plan.add))
        return out

    def _forward(self, adapters: list[str | None], **kwargs: Any) -> torch.Tensor:
        if self.peft is not None:
            names = [a or BASE for a in adapters]
            result = self.peft(adapter_names=names, use_cache=True, logits_to_keep=1, **kwargs)
        else:
            if any(adapters):
                raise FailedPrecondition("no adapters are loaded", field="adapter")
            result = self.base(use_cache=True, logits_to_keep=1, **kwargs)
        self._new_cache = result.past_key_values
        logits: torch.Tensor = result.logits[:, -1, :]
        return logits

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> dict[str, int]:
        if not self.samples:
            return {}
        states = [r.sampler for r in rows]
        assert all(s is not None for s in states)
        tokens = sample(logits, states)  # type: ignore[arg-type]
        return {r.req_id: t for r, t in zip(rows, tokens, strict=True)}

    def _decode(self, feed: dict[str, int]) -> dict[str, int]:
        assert self.mask is not None
        try:
            ids = torch.tensor([[feed[r.req_id]] for r in self.rows], device=self.device)
        except KeyError as e:
            raise InvalidArgument(f"no token fed for running sequence {e.args[0]}") from None
        width = self.width
        self.mask = F.pad(self.mask, (0, 1), value=1)
        positions = self.mask.sum(1, keepdim=True) - 1
        logits = self._forward(
            [r.adapter for r in self.rows],
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions,
            past_key_values=self.cache,
            cache_position=torch.tensor([width], device=self.device),
        )
        self.cache = self._new_cache
        return self._sample(self.rows, logits)

    def _prefill(self, seqs: list[NewSequence]) -> dict[str, int]:
        longest = max(len(s.prompt_ids) for s in seqs)
        ids = torch.full((len(seqs), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), longest), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, longest - len(s.prompt_ids) :] = torch.tensor(s.prompt_ids)
            mask[i, longest - len(s.prompt_ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        rows = [
            _Row(s.req_id, s.adapter, SamplerState.create(s.sampling, s.prompt_ids) if self.samples else None)
            for s in seqs
        ]
        logits = self._forward(
            [s.adapter for s in seqs], input_ids=ids, attention_mask=mask, position_ids=positions
        )
        self._merge(self._new_cache, mask)
        self.rows.extend(rows)
        return self._sample(rows, logits)

    # --- the batch's cache ------------------------------------------------------------------
    def _layers(self, cache: Any) -> list[Any]:
        return list(cache.layers)

    def _merge(self, cache: Any, mask: torch.Tensor) -> None:
        if self.cache is None or self.mask is None:
            self.cache, self.mask = cache, mask
            return
        old_w, new_w = self.width, int(mask.shape[1])
        width = max(old_w, new_w)
        for mine, theirs in zip(self._layers(self.cache), self._layers(cache), strict=True):
            mine.keys = torch.cat(
                [F.pad(mine.keys, (0, 0, width - old_w, 0)), F.pad(theirs.keys, (0, 0, width - new_w, 0))]
            )
            mine.values = torch.cat(
                [F.pad(mine.values, (0, 0, width - old_w, 0)), F.pad(theirs.values, (0, 0, width - new_w, 0))]
            )
        self.mask = torch.cat([F.pad(self.mask, (width - old_w, 0)), F.pad(mask, (width - new_w, 0))])

    def _drop(self, ids: set[str]) -> None:
        keep = [i for i, r in enumerate(self.rows) if r.req_id not in ids]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.cache, self.mask = None, None
            return
        assert self.mask is not None
        index = torch.tensor(keep, device=self.device)
        mask = self.mask.index_select(0, index)
        # Columns that are padding for every remaining row are dead weight in each step.
        start = int(mask.any(0).long().argmax())
        self.mask = mask[:, start:]
        for layer in self._layers(self.cache):
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
