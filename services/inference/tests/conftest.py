"""Fixtures for the inference core tests: the real SmolLM2 (float32, CPU), a tiny random Llama,
real PEFT LoRA adapters in a real artifact store, and a recorder for engine events.

Equality tests (batched vs alone, N ranks vs one, mixed-adapter batch vs alone) run in float32:
there the kernels give the same greedy tokens whatever the batch shape. In bfloat16 the GEMM
shapes of a batch differ from those of a single row and outputs can drift apart after many
tokens, so such a test would be flaky rather than wrong.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from keel_inference.engine import Delta, Done, Engine, EngineConfig, EngineRequest, Event, Failed
from keel_inference.sampling import SamplingConfig

REPO = Path(__file__).resolve().parents[3]
WAIT_S = 120.0  # generous upper bound for one engine request on a busy 2-core machine


# --- models ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tokenizer(smollm2: tuple[Any, Any]) -> Any:
    return smollm2[1]


@pytest.fixture(scope="session")
def eos_ids(smollm2: tuple[Any, Any]) -> frozenset[int]:
    return frozenset({int(smollm2[1].eos_token_id)})


@pytest.fixture(scope="session")
def chat(tokenizer: Any) -> Callable[[str], list[int]]:
    """Token ids of a one-turn chat prompt, encoded as the inference core encodes it."""

    def encode(text: str) -> list[int]:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        return ids

    return encode


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_llama: Callable[..., Path]) -> Path:
    """A random 2-layer Llama (hidden 64, 4 heads, 2 KV heads) with SmolLM2's tokenizer."""
    return tiny_llama(hidden_size=64, intermediate_size=128, max_position_embeddings=512)


# --- engine events -----------------------------------------------------------------------------
@dataclass
class Recorder:
    """A sink for one request: every event, plus threading.Events to wait on (no sleeps)."""

    name: str = ""
    events: list[Event] = field(default_factory=list)
    first_delta: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    log: list[str] | None = None  # a shared list: the order in which requests finished

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Delta):
            self.first_delta.set()
        else:
            if self.log is not None:
                self.log.append(self.name)
            self.finished.set()

    def wait(self, timeout: float = WAIT_S) -> Done:
        assert self.finished.wait(timeout), f"request {self.name!r} did not finish in {timeout}s"
        last = self.events[-1]
        if isinstance(last, Failed):
            raise last.error
        assert isinstance(last, Done), last
        return last

    @property
    def done(self) -> Done:
        last = self.events[-1]
        assert isinstance(last, Done), last
        return last

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, Delta))

    @property
    def token_ids(self) -> list[int]:
        return [t for e in self.events if isinstance(e, Delta) for t in e.token_ids]


class Gate:
    """Holds the engine thread between two steps (an ``Engine.call`` that blocks), so that
    requests submitted meanwhile are admitted together into one step."""

    def __init__(self, engine: Engine) -> None:
        self._entered = threading.Event()
        self._release = threading.Event()

        def hold() -> None:
            self._entered.set()
            assert self._release.wait(WAIT_S)

        self._future = engine.call(hold)
        assert self._entered.wait(WAIT_S), "the engine thread never ran the gate"

    def open(self) -> None:
        self._release.set()
        self._future.result(WAIT_S)


class BatchWatch:
    """``engine.on_step`` hook: the largest batch seen, and a wait for a stats condition."""

    def __init__(self, engine: Engine) -> None:
        self.max_batch = 0
        self._cv = threading.Condition()
        self._engine = engine
        engine.on_step = self._on_step

    def _on_step(self, stats: Any) -> None:
        with self._cv:
            self.max_batch = max(self.max_batch, stats.batch_size)
            self._cv.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = WAIT_S) -> None:
        with self._cv:
            ok = self._cv.wait_for(lambda: predicate(self._engine.stats), timeout)
        assert ok, f"engine stats never satisfied the condition: {self._engine.stats}"


@pytest.fixture(scope="session")
def recorder() -> type[Recorder]:
    return Recorder


@pytest.fixture(scope="session")
def gate() -> type[Gate]:
    return Gate


@pytest.fixture(scope="session")
def batch_watch() -> type[BatchWatch]:
    return BatchWatch


@pytest.fixture
def make_engine(eos_ids: frozenset[int], tokenizer: Any) -> Iterator[Callable[..., Engine]]:
    """``make(runner, **EngineConfig fields)``: a started engine, stopped at teardown."""
    engines: list[Engine] = []

    def make(runner: Any, **config: Any) -> Engine:
        config.setdefault("eos_ids", eos_ids)
        config.setdefault("max_model_len", 2048)
        engine = Engine(runner, tokenizer, EngineConfig(**config))
        engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop()
        assert engine.fatal is None, f"the engine loop died: {engine.fatal!r}"


@pytest.fixture(scope="session")
def run_alone() -> Callable[..., Recorder]:
    """Serve one request on an otherwise idle engine and wait for it."""

    def run(
        engine: Engine, prompt_ids: list[int], sampling: SamplingConfig, adapter: str | None = None
    ) -> Recorder:
        rec = Recorder(f"alone-{time.monotonic_ns()}")
        engine.submit(EngineRequest(rec.name, prompt_ids, sampling, adapter), rec)
        rec.wait()
        return rec

    return run


# --- the core and the gRPC front over a tiny model (no Ray) ------------------------------------
@pytest.fixture(scope="session")
def tiny_core(
    tiny_llama_dir: Path, model_cache: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """One ``InferenceCore`` over the tiny Llama for the session (float32, CPU): the core tests
    and the gRPC front tests share its model load. Tests leave it without adapters."""
    from keel_inference.config import InferenceSettings
    from keel_inference.core import InferenceCore

    settings = InferenceSettings(
        data_dir=tmp_path_factory.mktemp("inference-core"),
        model_source=str(tiny_llama_dir),
        model_cache_dir=model_cache,
        artifact_root=str(artifact_root),
        dtype="float32",
        device="cpu",
        max_batch_size=4,
        max_adapters=2,
    )
    core = InferenceCore(settings)
    yield core
    core.close()
    assert core.engine.fatal is None, f"the engine loop died: {core.engine.fatal!r}"


@dataclass(frozen=True)
class TinyAdapter:
    uri: str
    sha256: str


@pytest.fixture(scope="session")
def tiny_lora(
    tiny_llama_dir: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> TinyAdapter:
    """A PEFT LoRA adapter for the tiny Llama with random A and B (so it changes the output),
    in the artifact store the tiny core reads."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from keel_common.artifacts import ArtifactStore

    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, torch_dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    local = tmp_path_factory.mktemp("tiny-lora")
    get_peft_model(model, cfg).save_pretrained(str(local))
    ref = ArtifactStore(str(artifact_root)).put_dir("adapters/tiny-lora", local)
    return TinyAdapter(ref.uri, ref.sha256)
