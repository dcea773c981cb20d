"""The inference core on a real (tiny, random) Llama: encoding, request validation with the
field that is wrong, generation, model facts and adapters. No Ray, no gRPC."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from keel_common.errors import InvalidArgument, NotFound
from keel_inference.core import AdapterInput, GenerateInput, InferenceCore, Message, SamplingInput
from keel_inference.engine import Delta, Done, Event

CHAT = [Message("system", "Be brief."), Message("user", "Name a colour.")]


def run(core: InferenceCore, inp: GenerateInput, adapter: str | None = None) -> tuple[str, Done, list[Event]]:
    """(text, Done, events) of one request, through the core's async stream."""

    async def collect() -> list[Event]:
        return [event async for event in core.generate(inp, adapter)]

    events = asyncio.run(collect())
    done = events[-1]
    assert isinstance(done, Done), done
    assert all(isinstance(e, Delta) for e in events[:-1])
    return "".join(e.text for e in events if isinstance(e, Delta)), done, events


def greedy(max_tokens: int = 12, **sampling: Any) -> GenerateInput:
    return GenerateInput(
        messages=CHAT, sampling=SamplingInput(max_tokens=max_tokens, ignore_eos=True, **sampling)
    )


def test_count_tokens_encodes_the_chat_as_the_template_renders_it(tiny_core: InferenceCore) -> None:
    ids, ctx = tiny_core.count_tokens("", CHAT, None)
    rendered = tiny_core.tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in CHAT], tokenize=False, add_generation_prompt=True
    )
    assert ids == tiny_core.tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert ctx == 512 == tiny_core.context_length  # the tiny model's max_position_embeddings

    prompt_ids, _ = tiny_core.count_tokens(tiny_core.settings.model, None, "plain text")
    assert prompt_ids == tiny_core.token_ids("plain text")

    text, n = tiny_core.apply_chat_template("", CHAT, True)
    assert text == rendered and n == len(ids)
    without, m = tiny_core.apply_chat_template("", CHAT, False)
    assert text.startswith(without) and m < n


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        (GenerateInput(messages=[]), "messages"),
        (GenerateInput(messages=[Message("robot", "hi")]), "messages[0].role"),
        (GenerateInput(prompt=""), "messages"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(max_tokens=-1)), "sampling.max_tokens"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(max_tokens=600)), "sampling.max_tokens"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(temperature=2.5)), "sampling.temperature"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(top_p=0.0)), "sampling.top_p"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(top_k=-1)), "sampling.top_k"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(stop=[""])), "sampling.stop"),
        (GenerateInput(messages=CHAT, sampling=SamplingInput(stop=["x"] * 17)), "sampling.stop"),
        (GenerateInput(prompt="word " * 600), "messages"),
    ],
)
def test_invalid_requests_name_the_field(tiny_core: InferenceCore, inp: GenerateInput, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        tiny_core.prepare(inp)
    assert err.value.field == field


def test_another_model_is_not_found(tiny_core: InferenceCore) -> None:
    with pytest.raises(NotFound) as err:
        tiny_core.prepare(GenerateInput(model="gpt-4o", messages=CHAT))
    assert err.value.field == "model"
    with pytest.raises(NotFound):
        tiny_core.count_tokens("gpt-4o", CHAT, None)


def test_generation_is_greedy_deterministic_and_counted(tiny_core: InferenceCore) -> None:
    before = tiny_core.stats()
    text, done, events = run(tiny_core, greedy(12))
    prompt_len = len(tiny_core.count_tokens("", CHAT, None)[0])
    assert done == Done("length", prompt_len, 12)
    assert sum(len(e.token_ids) for e in events if isinstance(e, Delta)) == 12
    assert run(tiny_core, greedy(12))[0] == text, "greedy decoding is not deterministic"
    after = tiny_core.stats()
    assert after["completion_tokens_total"] - before["completion_tokens_total"] == 24
    assert after["prompt_tokens_total"] - before["prompt_tokens_total"] == 2 * prompt_len
    assert (after["running"], after["waiting"]) == (0, 0)


def test_a_stop_string_ends_generation_before_it(tiny_core: InferenceCore) -> None:
    text, _, _ = run(tiny_core, greedy(12))
    stop = text[len(text) // 2 :][:3]
    assert stop, text
    cut, done, _ = run(tiny_core, greedy(12, stop=[stop]))
    assert done.finish_reason == "stop"
    assert cut == text[: text.index(stop)]


def test_closing_the_stream_cancels_the_request(tiny_core: InferenceCore) -> None:
    async def first_delta_then_close() -> None:
        stream = tiny_core.generate(greedy(400))
        assert isinstance(await anext(stream), Delta)
        await stream.aclose()  # type: ignore[attr-defined]

    asyncio.run(first_delta_then_close())
    # The engine drops the row at its next step; a call runs between steps, so after two the
    # cancel has been seen.
    tiny_core.engine.call(lambda: None).result(60)
    tiny_core.engine.call(lambda: None).result(60)
    assert tiny_core.engine.counts() == (0, 0)


def test_info_describes_the_served_model(tiny_core: InferenceCore) -> None:
    info = tiny_core.info()
    assert info.model == tiny_core.settings.model
    assert (info.context_length, info.dtype, info.ready) == (512, "float32", True)
    assert (info.tensor_parallel_size, info.max_adapters, info.adapters) == (1, 2, [])


def test_adapters_load_once_change_the_output_and_unload(tiny_core: InferenceCore, tiny_lora: Any) -> None:
    ref = AdapterInput("team/tiny:v1", tiny_lora.uri, tiny_lora.sha256)
    base_text = run(tiny_core, greedy(12))[0]
    info, already = tiny_core.load_adapter(ref)
    try:
        assert not already and info.sha256 == tiny_lora.sha256 and not info.pinned
        assert tiny_core.is_current(ref) and tiny_core.is_current(AdapterInput(ref.ref))
        assert not tiny_core.is_current(AdapterInput(ref.ref, "", "0" * 64))
        assert tiny_core.load_adapter(AdapterInput(ref.ref), pin=True)[1], "loaded twice"
        assert tiny_core.adapter(ref.ref) is not None and tiny_core.adapter(ref.ref).pinned  # type: ignore[union-attr]
        adapted = run(tiny_core, greedy(12), tiny_core.adapter_for(ref.ref))[0]
        assert adapted != base_text, "the adapter left the output unchanged"
        assert [a.ref for a in tiny_core.info().adapters] == [ref.ref]
    finally:
        assert tiny_core.unload_adapter(ref.ref)
    assert not tiny_core.unload_adapter(ref.ref)
    with pytest.raises(NotFound) as err:
        tiny_core.adapter_for(ref.ref)
    assert err.value.field == "adapter.ref"
    assert run(tiny_core, greedy(12))[0] == base_text, "unloading changed the base model's output"


@pytest.mark.parametrize(
    ("adapter", "error", "field"),
    [
        (AdapterInput(""), InvalidArgument, "adapter.ref"),
        (AdapterInput("never/loaded"), NotFound, "adapter.ref"),
        (AdapterInput("x", "adapters/does-not-exist"), NotFound, "adapter.artifact_uri"),
        (AdapterInput("x", "file:///outside/the/store"), InvalidArgument, "artifact_uri"),
    ],
)
def test_bad_adapter_loads_name_the_field(
    tiny_core: InferenceCore, adapter: AdapterInput, error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as err:
        tiny_core.load_adapter(adapter)
    assert getattr(err.value, "field", None) == field
