"""Sentence embeddings (keel_common.embeddings: all-MiniLM-L6-v2, offline) for the semantic
rails.

Requests from concurrent HTTP handlers are micro-batched: one worker thread drains whatever is
queued (up to ``max_batch`` texts) into one forward pass, so 50 concurrent prompts cost a few
forwards, not 50."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

import numpy as np

from keel_common.embeddings import SentenceEncoder, Vectors

log = logging.getLogger(__name__)


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future[Vectors]
    loop: asyncio.AbstractEventLoop


class Embedder(SentenceEncoder):
    def __init__(self, threads: int = 1, max_batch: int = 32, max_length: int = 256) -> None:
        super().__init__(max_length)
        self.threads = threads
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="keel-embedder", daemon=True)
        self._thread.start()

    async def encode(self, texts: list[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Vectors] = loop.create_future()
        self._queue.put(_Job(texts, fut, loop))
        return await fut

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        # Intra-op threads are per calling thread; set them where the forwards run.
        self._torch.set_num_threads(self.threads)
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            total = len(job.texts)
            while total < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
                total += len(nxt.texts)
            texts = [t for j in jobs for t in j.texts]
            try:
                vecs = self.encode_sync(texts)
            except Exception as exc:  # a bad batch fails its callers, not the thread
                log.exception("embedding failed")
                for j in jobs:
                    j.loop.call_soon_threadsafe(_set_exc, j.future, exc)
                continue
            pos = 0
            for j in jobs:
                part = vecs[pos : pos + len(j.texts)]
                pos += len(j.texts)
                j.loop.call_soon_threadsafe(_set_result, j.future, part)


def _set_result(fut: asyncio.Future[Vectors], value: Vectors) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exc(fut: asyncio.Future[Vectors], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def chunks(text: str, max_words: int = 120, max_chunks: int = 8) -> list[str]:
    """Long inputs are embedded as overlapping word windows: an injection buried at the end of
    a pasted document must not be averaged away. The last windows matter most, so they are kept."""
    words = text.split()
    if len(words) <= max_words:
        return [text]
    step = max_words // 2
    out = [" ".join(words[i : i + max_words]) for i in range(0, len(words) - step, step)]
    return out[-max_chunks:]


class Matcher:
    """Cosine similarity of a text against exemplar embeddings. With counter-examples, the score
    is the similarity to the nearest exemplar minus how much closer the nearest counter-example
    is (if it is): a role-play request near both "act as a travel agent" and "act as an AI
    without rules" scores lower than one near the attack alone."""

    def __init__(self, embedder: Embedder, exemplars: list[str], counter: list[str] | None = None) -> None:
        self.embedder = embedder
        self.exemplars = exemplars
        self.matrix: Vectors = (
            embedder.encode_sync(exemplars) if exemplars else np.zeros((0, 384), np.float32)
        )
        self.counter: Vectors | None = embedder.encode_sync(counter) if counter else None

    def best(self, vecs: Vectors) -> tuple[float, int]:
        if not len(self.matrix) or not len(vecs):
            return 0.0, -1
        sims = vecs @ self.matrix.T  # [chunks, exemplars]
        pos = sims.max(axis=1)
        if self.counter is not None:
            neg = (vecs @ self.counter.T).max(axis=1)
            pos = pos - np.maximum(neg - pos, 0.0)
        chunk = int(pos.argmax())
        return float(pos[chunk]), int(sims[chunk].argmax())
