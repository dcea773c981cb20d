"""The inference Serve application over real gRPC: real Ray (local), the real SmolLM2 model,
adapters multiplexed from a real artifact store. One deployment serves the whole module
(deploying costs ~20 s); settings are chosen so each limit is reachable with few requests."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as pb
from keel.inference.v1 import inference_pb2_grpc as pb_grpc
from keel_common.grpc import wait_healthy
from keel_dev.local import port_or_free

MODEL = "smollm2-135m-instruct"
APP = "keel-inference-test"


@pytest.fixture(scope="module")
def served(
    ray_local: None, model_cache: Path, artifact_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from ray import serve

    from keel_inference.app import build_app

    grpc_port, http_port = port_or_free(0), port_or_free(0)
    args = {
        "data_dir": str(tmp_path_factory.mktemp("inference")),
        "model_cache_dir": str(model_cache),
        "artifact_root": str(artifact_root),
        "dtype": "float32",  # unbatched/batched comparisons below need fp32 (see test_engine)
        "grpc_port": grpc_port,
        "http_port": http_port,
        "max_batch_size": 2,
        "max_waiting": 1,
        "max_adapters": 2,
        "max_model_len": 256,
        "health_interval_s": 0.5,
        "shutdown_grace_s": 1,  # serve.delete at teardown need not wait out the default drain
    }
    serve.start(proxy_location="Disabled")
    serve.run(build_app(args), name=APP, route_prefix=None)
    target = f"127.0.0.1:{grpc_port}"
    wait_healthy(target, timeout=120)
    channel = grpc.insecure_channel(target)
    yield {
        "stub": pb_grpc.InferenceServiceStub(channel),
        "http": f"http://127.0.0.1:{http_port}",
        "engine": serve.get_deployment_handle("LLMEngine", app_name=APP),
    }
    channel.close()
    serve.delete(APP)


def chat(text: str, max_tokens: int = 12, adapter: Any = None, **sampling: Any) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model=MODEL,
        messages=pb.ChatMessages(messages=[cpb.ChatMessage(role="user", content=text)]),
        sampling=cpb.SamplingParams(max_tokens=max_tokens, **sampling),
        adapter=adapter,
    )


def code_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_stream_then_unary_agree_and_usage_adds_up(served: dict[str, Any]) -> None:
    stub = served["stub"]
    req = chat("Name a colour.", max_tokens=10, ignore_eos=True)
    msgs = list(stub.GenerateStream(req))
    kinds = [m.WhichOneof("event") for m in msgs]
    assert kinds[-1] == "done" and kinds.count("done") == 1 and set(kinds[:-1]) == {"delta"}
    done = msgs[-1].done
    streamed_ids = [t for m in msgs[:-1] for t in m.delta.token_ids]
    assert done.finish_reason == cpb.FINISH_REASON_LENGTH
    assert done.usage.completion_tokens == len(streamed_ids) == 10
    assert done.usage.total_tokens == done.usage.prompt_tokens + 10
    count = stub.CountTokens(pb.CountTokensRequest(model=MODEL, messages=req.messages, return_token_ids=True))
    assert count.token_count == done.usage.prompt_tokens == len(count.token_ids)
    assert count.context_length == 256
    unary = stub.Generate(req)
    assert unary.text == "".join(m.delta.text for m in msgs[:-1]) and unary.text
    assert unary.usage == done.usage
    template = stub.ApplyChatTemplate(
        pb.ApplyChatTemplateRequest(model=MODEL, messages=req.messages.messages)
    )
    assert template.prompt.endswith("<|im_start|>assistant\n") and template.token_count == count.token_count


def test_bad_input_is_refused_with_the_field_named(served: dict[str, Any]) -> None:
    stub = served["stub"]
    empty = pb.GenerateRequest(model=MODEL, messages=pb.ChatMessages())
    cases = {
        "messages": empty,
        "messages[0].role": pb.GenerateRequest(
            model=MODEL, messages=pb.ChatMessages(messages=[cpb.ChatMessage(role="wizard", content="hi")])
        ),
        "sampling.max_tokens": chat("hi", max_tokens=10_000),
        "sampling.temperature": chat("hi", temperature=3.5),
        "sampling.top_p": chat("hi", top_p=0.0),
    }
    for field, req in cases.items():
        code, details = code_of(lambda r=req: stub.Generate(r))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (field, details)
        assert details.startswith(field + ":"), (field, details)
    code, details = code_of(lambda: stub.Generate(chat("word " * 400)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("messages:") and "256" in details
    code, details = code_of(lambda: stub.Generate(chat("hi", adapter=pb.AdapterRef(ref="nope/1"))))
    assert code == grpc.StatusCode.NOT_FOUND and "nope/1" in details
    code, details = code_of(lambda: list(stub.GenerateStream(pb.GenerateRequest(model="gpt-9", prompt="x"))))
    assert code == grpc.StatusCode.NOT_FOUND and details.startswith("model:")
    # And the service is still up.
    assert stub.Generate(chat("Say hi.", max_tokens=3)).usage.completion_tokens >= 1


def test_adapters_multiplexed_evicted_and_reloaded(
    served: dict[str, Any], lora_adapter: Callable[[int], Any]
) -> None:
    stub = served["stub"]
    adapters = [lora_adapter(seed) for seed in (1, 2, 3)]
    refs = [
        pb.AdapterRef(ref=f"bot/{i + 1}", artifact_uri=a.uri, artifact_sha256=a.sha256)
        for i, a in enumerate(adapters)
    ]
    base = stub.Generate(chat("Write a haiku about the sea.", max_tokens=12)).text
    first = stub.Generate(chat("Write a haiku about the sea.", max_tokens=12, adapter=refs[0]))
    assert first.adapter_ref == "bot/1" and first.text != base
    loaded = stub.LoadAdapter(pb.LoadAdapterRequest(model=MODEL, adapter=refs[0]))
    assert loaded.already_loaded and loaded.adapter.artifact_sha256 == adapters[0].sha256
    # Capacity is 2 per replica: the third adapter evicts the least recently used one.
    for ref in refs[1:]:
        stub.Generate(chat("Write a haiku about the sea.", max_tokens=4, adapter=ref))
    listed = {a.ref for a in stub.ListModels(pb.ListModelsRequest()).models[0].adapters}
    assert listed == {"bot/2", "bot/3"}
    stats = served["engine"].stats.remote().result()
    assert stats["adapter_evictions_total"] >= 1 and stats["adapter_loads_total"] >= 3
    # Known by ref only once loaded: after eviction the artifact must come with the request.
    code, _ = code_of(lambda: stub.Generate(chat("x", adapter=pb.AdapterRef(ref="bot/1"))))
    assert code == grpc.StatusCode.NOT_FOUND
    again = stub.Generate(chat("Write a haiku about the sea.", max_tokens=12, adapter=refs[0]))
    assert again.text == first.text
    assert stub.UnloadAdapter(pb.UnloadAdapterRequest(model=MODEL, ref="bot/1")).was_loaded
    assert not stub.UnloadAdapter(pb.UnloadAdapterRequest(model=MODEL, ref="bot/1")).was_loaded
    code, details = code_of(
        lambda: stub.LoadAdapter(
            pb.LoadAdapterRequest(
                model=MODEL,
                adapter=pb.AdapterRef(ref="bot/9", artifact_uri=adapters[0].uri, artifact_sha256="0" * 64),
            )
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("artifact_sha256:")


def _stat(served: dict[str, Any], key: str) -> int:
    return int(served["engine"].stats.remote().result()[key])


def _until(cond: Callable[[], bool], timeout: float = 30) -> bool:
    """Poll the engine's own counters (they have no event to await from here)."""
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.05)
    return cond()


def test_full_queue_is_resource_exhausted_and_cancel_frees_the_slot(served: dict[str, Any]) -> None:
    stub = served["stub"]
    long = chat("Write a long story.", max_tokens=200, ignore_eos=True)
    calls = [stub.GenerateStream(long) for _ in range(2)]  # the batch (max_batch_size=2) ...
    assert all(next(c).HasField("delta") for c in calls)
    calls.append(stub.GenerateStream(long))  # ... and the queue (max_waiting=1) are full
    assert _until(lambda: _stat(served, "waiting") == 1)
    code, details = code_of(lambda: stub.Generate(chat("hi", max_tokens=2)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "queue is full" in details
    for c in calls:
        c.cancel()
    assert _until(lambda: _stat(served, "running") == 0 and _stat(served, "waiting") == 0)
    # The slots are free: a new request runs at once.
    assert stub.Generate(chat("Say hi.", max_tokens=3)).usage.completion_tokens >= 1


def test_concurrent_requests_match_sequential_ones_and_metrics_are_exported(served: dict[str, Any]) -> None:
    stub = served["stub"]
    results: list[str] = []
    prompts = ["Name a fruit.", "Name a river."]
    alone = [stub.Generate(chat(p, max_tokens=10, ignore_eos=True)).text for p in prompts]

    def run(p: str) -> None:
        results.append(stub.Generate(chat(p, max_tokens=10, ignore_eos=True)).text)

    threads = [threading.Thread(target=run, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(alone)
    body = urllib.request.urlopen(served["http"] + "/metrics", timeout=5).read().decode()
    for name in (
        "keel_inference_time_to_first_token_seconds_count",
        "keel_inference_inter_token_latency_seconds_count",
        "keel_inference_request_duration_seconds_count",
        "keel_inference_completion_tokens_total",
        "keel_inference_prompt_tokens_total",
        "keel_inference_kv_budget_tokens",
    ):
        assert re.search(rf"^{name}(\{{[^}}]*\}})? [1-9]", body, re.M), name
    for name in (
        "keel_inference_running_requests",
        "keel_inference_waiting_requests",
        "keel_inference_kv_cached_tokens",
    ):
        assert re.search(rf"^{name} ", body, re.M), name
    ready = urllib.request.urlopen(served["http"] + "/readyz", timeout=5)
    assert ready.status == 200
