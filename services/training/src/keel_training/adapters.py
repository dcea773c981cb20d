"""Stacking LoRA adapters: a job that starts from a fine-tuned model trains a new LoRA on top of
that model's adapter (merged into the base weights in memory). Inference applies one adapter to
the base model, so the result it is given must hold both: the sum of two low-rank updates is a
LoRA whose rank is the sum of theirs, exactly (peft's ``add_weighted_adapter`` "cat", without
loading the base model a second time).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from keel_common.errors import InvalidArgument

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"


def _scaling(cfg: dict[str, Any]) -> float:
    return float(cfg["lora_alpha"]) / (math.sqrt(cfg["r"]) if cfg.get("use_rslora") else cfg["r"])


def read_lora(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config, weights) of a plain LoRA adapter; anything else cannot be stacked."""
    cfg = json.loads((adapter_dir / CONFIG).read_text())
    plain = (
        cfg.get("peft_type") == "LORA"
        and not cfg.get("use_dora")
        and not cfg.get("modules_to_save")
        and not cfg.get("rank_pattern")
        and not cfg.get("alpha_pattern")
        and cfg.get("bias", "none") == "none"
        and isinstance(cfg.get("target_modules"), list)
    )
    weights = load_file(str(adapter_dir / WEIGHTS))
    if not plain or not all(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in weights):
        raise InvalidArgument(f"{adapter_dir.name} is not a plain LoRA adapter", field="model")
    return cfg, weights


def stack_adapters(first: Path, second: Path, out: Path) -> Path:
    """One adapter equal to applying ``first`` and then ``second`` (trained on top of it):
    A = [s1·A1; s2·A2], B = [B1 B2] with scaling 1; a module only one of them adapts gets zeros
    from the other. The tokenizer files of ``second`` come along."""
    (c1, w1), (c2, w2) = read_lora(first), read_lora(second)
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in (*w1, *w2)})
    parts = [(c1, w1, _scaling(c1)), (c2, w2, _scaling(c2))]
    rank = int(c1["r"]) + int(c2["r"])
    stacked: dict[str, torch.Tensor] = {}
    for m in modules:
        some = next(w for _, w, _ in parts if f"{m}.lora_A.weight" in w)
        dtype = some[f"{m}.lora_A.weight"].dtype
        fan_in, fan_out = some[f"{m}.lora_A.weight"].shape[1], some[f"{m}.lora_B.weight"].shape[0]
        a_blocks, b_blocks = [], []
        for cfg, w, scale in parts:
            a = w.get(f"{m}.lora_A.weight", torch.zeros(int(cfg["r"]), fan_in, dtype=dtype))
            b = w.get(f"{m}.lora_B.weight", torch.zeros(fan_out, int(cfg["r"]), dtype=dtype))
            a_blocks.append(a.float() * scale)
            b_blocks.append(b.float())
        stacked[f"{m}.lora_A.weight"] = torch.cat(a_blocks, 0).to(dtype).contiguous()
        stacked[f"{m}.lora_B.weight"] = torch.cat(b_blocks, 1).to(dtype).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    for f in second.iterdir():  # the tokenizer files, the README
        if f.is_file() and f.name not in (WEIGHTS, CONFIG):
            shutil.copy2(f, out / f.name)
    save_file(stacked, str(out / WEIGHTS), metadata={"format": "pt"})
    cfg = {
        **c2,
        "r": rank,
        "lora_alpha": rank,  # scaling 1: the blocks of A carry their own scaling
        "use_rslora": False,
        "target_modules": sorted(set(c1["target_modules"]) | set(c2["target_modules"])),
    }
    (out / CONFIG).write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return out
