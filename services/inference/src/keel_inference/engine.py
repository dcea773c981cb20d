"""Iteration-level scheduler: the continuous-batching loop over a runner.

One thread owns the runner. Each iteration it drops finished or cancelled sequences, admits
waiting ones while the batch has room (``max_batch_size``) and the KV budget allows it (a
sequence reserves ``prompt + max_tokens`` tokens), runs one step (decode the running rows,
prefill the admitted ones) and turns the sampled tokens into text events: incremental
detokenisation that never splits a character, stop strings held back until they can no
longer match, EOS, ``max_tokens`` and the context limit. A short request admitted late
finishes while long ones keep running; nothing waits for a batch to drain.

The engine knows nothing of Ray or gRPC: events go to a per-request callback.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from keel_common.errors import InvalidArgument, KeelError, NotFound, ResourceExhausted, Unavailable
from keel_inference.batcher import NewSequence, StepPlan
from keel_inference.sampling import SamplingConfig

log = logging.getLogger(__name__)

STOP, LENGTH, CANCELLED = "stop", "length", "cancelled"


class Runner(Protocol):
    def step(self, plan: StepPlan) -> dict[str, int]: ...
    def add_adapter(self, name: str, path: str) -> None: ...
    def remove_adapter(self, name: str) -> None: ...
    def cached_tokens(self) -> tuple[int, int]: ...


@dataclass
class Delta:
    text: str
    token_ids: list[int]


@dataclass
class Done:
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Failed:
    error: KeelError


Event = Delta | Done | Failed
Sink = Callable[[Event], None]


@dataclass
class EngineRequest:
    req_id: str
    prompt_ids: list[int]
    sampling: SamplingConfig
    adapter: str | None = None


@dataclass
class EngineConfig:
    max_batch_size: int = 32
    max_batch_tokens: int = 32768
    max_waiting: int = 256
    max_model_len: int = 8192
    eos_ids: frozenset[int] = frozenset()
    # Intra-op threads for the forward passes, set on the engine thread itself: OpenMP's
    # thread count is per calling thread, and Ray starts actors with OMP_NUM_THREADS=1.
    torch_threads: int = 0


@dataclass
class EngineStats:
    running: int = 0
    waiting: int = 0
    steps: int = 0
    batch_size: int = 0
    kv_reserved_tokens: int = 0
    prompt_tokens_total: int = 0
    completion_tokens_total: int = 0
    adapter_unloads_total: int = 0
    finished_total: dict[str, int] = field(default_factory=dict)


class _Detok:
    """Incremental detokenisation (the prefix/read offset scheme of TGI and vLLM)."""

    def __init__(self, tokenizer: Any, prompt_ids: list[int]) -> None:
        self.tok = tokenizer
        # Start from the prompt's tail so a first token that merges with it decodes right.
        self.ids = list(prompt_ids[-4:])
        self.prefix = 0
        self.read = len(self.ids)
        self.before = self._decode(self.prefix, self.read)

    def _decode(self, start: int, end: int | None = None) -> str:
        return str(self.tok.decode(self.ids[start:end], skip_special_tokens=True))

    def push(self, token: int) -> str:
        self.ids.append(token)
        after = self._decode(self.prefix)
        if len(after) > len(self.before) and not after.endswith("\ufffd"):
            new = after[len(self.before) :]
            self.prefix, self.read = self.read, len(self.ids)
            # The next call's "before" text: one decode now instead of one per token.
            self.before = self._decode(self.prefix, self.read)
            return new
        return ""


@dataclass
class _Seq:
    req: EngineRequest
    sink: Sink
    detok: _Detok
    reserved: int
    out_ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0  # characters of ``text`` already emitted
    last: int | None = None
    finished: str | None = None


def _holdback(text: str, stops: tuple[str, ...]) -> int:
    """Characters at the end of ``text`` that could still be the start of a stop string."""
    keep = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), keep, -1):
            if text.endswith(s[:n]):
                keep = n
                break
    return keep


class Engine:
    def __init__(self, runner: Runner, tokenizer: Any, config: EngineConfig) -> None:
        self.runner = runner
        self.tok = tokenizer
        self.config = config
        self._cv = threading.Condition()
        self._waiting: deque[_Seq] = deque()
        self._running: dict[str, _Seq] = {}
        self._cancel: set[str] = set()
        self._calls: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.stats = EngineStats()
        self.on_step: Callable[[EngineStats], None] | None = None
        self.adapters: set[str] = set()
        self._unload: set[str] = set()
        self.fatal: BaseException | None = None

    # --- public API (any thread) --------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="keel-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread:
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.fatal is None

    def submit(self, req: EngineRequest, sink: Sink) -> None:
        """Queue a request; its events go to ``sink`` from the engine thread."""
        cfg = self.config
        need = len(req.prompt_ids) + req.sampling.max_tokens
        if need > cfg.max_batch_tokens:
            raise InvalidArgument(
                f"prompt + max_tokens = {need} tokens exceeds the KV budget of {cfg.max_batch_tokens}",
                field="sampling.max_tokens",
            )
        if req.adapter is not None and req.adapter not in self.adapters:
            raise NotFound(f"adapter {req.adapter} is not loaded", field="adapter")
        seq = _Seq(req, sink, _Detok(self.tok, req.prompt_ids), reserved=need)
        with self._cv:
            if self._stopping or not self.alive:
                raise Unavailable("the engine is not running")
            if req.req_id in self._running or any(s.req.req_id == req.req_id for s in self._waiting):
                raise InvalidArgument(f"request id {req.req_id} is already in flight", field="request_id")
            # Requests that fit in the batch at the next step never count against the queue.
            free = max(0, cfg.max_batch_size - len(self._running))
            if len(self._waiting) >= cfg.max_waiting + free:
                raise ResourceExhausted(
                    f"the waiting queue is full ({cfg.max_waiting} requests); retry later"
                )
            self._waiting.append(seq)
            self._cv.notify_all()

    def cancel(self, req_id: str) -> None:
        """Stop a request; its slot is freed before the next step."""
        with self._cv:
            self._cancel.add(req_id)
            self._cv.notify_all()

    def counts(self) -> tuple[int, int]:
        """(running, waiting) right now."""
        with self._cv:
            running = sum(1 for s in self._running.values() if s.finished is None)
            return running, len(self._waiting)

    def call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` on the engine thread between two steps (e.g. to load an adapter)."""
        fut: Future[Any] = Future()
        with self._cv:
            if self._stopping or not self.alive:
                raise Unavailable("the engine is not running")
            self._calls.append((fn, fut))
            self._cv.notify_all()
        return fut

    def load_adapter(self, name: str, path: str) -> Future[Any]:
        """Load an adapter between steps (a pending unload of the same name is called off)."""

        def load() -> None:
            if name in self.adapters:
                self._unload.discard(name)
                return
            self.runner.add_adapter(name, path)
            self.adapters.add(name)

        return self.call(load)

    def unload_adapter(self, name: str) -> None:
        """Unload an adapter once no running or waiting request uses it."""
        with self._cv:
            self._unload.add(name)
            self._cv.notify_all()

    def _unload_idle(self) -> None:
        busy = {s.req.adapter for s in itertools.chain(self._running.values(), self._waiting)}
        for name in list(self._unload):
            if name not in busy:
                self._unload.discard(name)
                if name in self.adapters:
                    self.runner.remove_adapter(name)
                    self.adapters.discard(name)
                    self.stats.adapter_unloads_total += 1

    # --- the loop (engine thread) ----------------------------------------------------------
    def _loop(self) -> None:
        if self.config.torch_threads:
            import torch

            torch.set_num_threads(self.config.torch_threads)
        try:
            while True:
                with self._cv:
                    while not (
                        self._stopping
                        or self._waiting
                        or self._running
                        or self._calls
                        or self._cancel
                        or self._unload
                    ):
                        self._cv.wait()
                    if self._stopping:
                        break
                    calls = list(self._calls)
                    self._calls.clear()
                    cancel, self._cancel = self._cancel, set()
                    drop = self._collect_drops(cancel)
                    add = self._admit()
                self._run_calls(calls)
                if add or self._running or drop:
                    self._step(drop, add)
                # After the step: only then has the runner let go of the rows dropped above (an
                # adapter whose last request just finished is still in a row until that step).
                if self._unload:
                    with self._cv:
                        self._unload_idle()
        except BaseException as e:  # a broken runner must not leave callers waiting forever
            log.exception("engine loop died")
            self.fatal = e
        finally:
            self._fail_all(Unavailable("the engine stopped"))

    def _run_calls(self, calls: list[tuple[Callable[[], Any], Future[Any]]]) -> None:
        for fn, fut in calls:
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

    def _collect_drops(self, cancel: set[str]) -> list[str]:
        for s in list(self._waiting):
            if s.req.req_id in cancel:
                self._waiting.remove(s)
                self._finish(s, CANCELLED)
        drop = []
        for rid, s in list(self._running.items()):
            if rid in cancel and s.finished is None:
                self._finish(s, CANCELLED)
            if s.finished is not None:
                drop.append(rid)
                del self._running[rid]
        return drop

    def _admit(self) -> list[_Seq]:
        cfg = self.config
        reserved = sum(s.reserved for s in self._running.values())
        add: list[_Seq] = []
        while self._waiting and len(self._running) + len(add) < cfg.max_batch_size:
            head = self._waiting[0]
            if reserved + head.reserved > cfg.max_batch_tokens:
                break  # FIFO: the head waits for room rather than being overtaken
            self._waiting.popleft()
            reserved += head.reserved
            add.append(head)
        return add

    def _step(self, drop: list[str], add: list[_Seq]) -> None:
        feed = {rid: s.last for rid, s in self._running.items() if s.last is not None}
        plan = StepPlan(
            drop=drop,
            add=[NewSequence(s.req.req_id, s.req.prompt_ids, s.req.sampling, s.req.adapter) for s in add],
            feed=feed,
        )
        for s in add:
            self._running[s.req.req_id] = s
            self.stats.prompt_tokens_total += len(s.req.prompt_ids)
        tokens = self.runner.step(plan)
        for rid, tok in tokens.items():
            seq = self._running.get(rid)
            if seq is not None and seq.finished is None:
                self._on_token(seq, tok)
        st = self.stats
        st.steps += 1
        st.batch_size = len(tokens)
        with self._cv:
            st.running, st.waiting = len(self._running), len(self._waiting)
            st.kv_reserved_tokens = sum(s.reserved for s in self._running.values())
        if self.on_step is not None:
            self.on_step(st)

    def _on_token(self, s: _Seq, token: int) -> None:
        cfg, sc = self.config, s.req.sampling
        s.out_ids.append(token)
        s.last = token
        self.stats.completion_tokens_total += 1
        if token in cfg.eos_ids and not sc.ignore_eos:
            self._finish(s, STOP, token)
            return
        s.text += s.detok.push(token)
        if sc.stop:
            hits = [i for i in (s.text.find(x, max(0, s.sent - len(x))) for x in sc.stop) if i >= 0]
            if hits:
                s.text = s.text[: min(hits)]
                self._finish(s, STOP, token)
                return
        if len(s.out_ids) >= sc.max_tokens or len(s.req.prompt_ids) + len(s.out_ids) >= cfg.max_model_len:
            self._finish(s, LENGTH, token)
            return
        upto = len(s.text) - _holdback(s.text, sc.stop)
        s.sink(Delta(s.text[s.sent : upto], [token]))
        s.sent = max(s.sent, upto)

    def _finish(self, s: _Seq, reason: str, token: int | None = None) -> None:
        """Flush held-back text (with the last token, so streamed token ids add up to the
        completion tokens) and report the end."""
        s.finished = reason
        if s.sent < len(s.text) or token is not None:
            s.sink(Delta(s.text[s.sent :], [] if token is None else [token]))
            s.sent = len(s.text)
        self.stats.finished_total[reason] = self.stats.finished_total.get(reason, 0) + 1
        s.sink(Done(reason, len(s.req.prompt_ids), len(s.out_ids)))

    def _fail_all(self, error: KeelError) -> None:
        with self._cv:
            seqs = list(self._waiting) + [s for s in self._running.values() if s.finished is None]
            self._waiting.clear()
            self._running.clear()
            calls = list(self._calls)
            self._calls.clear()
        for s in seqs:
            s.sink(Failed(error))
        for _, fut in calls:
            fut.set_exception(error)
