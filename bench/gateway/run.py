"""The latency the gateway adds: 50 concurrent clients calling inference directly over gRPC
vs. the same requests through the gateway (HTTP, API key, rate limits in Redis, guardrails,
interaction log), in the same run, rounds interleaved so drift hits both alike. Run twice:
non-semantic rails only, then with the semantic (MiniLM) rails on.

overhead_pXX = pXX(through the gateway) - pXX(direct). By default inference serves a tiny random
Llama (SmolLM2's tokenizer, 2 layers): the same inference service and Ray Serve path, but a
forward pass of about a millisecond, so the figure is the gateway's cost and not SmolLM2's
batching jitter on two shared cores (``--upstream smollm2`` runs the real model). The
gateway's own accounting of its time (``server-timing: gateway;dur=…``) is reported
beside it. Last line: one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from run import pct, stop, wait_port

from keel.common.v1 import common_pb2 as cpb
from keel.inference.v1 import inference_pb2 as ipb
from keel.inference.v1 import inference_pb2_grpc as igrpc
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.grpc import wait_healthy
from keel_common.redis import EmbeddedValkey
from keel_dev.local import port_or_free
from keel_gateway.keys import KeyStore

MODEL = DEFAULT_BASE_MODEL  # --upstream tiny serves "tiny-llama" instead
PEPPER = "bench-pepper-0b1c"
POLICY = """
default:
  input:
    max_prompt_tokens: 2048
    pii: {action: redact}
  output:
    pii: {action: redact}
    banned_phrases: {action: block, phrases: ["internal use only", "confidential draft"]}
"""
QUESTIONS = [
    "What is the capital of France?", "Name a primary colour.", "How many legs does a spider have?",
    "Give me a synonym for happy.", "What is two plus two?", "Which planet is closest to the sun?",
    "My email is sam@example.org, what day is it?", "Say hello in Spanish.", "What is H2O?",
    "Name a fruit that is yellow.",
]  # fmt: skip


async def direct_load(target: str, clients: int, per_client: int, max_tokens: int) -> list[float]:
    lat: list[float] = []
    async with grpc.aio.insecure_channel(target) as ch:
        stub = igrpc.InferenceServiceStub(ch)

        async def one(i: int) -> None:
            for j in range(per_client):
                q = QUESTIONS[(i + j) % len(QUESTIONS)]
                req = ipb.GenerateRequest(
                    model=MODEL, sampling=cpb.SamplingParams(max_tokens=max_tokens, temperature=0)
                )
                req.messages.messages.add(role="user", content=q)
                t = time.perf_counter()
                await stub.Generate(req, timeout=120)
                lat.append(time.perf_counter() - t)

        await asyncio.gather(*[one(i) for i in range(clients)])
    return lat


async def gateway_load(
    url: str, key: str, clients: int, per_client: int, max_tokens: int
) -> tuple[list[float], list[float]]:
    lat: list[float] = []
    own: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=120, headers={"Authorization": f"Bearer {key}"}
    ) as http:

        async def one(i: int) -> None:
            for j in range(per_client):
                q = QUESTIONS[(i + j) % len(QUESTIONS)]
                body = {
                    "model": MODEL,
                    "messages": [{"role": "user", "content": q}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                }
                t = time.perf_counter()
                r = await http.post("/v1/chat/completions", json=body)
                lat.append(time.perf_counter() - t)
                r.raise_for_status()
                timing = dict(p.strip().split(";dur=") for p in r.headers["server-timing"].split(","))
                own.append(float(timing["gateway"]) / 1000)

        await asyncio.gather(*[one(i) for i in range(clients)])
    return lat, own


def tiny_model(tmp: Path, cache: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from keel_common.loader import resolve_source

    tok = AutoTokenizer.from_pretrained(resolve_source("", cache).path)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    path = tmp / "tiny-llama"
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def start_gateway(
    tmp: Path, redis_url: str, inference: str, semantic: bool
) -> tuple[subprocess.Popen[bytes], str]:
    port = port_or_free(0)
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    env = dict(
        os.environ,
        KEEL_REDIS_URL=redis_url,
        KEEL_LOG_JSON="false",
        KEEL_LOG_LEVEL="WARNING",
        KEEL_GATEWAY_HTTP_PORT=str(port),
        KEEL_GATEWAY_KEY_PEPPER=PEPPER,
        KEEL_GATEWAY_INFERENCE_TARGET=inference,
        KEEL_GATEWAY_REGISTRY_TARGET="127.0.0.1:1",
        KEEL_GATEWAY_POLICY_PATH=str(policy),
        KEEL_GATEWAY_SEMANTIC_RAILS=str(semantic).lower(),
        KEEL_GATEWAY_DEFAULT_RPM="1000000000",
        KEEL_GATEWAY_DEFAULT_TPM="1000000000",
        KEEL_GATEWAY_DEFAULT_CONCURRENCY="100000",
    )
    proc = subprocess.Popen([sys.executable, "-m", "keel_gateway", "serve"], env=env)
    wait_port(proc, port, 120)
    return proc, f"http://127.0.0.1:{port}"


def summary(lat: list[float]) -> dict[str, float]:
    return {"p50_ms": round(pct(lat, 50) * 1000, 2), "p99_ms": round(pct(lat, 99) * 1000, 2), "n": len(lat)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--per-client", type=int, default=4, help="requests per client per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=1)
    ap.add_argument("--upstream", choices=["tiny", "smollm2"], default="tiny")
    args = ap.parse_args()
    global MODEL
    tmp = Path(tempfile.mkdtemp(prefix="keel-bench-gw-"))
    valkey = EmbeddedValkey(tmp / "valkey", persist=False)
    redis_url = valkey.start()
    iport, ihttp = port_or_free(0), port_or_free(0)
    cache = Path(
        os.environ.get("KEEL_TEST_MODEL_CACHE", Path(__file__).resolve().parents[2] / ".cache" / "models")
    )
    model_env = {}
    if args.upstream == "tiny":
        MODEL = "tiny-llama"
        model_env = {
            "KEEL_INFERENCE_MODEL": MODEL,
            "KEEL_INFERENCE_MODEL_SOURCE": str(tiny_model(tmp, cache)),
        }
    inf = subprocess.Popen(
        [sys.executable, "-m", "keel_inference", "serve"],
        env=dict(
            os.environ,
            **model_env,
            KEEL_DATA_DIR=str(tmp),
            KEEL_LOG_JSON="false",
            KEEL_INFERENCE_MODEL_CACHE_DIR=str(cache),
            KEEL_INFERENCE_GRPC_PORT=str(iport),
            KEEL_INFERENCE_HTTP_PORT=str(ihttp),
            KEEL_INFERENCE_MAX_BATCH_SIZE=str(max(64, args.clients)),
            KEEL_INFERENCE_MAX_WAITING="1024",
        ),
    )
    target = f"127.0.0.1:{iport}"
    results: dict[str, Any] = {}
    try:
        wait_port(inf, iport, 600)
        wait_healthy(target, timeout=600)

        async def mkkey() -> str:
            c = aioredis.Redis.from_url(redis_url)
            _, token = await KeyStore(c, PEPPER.encode()).create("bench", ["inference"], "bench")
            await c.aclose()
            return token

        key = asyncio.run(mkkey())
        for mode, semantic in (("plain", False), ("semantic", True)):
            gw, url = start_gateway(tmp, redis_url, target, semantic)
            try:
                # Warm-up: connections, the embedder, the model's first batches.
                asyncio.run(gateway_load(url, key, args.clients, 1, args.max_tokens))
                asyncio.run(direct_load(target, args.clients, 1, args.max_tokens))
                direct: list[float] = []
                through: list[float] = []
                own: list[float] = []
                for _ in range(args.rounds):
                    direct += asyncio.run(direct_load(target, args.clients, args.per_client, args.max_tokens))
                    lat, o = asyncio.run(
                        gateway_load(url, key, args.clients, args.per_client, args.max_tokens)
                    )
                    through += lat
                    own += o
                results[mode] = {
                    "direct": summary(direct),
                    "gateway": summary(through),
                    "gateway_self": summary(own),
                    "overhead_p50_ms": round((pct(through, 50) - pct(direct, 50)) * 1000, 2),
                    "overhead_p99_ms": round((pct(through, 99) - pct(direct, 99)) * 1000, 2),
                }
                r = results[mode]
                d, g, o = r["direct"], r["gateway"], r["gateway_self"]
                print(
                    f"{mode:>9}: direct p50 {d['p50_ms']:7.1f} ms p99 {d['p99_ms']:7.1f} | "
                    f"gateway p50 {g['p50_ms']:7.1f} p99 {g['p99_ms']:7.1f} | "
                    f"added p50 {r['overhead_p50_ms']:6.1f} p99 {r['overhead_p99_ms']:6.1f} | "
                    f"gateway's own time p50 {o['p50_ms']:5.2f} p99 {o['p99_ms']:5.2f}",
                    flush=True,
                )
            finally:
                stop(gw)
    finally:
        stop(inf)
        valkey.stop()
    plain, sem = results["plain"], results["semantic"]
    print(
        json.dumps(
            {
                "clients": args.clients,
                "upstream": MODEL,
                "requests_per_system": args.clients * args.per_client * args.rounds,
                "max_tokens": args.max_tokens,
                "overhead_p50_ms": plain["overhead_p50_ms"],
                "overhead_p99_ms": plain["overhead_p99_ms"],
                "overhead_semantic_p50_ms": sem["overhead_p50_ms"],
                "overhead_semantic_p99_ms": sem["overhead_p99_ms"],
                "gateway_self_p50_ms": plain["gateway_self"]["p50_ms"],
                "gateway_self_p99_ms": plain["gateway_self"]["p99_ms"],
                "gateway_self_semantic_p50_ms": sem["gateway_self"]["p50_ms"],
                "gateway_self_semantic_p99_ms": sem["gateway_self"]["p99_ms"],
                "plain": plain,
                "semantic": sem,
            }
        )
    )


if __name__ == "__main__":
    main()
