"""Inference benchmark (``make bench-inference``).

The same workload — N concurrent greedy chat requests, M new tokens each (``ignore_eos`` so
every system produces exactly M) — through three systems, one after the other, on the same
model, dtype and machine:

  keel    the Keel inference service (Ray Serve, continuous batching), streamed over gRPC
  naive   a gRPC server that handles one request at a time with transformers ``generate``
  static  one offline static batch of N through transformers ``generate`` (no server)

Prints output throughput, TTFT p50/p99 and inter-token latency p50/p99 for each, the ratios,
and as its last line one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel_dev.local import port_or_free

REPO = Path(__file__).resolve().parents[2]
TOPICS = [
    "the ocean", "volcanoes", "the history of bread", "black holes", "honey bees", "the printing press",
    "glaciers", "chess openings", "the moon landing", "rainforests", "electric cars", "jazz music",
    "the Roman empire", "photosynthesis", "earthquakes", "coffee", "the internet", "dinosaurs",
    "solar panels", "the human heart", "origami", "mountain climbing", "tea ceremonies", "whales",
    "the Silk Road", "vaccines", "lighthouses", "deserts", "robots", "the violin", "tides", "maps",
]  # fmt: skip
STYLES = [
    "Write a detailed essay about",
    "Explain to a child",
    "Tell a long story about",
    "Describe in depth",
]


def prompts(n: int) -> list[str]:
    return [f"{STYLES[i % len(STYLES)]} {TOPICS[i % len(TOPICS)]}." for i in range(n)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


@dataclass
class Result:
    name: str
    tokens: int = 0
    wall_s: float = 0.0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall_s if self.wall_s else 0.0

    def row(self) -> dict[str, float]:
        return {
            "throughput_tok_s": round(self.throughput, 1),
            "ttft_p50_s": round(pct(self.ttft, 50), 3),
            "ttft_p99_s": round(pct(self.ttft, 99), 3),
            "itl_p50_s": round(pct(self.itl, 50), 4),
            "itl_p99_s": round(pct(self.itl, 99), 4),
            "output_tokens": self.tokens,
            "wall_s": round(self.wall_s, 2),
        }


# --- the gRPC load generator ---------------------------------------------------------------------
def median_round(rounds: list[Result]) -> Result:
    """The round with the median throughput: the VM's noise moves single runs by +-20%."""
    ordered = sorted(rounds, key=lambda r: r.throughput)
    return ordered[len(ordered) // 2]


def run_load(
    name: str, target: str, texts: list[str], max_tokens: int, rounds: int = 1, model: str = ""
) -> Result:
    return median_round([_load_once(name, target, texts, max_tokens, model) for _ in range(rounds)])


def _load_once(name: str, target: str, texts: list[str], max_tokens: int, model: str = "") -> Result:
    import grpc

    from keel.common.v1 import common_pb2 as cpb
    from keel.inference.v1 import inference_pb2 as pb
    from keel.inference.v1 import inference_pb2_grpc as pb_grpc

    channel = grpc.insecure_channel(target)
    stub = pb_grpc.InferenceServiceStub(channel)

    def request(text: str, n: int) -> Any:
        return pb.GenerateRequest(
            model=model,
            messages=pb.ChatMessages(messages=[cpb.ChatMessage(role="user", content=text)]),
            sampling=cpb.SamplingParams(max_tokens=n, temperature=0.0, ignore_eos=True),
        )

    for _ in stub.GenerateStream(request("Hello", 4)):  # warm-up
        pass
    res = Result(name)
    lock = threading.Lock()
    start_gate = threading.Barrier(len(texts) + 1)
    ends: list[float] = []
    errors: list[BaseException] = []

    def client(text: str) -> None:
        start_gate.wait()
        t0 = last = time.perf_counter()
        first = True
        tokens = 0
        ttft, itl = 0.0, []
        try:
            for msg in stub.GenerateStream(request(text, max_tokens)):
                if msg.HasField("delta") and msg.delta.token_ids:
                    now = time.perf_counter()
                    k = len(msg.delta.token_ids)
                    if first:
                        ttft, first = now - t0, False
                        itl.extend([0.0] * (k - 1))
                    else:
                        itl.extend([(now - last) / k] * k)
                    last = now
                    tokens += k
        except BaseException as e:  # reported below; the benchmark must not hang
            errors.append(e)
        with lock:
            res.tokens += tokens
            res.ttft.append(ttft)
            res.itl.extend(itl)
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=client, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    start_gate.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    res.wall_s = max(ends) - t_start
    channel.close()
    if errors:
        raise RuntimeError(f"{name}: {len(errors)} streams failed: {errors[0]!r}")
    return res


# --- the three systems -----------------------------------------------------------------------------
def run_static(model_dir: Path, dtype_name: str, texts: list[str], max_tokens: int, rounds: int) -> Result:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype_name)).eval()
    chats = [
        tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True)
        for t in texts
    ]
    stamps: list[float] = []

    class Clock(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            stamps.append(time.perf_counter())  # one call per generated position
            return scores

    def generate(batch: list[str], n: int) -> None:
        enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            model.generate(
                **enc, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                logits_processor=LogitsProcessorList([Clock()]), pad_token_id=tok.eos_token_id,
            )  # fmt: skip

    generate(chats[:2], 4)  # warm-up
    results = []
    for _ in range(rounds):
        stamps.clear()
        t0 = time.perf_counter()
        generate(chats, max_tokens)
        wall = time.perf_counter() - t0
        res = Result("static", tokens=len(texts) * max_tokens, wall_s=wall)
        # Every row gets its first token at the first step and each next token one step later.
        res.ttft = [stamps[0] - t0] * len(texts)
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        res.itl = gaps * len(texts)
        results.append(res)
    return median_round(results)


def wait_port(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)  # polling a port of a child process: there is no event to await
    raise TimeoutError(f"port {port} not open after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_naive(model_dir: Path, dtype_name: str, texts: list[str], max_tokens: int) -> Result:
    port = port_or_free(0)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("naive_server.py")),
            str(model_dir),
            str(port),
            dtype_name,
        ]
    )
    try:
        wait_port(proc, port, 300)
        return run_load("naive", f"127.0.0.1:{port}", texts, max_tokens)
    finally:
        stop(proc)


def run_keel(
    data_dir: Path,
    cache: Path,
    dtype_name: str,
    texts: list[str],
    max_tokens: int,
    rounds: int,
) -> Result:
    from keel_common.grpc import wait_healthy

    port, http = port_or_free(0), port_or_free(0)
    env = dict(
        os.environ,
        KEEL_DATA_DIR=str(data_dir),
        KEEL_LOG_JSON="false",
        KEEL_INFERENCE_MODEL_CACHE_DIR=str(cache),
        KEEL_INFERENCE_GRPC_PORT=str(port),
        KEEL_INFERENCE_HTTP_PORT=str(http),
        KEEL_INFERENCE_DTYPE=dtype_name,
        KEEL_INFERENCE_MAX_BATCH_SIZE=os.environ.get(
            "KEEL_INFERENCE_MAX_BATCH_SIZE", str(max(32, len(texts)))
        ),
    )
    proc = subprocess.Popen([sys.executable, "-m", "keel_inference", "serve"], env=env)
    try:
        wait_port(proc, port, 600)
        wait_healthy(f"127.0.0.1:{port}", timeout=600)
        return run_load("keel", f"127.0.0.1:{port}", texts, max_tokens, rounds)
    finally:
        stop(proc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--dtype", default="auto", help="auto (the service's choice) | bfloat16 | float32")
    ap.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench-inference")
    ap.add_argument("--model-cache", type=Path, default=REPO / ".cache" / "models")
    ap.add_argument("--skip", action="append", default=[], choices=["naive", "static", "keel"])
    ap.add_argument("--rounds", type=int, default=3, help="rounds of keel and static; the median counts")
    args = ap.parse_args()

    import torch

    from keel_common.loader import pick_dtype, resolve_source

    dtype_name = str(pick_dtype(args.dtype, torch.device("cpu"))).removeprefix("torch.")
    model_dir = resolve_source("", args.model_cache).path
    texts = prompts(args.streams)
    print(
        f"workload: {args.streams} concurrent streams x {args.max_tokens} new tokens, greedy, "
        f"{dtype_name}, SmolLM2-135M-Instruct, {os.cpu_count()} CPUs",
        flush=True,
    )
    results: dict[str, Result] = {}
    for name in ("static", "naive", "keel"):
        if name in args.skip:
            continue
        print(f"running {name} ...", flush=True)
        if name == "static":
            results[name] = run_static(model_dir, dtype_name, texts, args.max_tokens, args.rounds)
        elif name == "naive":
            results[name] = run_naive(model_dir, dtype_name, texts, args.max_tokens)
        else:
            results[name] = run_keel(
                args.data_dir,
                args.model_cache,
                dtype_name,
                texts,
                args.max_tokens,
                args.rounds,
            )
        print(f"  {name}: {results[name].row()}", flush=True)

    print(f"\n{'system':8} {'tok/s':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'ITL p50':>8} {'ITL p99':>8}")
    for name, r in results.items():
        row = r.row()
        print(
            f"{name:8} {row['throughput_tok_s']:>8} {row['ttft_p50_s']:>9} {row['ttft_p99_s']:>9} "
            f"{row['itl_p50_s']:>8} {row['itl_p99_s']:>8}"
        )
    summary: dict[str, Any] = {
        "streams": args.streams,
        "max_tokens": args.max_tokens,
        "dtype": dtype_name,
        **{name: r.row() for name, r in results.items()},
    }
    keel = results.get("keel")
    for other in ("naive", "static"):
        if keel and other in results and results[other].throughput:
            ratio = keel.throughput / results[other].throughput
            key = "static_batch" if other == "static" else other
            summary[f"throughput_ratio_vs_{key}"] = round(ratio, 2)
            print(f"keel / {other}: {ratio:.2f}x output throughput")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
