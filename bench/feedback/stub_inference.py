"""A scripted inference gRPC server (``keel.inference.v1.InferenceService``) for the gateway to
call: it answers at once with a canned answer of realistic length (300 to 1,100 characters, picked by
a hash of the last user turn), so what is measured is the gateway and the feedback path, not a
model. It serves the one base model (``DEFAULT_BASE_MODEL``) and the gRPC health service. Run in
its own process (``python stub_inference.py --port N``) so it has its own interpreter lock."""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from corpus import answer, question
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import HealthServicer

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel_common.contract import DEFAULT_BASE_MODEL

_rng = random.Random(7)
ANSWERS = [answer(_rng, question(_rng)) for _ in range(64)]


class StubInference(igrpc.InferenceServiceServicer):
    def _reply(self, request: ipb.GenerateRequest) -> tuple[str, cpb.Usage]:
        msgs = request.messages.messages
        last = msgs[-1].content if msgs else request.prompt
        text = ANSWERS[hashlib.blake2b(last.encode(), digest_size=2).digest()[0] % len(ANSWERS)]
        prompt = sum(len(m.content) for m in msgs) // 4 + len(request.prompt) // 4 + 8
        done = len(text) // 4
        return text, cpb.Usage(prompt_tokens=prompt, completion_tokens=done, total_tokens=prompt + done)

    def ListModels(self, request: ipb.ListModelsRequest, context: Any) -> ipb.ListModelsResponse:
        return ipb.ListModelsResponse(models=[ipb.BaseModel(id=DEFAULT_BASE_MODEL, ready=True)])

    def Generate(self, request: ipb.GenerateRequest, context: Any) -> ipb.GenerateResponse:
        text, usage = self._reply(request)
        return ipb.GenerateResponse(
            request_id=request.request_id,
            text=text,
            finish_reason=cpb.FINISH_REASON_STOP,
            usage=usage,
            model=request.model,
            adapter_ref=request.adapter.ref,
        )

    def GenerateStream(
        self, request: ipb.GenerateRequest, context: Any
    ) -> Iterator[ipb.GenerateStreamResponse]:
        text, usage = self._reply(request)
        for i, word in enumerate(text.split(" ")):
            delta = ipb.TokenDelta(text=word if i == 0 else f" {word}", token_ids=[i])
            yield ipb.GenerateStreamResponse(request_id=request.request_id, delta=delta)
        done = ipb.GenerateDone(finish_reason=cpb.FINISH_REASON_STOP, usage=usage)
        yield ipb.GenerateStreamResponse(request_id=request.request_id, done=done)

    def CountTokens(self, request: ipb.CountTokensRequest, context: Any) -> ipb.CountTokensResponse:
        text = request.prompt or "".join(m.content for m in request.messages.messages)
        return ipb.CountTokensResponse(token_count=len(text) // 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    server = grpc.server(ThreadPoolExecutor(max_workers=args.threads))
    igrpc.add_InferenceServiceServicer_to_server(StubInference(), server)  # type: ignore[no-untyped-call]
    health = HealthServicer()
    health.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.stop(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
