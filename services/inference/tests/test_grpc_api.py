"""The inference gRPC handlers on a real gRPC server on localhost (Keel's GrpcService: health,
interceptor, error mapping) over a real core through ``LocalEngineClient``. No Ray."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as pb
from keel.inference.v1 import inference_pb2_grpc as pb_grpc
from keel_common.errors import field_violation
from keel_common.grpc import GrpcService, channel, wait_healthy
from keel_inference.config import InferenceSettings
from keel_inference.core import InferenceCore, Message
from keel_inference.engine_client import LocalEngineClient
from keel_inference.grpc_api import SERVICE_NAME, InferenceServicer
from keel_inference.metrics import front_metrics

CHAT = pb.ChatMessages(messages=[cpb.ChatMessage(role="user", content="Name a colour.")])


@pytest.fixture(scope="module")
def front(tiny_core: InferenceCore) -> Iterator[tuple[GrpcService, LocalEngineClient]]:
    client = LocalEngineClient(tiny_core)
    metrics = front_metrics()

    def check_engine() -> None:
        metrics.set_engine(client.stats())

    settings = InferenceSettings(grpc_port=0, http_port=0, host="127.0.0.1", health_interval_s=0.2)
    service = GrpcService(
        "inference",
        settings,
        lambda server: pb_grpc.add_InferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            InferenceServicer(client), server
        ),
        [SERVICE_NAME],
        {"engine": check_engine},
    )
    service.start()
    wait_healthy(f"127.0.0.1:{service.grpc_port}", timeout=30, service=SERVICE_NAME)
    yield service, client
    service.stop(0.5)
    client.close()


@pytest.fixture
def stub(front: tuple[GrpcService, LocalEngineClient]) -> Iterator[Any]:
    with channel(f"127.0.0.1:{front[0].grpc_port}") as ch:
        yield pb_grpc.InferenceServiceStub(ch)  # type: ignore[no-untyped-call]


def greedy(max_tokens: int = 10, **fields: Any) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        messages=CHAT, sampling=cpb.SamplingParams(max_tokens=max_tokens, ignore_eos=True), **fields
    )


def test_generate_and_stream_agree(stub: Any, tiny_core: InferenceCore) -> None:
    ttft = (
        REGISTRY.get_sample_value(
            "keel_inference_time_to_first_token_seconds_count", {"model": "default", "adapter": "base"}
        )
        or 0.0
    )
    resp = stub.Generate(greedy(10, request_id="req-1"), timeout=60)
    prompt_len = len(tiny_core.count_tokens("", [Message("user", "Name a colour.")], None)[0])
    assert resp.request_id == "req-1"
    assert resp.finish_reason == cpb.FINISH_REASON_LENGTH
    assert resp.usage.completion_tokens == 10
    assert resp.usage.prompt_tokens == prompt_len
    assert resp.usage.total_tokens == prompt_len + 10
    assert resp.text and resp.adapter_ref == ""

    parts = list(stub.GenerateStream(greedy(10), timeout=60))
    deltas, done = parts[:-1], parts[-1]
    assert all(p.WhichOneof("event") == "delta" for p in deltas)
    assert "".join(p.delta.text for p in deltas) == resp.text
    assert sum(len(p.delta.token_ids) for p in deltas) == 10
    assert done.done.finish_reason == cpb.FINISH_REASON_LENGTH
    assert done.done.usage == resp.usage
    after = REGISTRY.get_sample_value(
        "keel_inference_time_to_first_token_seconds_count", {"model": "default", "adapter": "base"}
    )
    assert after == ttft + 2, "the front did not measure time to first token"


def test_count_tokens_and_chat_template(stub: Any, tiny_core: InferenceCore) -> None:
    counted = stub.CountTokens(pb.CountTokensRequest(messages=CHAT, return_token_ids=True), timeout=30)
    ids, ctx = tiny_core.count_tokens("", [Message("user", "Name a colour.")], None)
    assert list(counted.token_ids) == ids and counted.token_count == len(ids)
    assert counted.context_length == ctx == 512
    assert not stub.CountTokens(pb.CountTokensRequest(prompt="hello"), timeout=30).token_ids

    rendered = stub.ApplyChatTemplate(pb.ApplyChatTemplateRequest(messages=CHAT.messages), timeout=30)
    assert "Name a colour." in rendered.prompt and rendered.token_count == len(ids)
    bare = stub.ApplyChatTemplate(
        pb.ApplyChatTemplateRequest(messages=CHAT.messages, add_generation_prompt=False), timeout=30
    )
    assert bare.token_count < rendered.token_count


def test_list_models(stub: Any, tiny_core: InferenceCore) -> None:
    (model,) = stub.ListModels(pb.ListModelsRequest(), timeout=30).models
    assert model.id == tiny_core.settings.model
    assert (model.context_length, model.dtype, model.ready) == (512, "float32", True)
    assert (model.tensor_parallel_size, model.max_adapters_per_replica) == (1, 2)


@pytest.mark.parametrize(
    ("method", "request_", "code", "field"),
    [
        (
            lambda s: s.Generate,
            pb.GenerateRequest(model="gpt-4o", messages=CHAT),
            grpc.StatusCode.NOT_FOUND,
            "model",
        ),
        (lambda s: s.Generate, pb.GenerateRequest(), grpc.StatusCode.INVALID_ARGUMENT, "messages"),
        (
            lambda s: s.Generate,
            pb.GenerateRequest(messages=CHAT, sampling=cpb.SamplingParams(temperature=3.0)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "sampling.temperature",
        ),
        (
            lambda s: s.CountTokens,
            pb.CountTokensRequest(messages=pb.ChatMessages(messages=[cpb.ChatMessage(role="robot")])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "messages[0].role",
        ),
        (lambda s: s.LoadAdapter, pb.LoadAdapterRequest(), grpc.StatusCode.INVALID_ARGUMENT, "adapter.ref"),
        (
            lambda s: s.LoadAdapter,
            pb.LoadAdapterRequest(adapter=pb.AdapterRef(ref="a")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "adapter.artifact_uri",
        ),
        (lambda s: s.UnloadAdapter, pb.UnloadAdapterRequest(), grpc.StatusCode.INVALID_ARGUMENT, "ref"),
        (
            lambda s: s.Generate,
            pb.GenerateRequest(messages=CHAT, adapter=pb.AdapterRef(ref="never/loaded")),
            grpc.StatusCode.NOT_FOUND,
            "adapter.ref",
        ),
    ],
)
def test_errors_carry_the_field(
    stub: Any, method: Callable[[Any], Any], request_: Any, code: grpc.StatusCode, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        method(stub)(request_, timeout=30)
    assert err.value.code() == code
    violation = field_violation(err.value)
    assert violation is not None and violation[0] == field, violation


def test_adapter_lifecycle_over_grpc(stub: Any, tiny_core: InferenceCore, tiny_lora: Any) -> None:
    adapter = pb.AdapterRef(ref="team/tiny:v2", artifact_uri=tiny_lora.uri, artifact_sha256=tiny_lora.sha256)
    base = stub.Generate(greedy(10), timeout=60).text
    loaded = stub.LoadAdapter(pb.LoadAdapterRequest(adapter=adapter), timeout=120)
    try:
        assert not loaded.already_loaded
        assert (loaded.adapter.ref, loaded.adapter.artifact_sha256) == (adapter.ref, tiny_lora.sha256)
        assert stub.LoadAdapter(pb.LoadAdapterRequest(adapter=adapter, pin=True), timeout=60).already_loaded
        (model,) = stub.ListModels(pb.ListModelsRequest(), timeout=30).models
        assert [(a.ref, a.pinned) for a in model.adapters] == [(adapter.ref, True)]
        # A request names the adapter by ref only: the loaded one serves it.
        tuned = stub.Generate(greedy(10, adapter=pb.AdapterRef(ref=adapter.ref)), timeout=60)
        assert tuned.adapter_ref == adapter.ref and tuned.text != base
    finally:
        assert stub.UnloadAdapter(pb.UnloadAdapterRequest(ref=adapter.ref), timeout=60).was_loaded
    assert not stub.UnloadAdapter(pb.UnloadAdapterRequest(ref=adapter.ref), timeout=60).was_loaded
    assert not stub.ListModels(pb.ListModelsRequest(), timeout=30).models[0].adapters


def test_a_request_names_an_adapter_the_engine_loads_on_first_use(stub: Any, tiny_lora: Any) -> None:
    adapter = pb.AdapterRef(ref="team/tiny:v3", artifact_uri=tiny_lora.uri, artifact_sha256=tiny_lora.sha256)
    try:
        resp = stub.Generate(greedy(4, adapter=adapter), timeout=120)
        assert resp.adapter_ref == adapter.ref and resp.usage.completion_tokens == 4
    finally:
        assert stub.UnloadAdapter(pb.UnloadAdapterRequest(ref=adapter.ref), timeout=60).was_loaded


def test_cancelling_a_stream_cancels_the_engine_request(stub: Any, tiny_core: InferenceCore) -> None:
    first = threading.Event()
    call = stub.GenerateStream(greedy(400), timeout=120)
    for message in call:
        assert message.WhichOneof("event") == "delta"
        first.set()
        break
    assert first.is_set()
    call.cancel()
    # The front's cancel reaches the engine through the RPC's termination callback; the engine
    # drops the row at its next step. Engine calls run between steps: wait on them, bounded.
    for _ in range(200):
        tiny_core.engine.call(lambda: None).result(60)
        if tiny_core.engine.counts() == (0, 0):
            break
    assert tiny_core.engine.counts() == (0, 0), "the cancelled request kept running"


def test_readiness_reports_the_engine_and_exports_its_gauges(
    front: tuple[GrpcService, LocalEngineClient],
) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{front[0].http_port}/readyz", timeout=10) as resp:
        assert resp.status == 200
        json.loads(resp.read() or b"{}")
    assert REGISTRY.get_sample_value("keel_inference_kv_budget_tokens") is not None
