"""Training test fixtures: SmolLM2's real tokenizer, a tiny random Llama that shares it (so the
training loop runs in well under a second per step), real Valkey stores under a key prefix of
their own, and a ``TrainingCore`` whose ``enqueue`` records what it was asked to queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from keel_common.artifacts import ArtifactStore
from keel_common.redis import redis_from_url
from keel_training.config import TrainingSettings
from keel_training.core import Tokenizers, TrainingCore
from keel_training.store import Store

SMOL = "smollm2-135m-instruct"
TINY = "tiny-llama"


@pytest.fixture(scope="session")
def tok(smollm2_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


@pytest.fixture(scope="session")
def tiny_dir(tiny_llama: Callable[..., Path]) -> Path:
    """A random 2-layer Llama (hidden 32) with SmolLM2's tokenizer saved alongside."""
    return tiny_llama()


# --- Redis ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def rclient(valkey_url: str) -> Iterator[redis.Redis]:
    client = redis_from_url(valkey_url)
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own: tests share one Valkey server."""
    return f"test-training:{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(rclient: redis.Redis, prefix: str) -> Store:
    return Store(rclient, prefix, events_maxlen=1000)


# --- the core ------------------------------------------------------------------------------------
class Enqueued(list[tuple[str, str]]):
    """A recording ``enqueue(job_id, queue)``."""

    def __call__(self, job_id: str, queue: str) -> None:
        self.append((job_id, queue))


@pytest.fixture
def settings(
    tmp_path: Path, valkey_url: str, smollm2_dir: Path, tiny_dir: Path, prefix: str
) -> TrainingSettings:
    return TrainingSettings(
        data_dir=tmp_path,
        redis_url=valkey_url,
        artifact_root=str(tmp_path / "art"),
        model_cache_dir=smollm2_dir.parent,
        base_models={SMOL: "", TINY: str(tiny_dir)},
        key_prefix=prefix,
    )


@pytest.fixture(scope="session")
def shared_tokenizers(
    tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path, tiny_dir: Path
) -> Tokenizers:
    """One tokenizer cache for every core in the session (each load costs about a second)."""
    root = tmp_path_factory.mktemp("tok-art")
    s = TrainingSettings(
        data_dir=root, model_cache_dir=smollm2_dir.parent, base_models={SMOL: "", TINY: str(tiny_dir)}
    )
    return Tokenizers(s, ArtifactStore(str(root / "art")))


@pytest.fixture
def artifacts(settings: TrainingSettings) -> ArtifactStore:
    return ArtifactStore(settings.resolved_artifact_root())


@pytest.fixture
def enqueued() -> Enqueued:
    return Enqueued()


@pytest.fixture
def core(
    settings: TrainingSettings,
    store: Store,
    artifacts: ArtifactStore,
    enqueued: Enqueued,
    shared_tokenizers: Tokenizers,
) -> TrainingCore:
    c = TrainingCore(settings, store, artifacts, enqueued)
    c.tokenizers = shared_tokenizers
    return c


# --- data ----------------------------------------------------------------------------------------
def example(i: int, answer: str | None = None) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": answer or f"{i} plus {i} is {2 * i}."},
        ]
    }


def jsonl(rows: list[Any]) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture(scope="session")
def chat_file() -> Callable[..., bytes]:
    """``chat_file(n, offset=0)``: JSONL bytes of ``n`` valid one-turn examples."""

    def make(n: int, offset: int = 0) -> bytes:
        return jsonl([example(offset + i) for i in range(n)])

    return make


@pytest.fixture
def upload(core: TrainingCore, chat_file: Callable[..., bytes]) -> Callable[..., Any]:
    """``upload(tenant="t1", n=10)``: a valid training file stored through the core."""

    def make(tenant: str = "t1", n: int = 10, offset: int = 0) -> Any:
        return core.upload_file(tenant, "train.jsonl", "fine-tune", chat_file(n, offset))

    return make


# --- the trainer tests' tiny model (test_trainer, test_trainer_dpo) ----------------------------
@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: the tiny model's steps are faster so on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def learnable_dir(tiny_llama: Callable[..., Path]) -> Path:
    """The tiny Llama with a wider weight init: at the default 0.02 a hidden size of 32 cannot
    move the logits far from uniform, so attention-only LoRA could not show learning."""
    return tiny_llama(initializer_range=0.2)
