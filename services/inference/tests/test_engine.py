"""The continuous-batching engine over the real SmolLM2 (float32, CPU; see conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from keel_common.errors import ResourceExhausted
from keel_inference.batcher import ModelRunner
from keel_inference.engine import Done, Engine, EngineRequest
from keel_inference.sampling import SamplingConfig

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Name three colors.",
    "Explain gravity in one sentence to a curious child who keeps asking why.",
]


@pytest.fixture
def engine(smollm2: tuple[Any, Any], make_engine: Callable[..., Engine]) -> Engine:
    return make_engine(ModelRunner(smollm2[0]), max_batch_size=4)


def greedy(max_tokens: int) -> SamplingConfig:
    return SamplingConfig(max_tokens=max_tokens, ignore_eos=True)


@pytest.mark.slow  # decodes with the real SmolLM2
def test_batched_outputs_equal_unbatched(
    engine: Engine, chat: Any, recorder: Any, gate: Any, batch_watch: Any, run_alone: Any
) -> None:
    """Four greedy requests of different lengths; two start together, two join the running
    batch mid-flight, and they leave it at different steps. Each must produce exactly what it
    produces alone (float32: batch shape does not change the argmax)."""
    prompts = [chat(p) for p in PROMPTS]
    assert len({len(p) for p in prompts}) == len(prompts), "prompts of equal length hide padding bugs"
    budgets = [12, 20, 16, 8]
    alone = [run_alone(engine, p, greedy(n)) for p, n in zip(prompts, budgets, strict=True)]

    watch = batch_watch(engine)
    recs = [recorder(f"r{i}") for i in range(4)]
    held = gate(engine)
    for i in (0, 1):
        engine.submit(EngineRequest(f"b{i}", prompts[i], greedy(budgets[i])), recs[i])
    held.open()
    assert recs[0].first_delta.wait(120) and recs[1].first_delta.wait(120)
    held = gate(engine)  # the late pair joins the running batch in one prefill
    for i in (2, 3):
        engine.submit(EngineRequest(f"b{i}", prompts[i], greedy(budgets[i])), recs[i])
    held.open()
    for rec in recs:
        rec.wait()

    assert watch.max_batch == 4, "the four requests never shared a step"
    for i, (a, b) in enumerate(zip(alone, recs, strict=True)):
        assert b.done == Done("length", len(prompts[i]), budgets[i])
        assert b.token_ids == a.token_ids, f"request {i}: batched tokens differ from unbatched"
        assert b.text == a.text
        assert a.text.strip(), f"request {i} produced no text"


@pytest.mark.slow  # decodes with the real SmolLM2
def test_late_short_request_finishes_while_long_ones_run(
    engine: Engine, chat: Any, recorder: Any, batch_watch: Any
) -> None:
    order: list[str] = []
    longs = [recorder(f"long{i}", log=order) for i in range(3)]
    for i, rec in enumerate(longs):
        engine.submit(EngineRequest(rec.name, chat(PROMPTS[i]), greedy(48)), rec)
    for rec in longs:
        assert rec.first_delta.wait(120), "a long request never started"
    watch = batch_watch(engine)
    short = recorder("short", log=order)
    engine.submit(EngineRequest("short", chat(PROMPTS[3]), greedy(4)), short)

    assert short.wait().finish_reason == "length"
    assert not any(rec.finished.is_set() for rec in longs), f"finish order: {order}"
    for rec in longs:
        assert rec.wait().completion_tokens == 48
    assert order[0] == "short"
    assert watch.max_batch == 4


def test_cancel_frees_the_slot_at_once(
    smollm2: tuple[Any, Any], make_engine: Callable[..., Engine], chat: Any, recorder: Any, batch_watch: Any
) -> None:
    runner = ModelRunner(smollm2[0])
    engine = make_engine(runner, max_batch_size=1)
    watch = batch_watch(engine)
    first, second = recorder("first"), recorder("second")
    # Engine steps completed when the first one's Done and the second one's first token arrive.
    steps_at: dict[str, int] = {}

    def stamped(rec: Any) -> Callable[[Any], None]:
        def sink(event: Any) -> None:
            key = f"{rec.name}:{'done' if isinstance(event, Done) else 'started'}"
            steps_at.setdefault(key, engine.stats.steps)
            rec(event)

        return sink

    engine.submit(EngineRequest("first", chat(PROMPTS[0]), greedy(1000)), stamped(first))
    assert first.first_delta.wait(120)
    engine.submit(EngineRequest("second", chat(PROMPTS[1]), greedy(6)), stamped(second))
    assert not second.first_delta.is_set(), "a second request started in a batch of one"
    engine.cancel("first")

    cancelled = first.wait()
    assert cancelled.finish_reason == "cancelled"
    assert cancelled.completion_tokens < 50, "the cancelled request kept generating"
    assert second.wait() == Done("length", len(chat(PROMPTS[1])), 6)
    assert watch.max_batch == 1
    # The second one was prefilled in the very step that followed the cancel.
    assert steps_at["second:started"] == steps_at["first:done"], steps_at
    watch.wait_for(lambda st: st.running == 0 and st.waiting == 0)
    assert runner.cached_tokens() == (0, 0), "the KV cache still holds a finished sequence"
    assert engine.stats.finished_total == {"cancelled": 1, "length": 1}


def test_full_waiting_queue_is_resource_exhausted(
    smollm2: tuple[Any, Any], make_engine: Callable[..., Engine], chat: Any, recorder: Any
) -> None:
    engine = make_engine(ModelRunner(smollm2[0]), max_batch_size=1, max_waiting=1)
    running, waiting = recorder("running"), recorder("waiting")
    engine.submit(EngineRequest("running", chat(PROMPTS[0]), greedy(1000)), running)
    assert running.first_delta.wait(120)
    engine.submit(EngineRequest("waiting", chat(PROMPTS[1]), greedy(4)), waiting)

    with pytest.raises(ResourceExhausted):
        engine.submit(EngineRequest("third", chat(PROMPTS[2]), greedy(4)), recorder("third"))

    engine.cancel("running")
    assert running.wait().finish_reason == "cancelled"
    assert waiting.wait().finish_reason == "length"
    # Room again once the queue drained.
    again = recorder("again")
    engine.submit(EngineRequest("again", chat(PROMPTS[2]), greedy(2)), again)
    assert again.wait().completion_tokens == 2


@pytest.mark.slow  # decodes with the real SmolLM2
def test_seeded_sampling_is_reproducible(
    engine: Engine, chat: Any, recorder: Any, gate: Any, run_alone: Any
) -> None:
    prompt = chat("Write a short story about a dragon.")

    def sampled(seed: int) -> SamplingConfig:
        return SamplingConfig(max_tokens=24, temperature=0.8, top_p=0.9, top_k=50, seed=seed, ignore_eos=True)

    alone = run_alone(engine, prompt, sampled(7))
    # Same seed again, now sharing a batch with another seed: each row has its own generator.
    again, other = recorder("again"), recorder("other")
    held = gate(engine)
    engine.submit(EngineRequest("again", prompt, sampled(7)), again)
    engine.submit(EngineRequest("other", prompt, sampled(8)), other)
    held.open()
    again.wait()
    other.wait()

    assert again.text == alone.text and again.token_ids == alone.token_ids
    assert other.text != alone.text
    greedy_text = run_alone(engine, prompt, greedy(24)).text
    assert alone.text != greedy_text, "temperature 0.8 sampled exactly the greedy text"


@pytest.mark.slow  # decodes with the real SmolLM2
def test_stop_string_eos_length_and_usage(
    engine: Engine, chat: Any, run_alone: Any, eos_ids: frozenset[int], tokenizer: Any
) -> None:
    prompt = chat(PROMPTS[3])
    full = run_alone(engine, prompt, greedy(24))
    assert full.done == Done("length", len(prompt), 24)
    # Streamed token ids add up to the usage, the last token included.
    assert len(full.token_ids) == 24

    # A stop string from the middle of the greedy text, spanning more than one token.
    stop = full.text[12:20]
    cut = full.text.index(stop)
    assert cut > 0
    assert len(tokenizer(stop, add_special_tokens=False)["input_ids"]) > 1
    stopped = run_alone(engine, prompt, SamplingConfig(max_tokens=24, stop=("no such text", stop)))
    assert stopped.text == full.text[:cut], f"stop={stop!r}"
    assert stopped.done.finish_reason == "stop"
    assert stopped.done.prompt_tokens == len(prompt)
    assert stopped.done.completion_tokens < 24
    assert len(stopped.token_ids) == stopped.done.completion_tokens
    assert stopped.token_ids == full.token_ids[: len(stopped.token_ids)]

    # A short factual answer ends with EOS well before max_tokens; EOS is no text.
    prompt = chat(PROMPTS[0])
    eos = run_alone(engine, prompt, SamplingConfig(max_tokens=24))
    assert eos.done.finish_reason == "stop"
    assert eos.done.prompt_tokens == len(prompt)
    assert eos.done.completion_tokens == len(eos.token_ids) < 24
    assert eos.token_ids[-1] in eos_ids
    assert "Paris" in eos.text and "<|im_end|>" not in eos.text
