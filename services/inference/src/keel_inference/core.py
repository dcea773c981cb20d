"""The inference core of one replica: model, runner, engine, adapters, request validation.

Transport-agnostic: the Ray Serve deployment wraps it, tests drive it directly. Requests
arrive as plain ``GenerateInput`` values (the front converts protos), are validated against
the tokenizer and the context length here, and come back as an async stream of engine events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import torch

from keel_common.artifacts import ArtifactStore
from keel_common.errors import FailedPrecondition, InvalidArgument, KeelError, NotFound
from keel_common.ids import new_id
from keel_common.loader import fetch_cached, load_model, pick_device, pick_dtype, resolve_source
from keel_inference.batcher import ModelRunner
from keel_inference.config import InferenceSettings
from keel_inference.engine import Delta, Done, Engine, EngineConfig, EngineRequest, Event, Failed
from keel_inference.sampling import SamplingConfig
from keel_inference.values import AdapterInfo, AdapterInput, EngineInfo, GenerateInput, Message, SamplingInput

# The request and result values live in ``values``; importing them from here keeps working.
__all__ = ["AdapterInfo", "AdapterInput", "GenerateInput", "InferenceCore", "Message", "SamplingInput"]

log = logging.getLogger(__name__)

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
MAX_STOP = 16


def _range(value: float | None, lo: float, hi: float, name: str, lo_open: bool = False) -> None:
    if value is None:
        return
    if value != value or value > hi or value < lo or (lo_open and value == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise InvalidArgument(f"must be in {bound}, got {value}", field=f"sampling.{name}")


class _LoopBridge:
    """Hands engine events to asyncio queues with one loop wake-up per batch of events (a
    decode step produces one event per running request) instead of one per event."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._pending: list[tuple[asyncio.Queue[Event], Event]] = []

    def post(self, queue: asyncio.Queue[Event], event: Event) -> None:
        with self._lock:
            self._pending.append((queue, event))
            if len(self._pending) > 1:
                return  # a drain is already scheduled
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            # The reader's loop is closed (its owner went away mid-request, e.g. a cancel's Done
            # arriving late): nobody is left to read, and the engine thread must not die of it.
            with self._lock:
                self._pending.clear()

    def _drain(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        for queue, event in items:
            queue.put_nowait(event)


class InferenceCore:
    def __init__(self, settings: InferenceSettings, placement: Any = None) -> None:
        self.settings = settings
        # Ray sets OMP_NUM_THREADS=1 in actors with num_cpus=1, which halves decode speed on a
        # 2-core machine; the engine is the only compute in its process, so use what it may.
        threads = settings.torch_threads or len(os.sched_getaffinity(0))
        torch.set_num_threads(threads)
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        self.store = ArtifactStore(settings.resolved_artifact_root(), settings.artifact_endpoint_url)
        self.cache_dir = settings.resolved_model_cache()
        resolved = resolve_source(settings.model_source, self.cache_dir, self.store)
        self.source = resolved.source
        tp = settings.tensor_parallel_size
        if tp > 1:
            from transformers import AutoConfig, AutoTokenizer

            from keel_inference.tp import TPRunner

            self.tokenizer = AutoTokenizer.from_pretrained(resolved.path)
            self.model_config = AutoConfig.from_pretrained(resolved.path)
            self.runner: Any = TPRunner(
                str(resolved.path),
                tp,
                device=self.device.type,
                dtype=str(self.dtype).removeprefix("torch."),
                cpus_per_rank=settings.tp_worker_cpus,
                threads=settings.torch_threads,
                placement=placement,
            )
        else:
            model, self.tokenizer = load_model(resolved.path, self.device, self.dtype)
            self.model_config = model.config
            self.runner = ModelRunner(model)
        self.context_length = settings.max_model_len or int(
            getattr(self.model_config, "max_position_embeddings", 2048)
        )
        self.engine = Engine(
            self.runner,
            self.tokenizer,
            EngineConfig(
                max_batch_size=settings.max_batch_size,
                max_batch_tokens=settings.max_batch_tokens,
                max_waiting=settings.max_waiting,
                max_model_len=self.context_length,
                eos_ids=self._eos_ids(),
                torch_threads=threads,
            ),
        )
        self.engine.start()
        self._bridges: dict[int, _LoopBridge] = {}
        self._adapters: OrderedDict[str, AdapterInfo] = OrderedDict()
        self._adapter_lock = threading.Lock()
        self.adapter_loads_total = 0
        self.adapter_evictions_total = 0
        log.info(
            "model ready",
            extra={"model": settings.model, "source": self.source, "dtype": str(self.dtype), "tp": tp},
        )

    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for v in (self.tokenizer.eos_token_id, getattr(self.model_config, "eos_token_id", None)):
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, list):
                ids.update(v)
        return frozenset(ids)

    def _bridge(self) -> _LoopBridge:
        loop = asyncio.get_running_loop()
        bridge = self._bridges.get(id(loop))
        if bridge is None or bridge.loop is not loop:
            bridge = self._bridges[id(loop)] = _LoopBridge(loop)
        return bridge

    def close(self) -> None:
        self.engine.stop()
        shutdown = getattr(self.runner, "shutdown", None)
        if shutdown is not None:
            shutdown()

    # --- model info ---------------------------------------------------------------------------
    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def check_model(self, model: str) -> None:
        if model and model != self.settings.model:
            raise NotFound(
                f"model {model!r} is not served here (this is {self.settings.model!r})", field="model"
            )

    def health(self) -> None:
        if not self.engine.alive:
            raise FailedPrecondition(f"the engine loop stopped: {self.engine.fatal!r}")

    def info(self) -> EngineInfo:
        s = self.settings
        return EngineInfo(
            model=s.model,
            source=self.source,
            context_length=self.context_length,
            dtype=self.dtype_name,
            tensor_parallel_size=s.tensor_parallel_size,
            replicas=s.num_replicas,
            ready=self.engine.alive,
            max_adapters=s.max_adapters,
            adapters=self.adapters(),
        )

    # --- tokenizer helpers ----------------------------------------------------------------------
    def _messages(self, messages: list[Message], field_name: str = "messages") -> list[dict[str, str]]:
        if not messages:
            raise InvalidArgument("must not be empty", field=field_name)
        out = []
        for i, m in enumerate(messages):
            if m.role not in ROLES:
                raise InvalidArgument(
                    f"unknown role {m.role!r}; expected one of {sorted(ROLES)}",
                    field=f"{field_name}[{i}].role",
                )
            item = {"role": m.role, "content": m.content}
            if m.name:
                item["name"] = m.name
            out.append(item)
        return out

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        rendered = self.tokenizer.apply_chat_template(
            self._messages(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )
        return str(rendered)

    def encode(self, messages: list[Message] | None, prompt: str | None) -> list[int]:
        if messages is not None:
            text = self.render(messages)
        elif prompt:
            text = prompt
        else:
            raise InvalidArgument("either messages or a non-empty prompt is required", field="messages")
        return self.token_ids(text)

    def token_ids(self, text: str) -> list[int]:
        """Ids of already rendered text (the template added any special tokens)."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def count_tokens(
        self, model: str, messages: list[Message] | None, prompt: str | None
    ) -> tuple[list[int], int]:
        """(token ids, context length) of a chat or a prompt, as a request would encode it."""
        self.check_model(model)
        return self.encode(messages, prompt), self.context_length

    def apply_chat_template(
        self, model: str, messages: list[Message], add_generation_prompt: bool
    ) -> tuple[str, int]:
        """(rendered prompt, its token count)."""
        self.check_model(model)
        text = self.render(messages, add_generation_prompt)
        return text, len(self.token_ids(text))

    # --- generation -----------------------------------------------------------------------------
    def _sampling(self, s: SamplingInput, prompt_len: int) -> SamplingConfig:
        room = self.context_length - prompt_len
        if room <= 0:
            raise InvalidArgument(
                f"the prompt has {prompt_len} tokens; the context length is {self.context_length}",
                field="messages",
            )
        if s.max_tokens < 0:
            raise InvalidArgument("must be >= 0", field="sampling.max_tokens")
        if s.max_tokens > room:
            raise InvalidArgument(
                f"{s.max_tokens} tokens do not fit: the prompt has {prompt_len} of the "
                f"{self.context_length}-token context",
                field="sampling.max_tokens",
            )
        _range(s.temperature, 0.0, 2.0, "temperature")
        _range(s.top_p, 0.0, 1.0, "top_p", lo_open=True)
        if s.top_k is not None and s.top_k < 0:
            raise InvalidArgument("must be >= 0", field="sampling.top_k")
        _range(s.repetition_penalty, 0.0, 10.0, "repetition_penalty", lo_open=True)
        _range(s.frequency_penalty, -2.0, 2.0, "frequency_penalty")
        _range(s.presence_penalty, -2.0, 2.0, "presence_penalty")
        if len(s.stop) > MAX_STOP or any(not x for x in s.stop):
            raise InvalidArgument(f"at most {MAX_STOP} non-empty strings", field="sampling.stop")
        return SamplingConfig(
            max_tokens=s.max_tokens or min(self.settings.default_max_tokens, room),
            temperature=s.temperature or 0.0,
            top_p=1.0 if s.top_p is None else s.top_p,
            top_k=s.top_k or 0,
            repetition_penalty=1.0 if s.repetition_penalty is None else s.repetition_penalty,
            frequency_penalty=s.frequency_penalty or 0.0,
            presence_penalty=s.presence_penalty or 0.0,
            stop=tuple(s.stop),
            seed=s.seed,
            ignore_eos=s.ignore_eos,
        )

    def prepare(self, inp: GenerateInput, adapter: str | None = None) -> EngineRequest:
        self.check_model(inp.model)
        ids = self.encode(inp.messages, inp.prompt)
        sampling = self._sampling(inp.sampling, len(ids))
        return EngineRequest(inp.request_id or new_id("req"), ids, sampling, adapter)

    async def generate(self, inp: GenerateInput, adapter: str | None = None) -> AsyncIterator[Event]:
        """Events for one request. Deltas that pile up while the consumer is busy are merged,
        so a slow reader costs fewer messages, not a slower batch. Closing the iterator (a
        cancelled or disconnected client) cancels the request at once."""
        req = self.prepare(inp, adapter)
        bridge = self._bridge()
        queue: asyncio.Queue[Event] = asyncio.Queue()

        def sink(event: Event) -> None:
            bridge.post(queue, event)

        self.engine.submit(req, sink)
        finished = False
        try:
            while True:
                event = await queue.get()
                while isinstance(event, Delta) and not queue.empty():
                    nxt = queue.get_nowait()
                    if not isinstance(nxt, Delta):
                        yield event
                        event = nxt
                        break
                    event = Delta(event.text + nxt.text, event.token_ids + nxt.token_ids)
                if isinstance(event, Failed):
                    finished = True
                    raise event.error
                if isinstance(event, Done):
                    finished = True
                yield event
                if finished:
                    return
        finally:
            if not finished:
                self.engine.cancel(req.req_id)

    # --- adapters -------------------------------------------------------------------------------
    @staticmethod
    def adapter_name(ref: str) -> str:
        # peft keeps adapters in ModuleDicts, whose keys may not contain "."
        return "lora_" + hashlib.sha256(ref.encode()).hexdigest()[:16]

    def _fetch(self, uri: str, sha256: str) -> tuple[Path, str]:
        """(local dir, sha256) of a verified adapter artifact, cached by its sha256."""
        try:
            final, digest = fetch_cached(
                self.store,
                uri,
                self.cache_dir / "adapters",
                sha256 or None,
                marker="adapter_config.json",
                missing="is not a PEFT adapter",
                field="adapter.artifact_uri",
            )
        except NotFound:
            raise NotFound(f"no adapter artifact at {uri}", field="adapter.artifact_uri") from None
        cfg = json.loads((final / "adapter_config.json").read_text())
        if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
            raise InvalidArgument(
                f"only LoRA adapters are served, got {cfg.get('peft_type')}", field="adapter"
            )
        return final, digest

    def load_adapter(self, adapter: AdapterInput, pin: bool = False) -> tuple[AdapterInfo, bool]:
        """Load (or find) an adapter; returns (info, already_loaded)."""
        if not adapter.ref:
            raise InvalidArgument("is required", field="adapter.ref")
        with self._adapter_lock:
            info = self._adapters.get(adapter.ref)
            if info is not None and self._current(info, adapter):
                info.pinned = info.pinned or pin
                info.last_used_at = time.time()
                self._adapters.move_to_end(adapter.ref)
                return info, True
        if not adapter.artifact_uri:
            raise NotFound(
                f"adapter {adapter.ref} is not loaded and no artifact_uri was given", field="adapter.ref"
            )
        path, digest = self._fetch(adapter.artifact_uri, adapter.artifact_sha256)
        name = self.adapter_name(adapter.ref + "@" + path.name)
        try:
            self.engine.load_adapter(name, str(path)).result()
        except KeelError:
            raise
        except Exception as e:
            raise InvalidArgument(
                f"adapter {adapter.ref} does not fit base model {self.settings.model}: {e}", field="adapter"
            ) from e
        now = time.time()
        info = AdapterInfo(adapter.ref, name, digest, pin, now, now)
        with self._adapter_lock:
            old = self._adapters.pop(adapter.ref, None)
            self._adapters[adapter.ref] = info
            self.adapter_loads_total += 1
        if old is not None and old.name != name:
            self.engine.unload_adapter(old.name)
        return info, False

    def unload_adapter(self, ref: str, evicted: bool = False) -> bool:
        with self._adapter_lock:
            info = self._adapters.pop(ref, None)
            if info is None:
                return False
            if evicted:
                self.adapter_evictions_total += 1
        self.engine.unload_adapter(info.name)
        return True

    def adapter_for(self, ref: str) -> str:
        with self._adapter_lock:
            info = self._adapters.get(ref)
            if info is None:
                raise NotFound(f"adapter {ref} is not loaded", field="adapter.ref")
            info.last_used_at = time.time()
            return info.name

    @staticmethod
    def _current(info: AdapterInfo, adapter: AdapterInput) -> bool:
        return not adapter.artifact_sha256 or adapter.artifact_sha256.lower() == info.sha256

    def is_current(self, adapter: AdapterInput) -> bool:
        """Whether this ref is loaded with the requested artifact (any, when no sha256 is given)."""
        info = self.adapter(adapter.ref)
        return info is not None and self._current(info, adapter)

    def adapter(self, ref: str) -> AdapterInfo | None:
        with self._adapter_lock:
            return self._adapters.get(ref)

    def adapters(self) -> list[AdapterInfo]:
        with self._adapter_lock:
            return list(self._adapters.values())

    def stats(self) -> dict[str, Any]:
        st = self.engine.stats
        running, waiting = self.engine.counts()
        cached, padded = self.runner.cached_tokens()
        return {
            "running": running,
            "waiting": waiting,
            "batch_size": st.batch_size,
            "steps": st.steps,
            "kv_reserved_tokens": st.kv_reserved_tokens,
            "kv_budget_tokens": self.settings.max_batch_tokens,
            # Read on demand, not every step: with tensor parallelism it is a call to rank 0.
            "kv_cached_tokens": cached,
            "kv_padded_slots": padded,
            "prompt_tokens_total": st.prompt_tokens_total,
            "completion_tokens_total": st.completion_tokens_total,
            "adapters_loaded": len(self._adapters),
            "adapter_loads_total": self.adapter_loads_total,
            "adapter_evictions_total": self.adapter_evictions_total,
        }
