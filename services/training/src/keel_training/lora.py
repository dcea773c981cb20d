"""The model a job trains: the base weights frozen (a fine-tuned model's adapter merged in
first when a job starts from one) and LoRA layers on the target modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from keel_common.errors import InvalidArgument

# peft's name for every linear layer but the output head. Measured on SmolLM2-135M with fresh
# facts: adapting the MLPs too learns them where attention alone (q/k/v/o) misses some.
ALL_LINEAR = "all-linear"
DEFAULT_TARGETS = [ALL_LINEAR]


def training_dtype(device: torch.device) -> torch.dtype:
    """bf16 on a GPU that has it, fp32 otherwise (training and evaluation alike)."""
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32


class LoraSettings(Protocol):
    """What the adapter is made of (the trainer's TrainConfig has these)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: list[str]
    seed: int


def load_for_training(
    model_dir: Path, cfg: LoraSettings, device: torch.device, start_adapter: Path | None = None
) -> tuple[Any, Any]:
    """(peft model, tokenizer): the base weights frozen, LoRA layers on ``target_modules``.

    ``start_adapter`` (a fine-tuned model's adapter) is merged into the base weights first, in
    memory: the new LoRA trains on top of it, and with the new LoRA disabled the model is the
    fine-tuned one, which is what DPO's reference must be. No second copy of the weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok: Any = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    dtype = training_dtype(device)
    base: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    base.to(device)
    if start_adapter is not None:
        from peft import PeftModel

        base = PeftModel.from_pretrained(base, str(start_adapter)).merge_and_unload()
    names = {n.rsplit(".", 1)[-1] for n, _ in base.named_modules()} | {ALL_LINEAR}
    unknown = [m for m in cfg.target_modules if m not in names]
    if unknown:
        raise InvalidArgument(
            f"{', '.join(unknown)} are not modules of this model", field="hyperparameters.target_modules"
        )
    targets = linear_layers(base) if cfg.target_modules == [ALL_LINEAR] else list(cfg.target_modules)
    lora = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,  # type: ignore[arg-type]  # peft annotates int; floats work
        lora_dropout=cfg.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(cfg.seed)  # the LoRA A matrices are drawn here: same seed, same adapter
    return get_peft_model(base, lora), tok


def linear_layers(model: Any) -> list[str]:
    """The short names of the model's linear layers but its output head ("q_proj", ...,
    "down_proj"): what ``all-linear`` adapts, spelt out so the saved adapter config lists
    module names rather than every layer's path."""
    head = model.get_output_embeddings()
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not head
        }
    )
