"""Multi-LoRA: per-row adapters in one batch, and the core's adapter load/evict/reload cycle.

These tests load their own SmolLM2 copies: peft injects LoRA layers into the model it wraps, so
the shared session model must never be handed to a runner that loads adapters. Float32 (see
conftest) so a row's greedy output cannot depend on its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from keel_common.errors import NotFound
from keel_common.loader import load_model
from keel_inference.batcher import ModelRunner
from keel_inference.config import InferenceSettings
from keel_inference.core import AdapterInput, GenerateInput, InferenceCore, Message, SamplingInput
from keel_inference.engine import Delta, Done, Engine, EngineRequest
from keel_inference.sampling import SamplingConfig

GREEDY = SamplingConfig(max_tokens=16, ignore_eos=True)


@pytest.fixture(scope="module")
def lora_runner(smollm2_dir: Path) -> ModelRunner:
    model, _ = load_model(smollm2_dir, torch.device("cpu"), torch.float32)
    return ModelRunner(model)


@pytest.mark.slow  # the real SmolLM2 with LoRA adapters
def test_adapters_change_output_and_mix_in_one_batch(
    lora_runner: ModelRunner,
    lora_adapter: Callable[[int], Any],
    make_engine: Callable[..., Engine],
    chat: Any,
    recorder: Any,
    gate: Any,
    batch_watch: Any,
    run_alone: Any,
) -> None:
    engine = make_engine(lora_runner, max_batch_size=4)
    # Open-ended prompts: a factual one ("the capital of France") can keep its greedy answer
    # under a random adapter although the logits move.
    p0, p1 = chat("Write a haiku about the sea."), chat("Write a short story about a dragon.")
    base_before = run_alone(engine, p0, GREEDY)

    engine.load_adapter("a", str(lora_adapter(1).local_dir)).result(60)
    engine.load_adapter("b", str(lora_adapter(2).local_dir)).result(60)
    assert lora_runner.adapters() == ["a", "b"]

    # Served alone, each (prompt, adapter) once.
    cases = [("base", p0, None), ("a0", p0, "a"), ("b0", p0, "b"), ("a1", p1, "a")]
    alone = {name: run_alone(engine, ids, GREEDY, adapter) for name, ids, adapter in cases}
    assert alone["base"].token_ids == base_before.token_ids, "loading adapters changed the base model"
    assert alone["a0"].text != alone["base"].text, "adapter a left the output unchanged"
    assert alone["b0"].text != alone["base"].text, "adapter b left the output unchanged"
    assert alone["a0"].text != alone["b0"].text, "adapters a and b give the same output"

    # The same four in one batch: base, a and b rows in the same forward.
    watch = batch_watch(engine)
    mixed = {name: recorder(name) for name, _, _ in cases}
    held = gate(engine)
    for name, ids, adapter in cases:
        engine.submit(EngineRequest(name, ids, GREEDY, adapter), mixed[name])
    held.open()
    for name, ids, _ in cases:
        assert mixed[name].wait() == Done("length", len(ids), 16)
        assert mixed[name].token_ids == alone[name].token_ids, f"{name}: batched output differs"
        assert mixed[name].text == alone[name].text
    assert watch.max_batch == 4

    with pytest.raises(NotFound):
        engine.submit(EngineRequest("nope", p0, GREEDY, "c"), recorder("nope"))


# --- the core: load, evict, reload ---------------------------------------------------------------
@pytest.fixture
def core(tmp_path: Path, model_cache: Path, artifact_root: Path) -> Iterator[InferenceCore]:
    settings = InferenceSettings(
        data_dir=tmp_path,
        model_cache_dir=model_cache,
        artifact_root=str(artifact_root),
        dtype="float32",
        device="cpu",
        max_batch_size=4,
    )
    c = InferenceCore(settings)
    yield c
    c.close()


def generate(core: InferenceCore, adapter: str | None) -> tuple[str, Done]:
    inp = GenerateInput(
        messages=[Message("user", "Tell me about the moon.")],
        sampling=SamplingInput(max_tokens=16, ignore_eos=True),
    )

    async def run() -> tuple[str, Done]:
        parts: list[str] = []
        async for event in core.generate(inp, adapter):
            if isinstance(event, Delta):
                parts.append(event.text)
            else:
                assert isinstance(event, Done)
                return "".join(parts), event
        raise AssertionError("the stream ended without Done")

    return asyncio.run(run())


def settle(engine: Engine) -> None:
    """Wait until the engine thread has processed pending adapter unloads: a loop iteration runs
    its calls first and its unloads after, so the second call returns after an iteration that
    saw the unload request."""
    engine.call(lambda: None).result(60)
    engine.call(lambda: None).result(60)


@pytest.mark.slow  # the real SmolLM2 with LoRA adapters
def test_core_evicts_and_reloads_an_adapter(core: InferenceCore, lora_adapter: Callable[[int], Any]) -> None:
    art = lora_adapter(1)
    ref = AdapterInput("team/moon-lora:v1", art.uri, art.sha256)

    info, already = core.load_adapter(ref)
    assert not already
    text_a, done = generate(core, core.adapter_for(ref.ref))
    assert done.finish_reason == "length" and done.completion_tokens == 16
    text_base, _ = generate(core, None)
    assert text_a != text_base, "the adapter left the output unchanged"
    assert core.load_adapter(ref)[1], "a second load of a loaded adapter loaded it again"
    assert core.stats()["adapter_loads_total"] == 1

    assert core.unload_adapter(ref.ref, evicted=True)
    assert core.adapters() == []
    with pytest.raises(NotFound):
        core.adapter_for(ref.ref)
    settle(core.engine)
    assert info.name not in core.engine.adapters
    assert core.engine.stats.adapter_unloads_total == 1
    with pytest.raises(NotFound):
        generate(core, info.name)  # the engine no longer has it either

    info2, already = core.load_adapter(ref)
    assert not already and info2.name == info.name
    text_again, _ = generate(core, core.adapter_for(ref.ref))
    assert text_again == text_a, "the reloaded adapter gives a different output"
    assert generate(core, None)[0] == text_base, "evicting and reloading changed the base model"
    stats = core.stats()
    assert (stats["adapter_loads_total"], stats["adapter_evictions_total"], stats["adapters_loaded"]) == (
        2,
        1,
        1,
    )
