"""QA synthesis through Keel's inference service: a base model id, or a registry ref
("name@alias", "name/N") resolved to its adapter. The passages of one synthesis shard go out
as concurrent Generate calls, so the service's continuous batching runs them together."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as ipb_grpc
from keel.registry.v1 import registry_pb2 as rpb
from keel.registry.v1 import registry_pb2_grpc as rpb_grpc
from keel_common.errors import InvalidArgument
from keel_ingestion.core.synth import Messages


class InferenceGenerator:
    def __init__(
        self, inference: grpc.Channel, model: str, base_models: Sequence[str],
        registry: grpc.Channel | None = None, concurrency: int = 32, timeout_s: float = 600.0,
    ) -> None:  # fmt: skip
        self.stub = ipb_grpc.InferenceServiceStub(inference)  # type: ignore[no-untyped-call]
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.adapter: ipb.AdapterRef | None = None
        if model in base_models:
            self.base = model
            return
        if registry is None:
            raise InvalidArgument(
                f"{model!r} is not a base model ({', '.join(base_models)}) and no registry is configured",
                field="qa_synthesis.model",
            )
        try:
            stub = rpb_grpc.RegistryServiceStub(registry)  # type: ignore[no-untyped-call]
            version = stub.Resolve(rpb.ResolveRequest(ref=model), timeout=10).version
        except grpc.RpcError as err:
            raise InvalidArgument(
                f"cannot resolve {model!r}: {err.details()}", field="qa_synthesis.model"
            ) from None
        self.base = version.base_model
        if version.artifact_uri:
            self.adapter = ipb.AdapterRef(
                ref=f"{version.model}/{version.version}", artifact_uri=version.artifact_uri,
                artifact_sha256=version.artifact_sha256,
            )  # fmt: skip

    def _one(self, conv: Messages, max_tokens: int, temperature: float) -> tuple[str, int]:
        req = ipb.GenerateRequest(
            model=self.base,
            adapter=self.adapter,
            messages=ipb.ChatMessages(
                messages=[cpb.ChatMessage(role=m["role"], content=m["content"]) for m in conv]
            ),
            sampling=cpb.SamplingParams(max_tokens=max_tokens, temperature=temperature, seed=0),
        )
        reply = self.stub.Generate(req, timeout=self.timeout_s)
        return reply.text, reply.usage.completion_tokens

    def generate(self, conversations: Sequence[Messages], max_tokens: int, temperature: float) -> list[str]:
        if not conversations:
            return []
        from keel_ingestion import metrics

        with ThreadPoolExecutor(min(self.concurrency, len(conversations))) as pool:
            results = list(pool.map(lambda c: self._one(c, max_tokens, temperature), conversations))
        metrics.SYNTH_TOKENS.inc(sum(n for _, n in results))
        return [text for text, _ in results]
