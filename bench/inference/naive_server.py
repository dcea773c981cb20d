"""The baseline server: one request at a time through transformers ``generate``.

This is the handler pattern the benchmark compares against: a gRPC ``GenerateStream`` that
takes a lock, runs ``model.generate`` with a ``TextIteratorStreamer`` and streams the text
as it comes. Concurrent clients queue on the lock.

Usage: python naive_server.py MODEL_DIR PORT DTYPE
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.generation.streamers import BaseStreamer

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as pb
from keel.inference.v1 import inference_pb2_grpc as pb_grpc


class TokenStreamer(BaseStreamer):
    """One queue item per generated token (the prompt, passed first, is skipped)."""

    def __init__(self) -> None:
        self.q: queue.Queue[int | None] = queue.Queue()
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for t in value.reshape(-1).tolist():
            self.q.put(int(t))

    def end(self) -> None:
        self.q.put(None)

    def __iter__(self) -> Iterator[int]:
        while (t := self.q.get()) is not None:
            yield t


class Naive(pb_grpc.InferenceServiceServicer):
    def __init__(self, path: str, dtype: torch.dtype) -> None:
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
        self.lock = threading.Lock()

    def GenerateStream(self, request: Any, context: Any) -> Iterator[Any]:
        msgs = [{"role": m.role, "content": m.content} for m in request.messages.messages]
        text = self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        ids = self.tok(text, return_tensors="pt", add_special_tokens=False)
        n = request.sampling.max_tokens
        with self.lock:
            streamer = TokenStreamer()
            kwargs = dict(
                **ids,
                max_new_tokens=n,
                min_new_tokens=n if request.sampling.ignore_eos else 0,
                do_sample=False,
                streamer=streamer,
                pad_token_id=self.tok.eos_token_id,
            )
            worker = threading.Thread(target=self.model.generate, kwargs=kwargs)
            worker.start()
            for token in streamer:
                piece = self.tok.decode([token], skip_special_tokens=True)
                yield pb.GenerateStreamResponse(delta=pb.TokenDelta(text=piece, token_ids=[token]))
            worker.join()
        yield pb.GenerateStreamResponse(
            done=pb.GenerateDone(
                finish_reason=cpb.FINISH_REASON_LENGTH,
                usage=cpb.Usage(prompt_tokens=ids["input_ids"].shape[1], completion_tokens=n),
            )
        )


def main() -> None:
    path, port, dtype = sys.argv[1], int(sys.argv[2]), getattr(torch, sys.argv[3])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
    pb_grpc.add_InferenceServiceServicer_to_server(Naive(path, dtype), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
