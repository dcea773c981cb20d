"""How the gRPC front reaches the engine: one typed protocol, two implementations.

``InferenceServicer`` (``grpc_api``) calls an ``EngineClient``. ``app.ServeEngineClient``
implements it over the Ray Serve handle of the ``LLMEngine`` deployment (production);
``LocalEngineClient`` implements it over an ``InferenceCore`` in this process (unit tests,
and any host that wants the front without Ray). Both keep the engine deployment's semantics:
the model id is checked, an adapter named by a request is loaded on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from keel_inference.core import InferenceCore
from keel_inference.engine import Event
from keel_inference.values import AdapterInfo, AdapterInput, EngineInfo, GenerateInput, Message


class EngineClient(Protocol):
    """The engine as the front sees it. ``stream`` may return an iterator with a ``cancel()``
    method; the front calls it when the RPC ends early."""

    def stream(self, inp: GenerateInput) -> Iterator[Event]: ...

    def count_tokens(
        self, model: str, messages: list[Message] | None, prompt: str | None
    ) -> tuple[list[int], int]: ...

    def apply_chat_template(
        self, model: str, messages: list[Message], add_generation_prompt: bool
    ) -> tuple[str, int]: ...

    def info(self) -> EngineInfo: ...

    def load_adapter(self, model: str, adapter: AdapterInput, pin: bool) -> tuple[AdapterInfo, bool]: ...

    def unload_adapter(self, model: str, ref: str) -> bool: ...

    def stats(self) -> dict[str, Any]: ...


class _LocalStream:
    """A blocking iterator over the core's async event stream, driven on the client's loop."""

    def __init__(self, events: AsyncIterator[Event], loop: asyncio.AbstractEventLoop) -> None:
        self._events = events
        self._loop = loop
        self._pending: concurrent.futures.Future[Event] | None = None
        self._cancelled = False

    def __iter__(self) -> _LocalStream:
        return self

    def __next__(self) -> Event:
        if self._cancelled:
            raise StopIteration

        async def step() -> Event:
            return await anext(self._events)

        self._pending = asyncio.run_coroutine_threadsafe(step(), self._loop)
        try:
            return self._pending.result()
        except (StopAsyncIteration, concurrent.futures.CancelledError):
            raise StopIteration from None
        finally:
            self._pending = None

    def cancel(self) -> None:
        """Stop the request: a waiting step is cancelled, which cancels it in the engine."""
        self._cancelled = True
        pending = self._pending
        if pending is not None:
            pending.cancel()


class LocalEngineClient:
    """``EngineClient`` over an ``InferenceCore`` in this process, without Ray. Generation runs
    on one private event loop thread (the core hands events to asyncio queues); gRPC handler
    threads block on it."""

    def __init__(self, core: InferenceCore) -> None:
        self.core = core
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="engine-client", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _adapter_name(self, adapter: AdapterInput | None) -> str | None:
        """The engine's name for a request's adapter, loading it (or a newer artifact) first."""
        if adapter is None:
            return None
        if not self.core.is_current(adapter):
            self.core.load_adapter(adapter)
        return self.core.adapter_for(adapter.ref)

    def stream(self, inp: GenerateInput) -> _LocalStream:
        return _LocalStream(self.core.generate(inp, self._adapter_name(inp.adapter)), self._loop)

    def count_tokens(
        self, model: str, messages: list[Message] | None, prompt: str | None
    ) -> tuple[list[int], int]:
        return self.core.count_tokens(model, messages, prompt)

    def apply_chat_template(
        self, model: str, messages: list[Message], add_generation_prompt: bool
    ) -> tuple[str, int]:
        return self.core.apply_chat_template(model, messages, add_generation_prompt)

    def info(self) -> EngineInfo:
        return self.core.info()

    def load_adapter(self, model: str, adapter: AdapterInput, pin: bool) -> tuple[AdapterInfo, bool]:
        self.core.check_model(model)
        already = self.core.is_current(adapter)
        info, _ = self.core.load_adapter(adapter, pin)
        return info, already

    def unload_adapter(self, model: str, ref: str) -> bool:
        self.core.check_model(model)
        return self.core.unload_adapter(ref)

    def stats(self) -> dict[str, Any]:
        return self.core.stats()
