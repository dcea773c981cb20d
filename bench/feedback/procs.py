"""The services under test, each in its own process, and the CPU they use.

- inference: ``stub_inference.py`` (a scripted gRPC stub, not a model);
- feedback: ``python -m keel_feedback serve`` (gRPC API + the stream consumer, SQLite);
- gateway: ``python -m keel_gateway serve`` (uvicorn, ``--gateway-workers`` processes);
- ingestion: ``keel_ingestion.grpc_api.build`` inside the benchmark's process (it only receives
  the export at the end, so it needs no process of its own);
- Valkey: ``EmbeddedValkey``, started by the caller.

Separate processes, as in a deployment: each has its own interpreter lock, and ``/proc`` tells
how much CPU each one used (``CpuMeter``). The gateway and feedback are started with the service
CLIs and environment variables, the way ``bench/gateway`` starts the gateway."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis.asyncio as aioredis
from corpus import PEPPER

from keel_common.grpc import wait_healthy
from keel_dev.local import port_or_free
from keel_gateway.keys import KeyStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from run import pct as pct  # re-exported for run.py, whose own name hides this module
from run import stop, wait_port  # the inference benchmark's helpers, as bench/gateway uses them

HERE = Path(__file__).resolve().parent


class CpuMeter:
    """User + system CPU seconds of named processes (each with its descendants: the gateway's
    uvicorn workers), of Valkey, of this process alone, and of the whole machine (``machine``:
    what is left after ours is someone else's load), read together."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        me = psutil.Process()
        valkey = [p for p in me.children(recursive=True) if "valkey" in p.name()]
        if valkey:
            self.procs["valkey"] = valkey[0]
        self.me = me

    @staticmethod
    def _tree(p: psutil.Process) -> float:
        total = 0.0
        for q in [p, *p.children(recursive=True)]:
            try:
                t = q.cpu_times()
            except psutil.Error:  # a process that ended meanwhile
                continue
            total += t.user + t.system
        return total

    def sample(self) -> dict[str, float]:
        out = {name: self._tree(p) for name, p in self.procs.items()}
        t = self.me.cpu_times()
        out["bench"] = t.user + t.system  # the load clients (and the idle ingestion API)
        m = psutil.cpu_times()
        out["machine"] = sum(m) - m.idle - getattr(m, "iowait", 0.0)  # every process on every core
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before[k] for k in before}


@dataclass
class Services:
    tmp: Path
    redis_url: str
    database_url: str  # the feedback service's SQLite
    gateway_url: str = ""
    feedback_target: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ingestion: Any = None
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # tenant -> (inference, training)

    def env(self, **extra: str) -> dict[str, str]:
        return dict(
            os.environ,
            KEEL_REDIS_URL=self.redis_url,
            KEEL_DATA_DIR=str(self.tmp),
            KEEL_LOG_JSON="false",
            KEEL_LOG_LEVEL="WARNING",
            **extra,
        )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def start(self, gateway_workers: int, tenants: tuple[str, ...]) -> None:
        from keel_ingestion.config import IngestionSettings
        from keel_ingestion.grpc_api import build as build_ingestion

        stub_port = port_or_free(0)
        stub_argv = [sys.executable, str(HERE / "stub_inference.py"), "--port", str(stub_port)]
        stub = self._spawn("inference-stub", stub_argv, self.env())
        self.ingestion = build_ingestion(
            IngestionSettings(
                grpc_port=0,
                http_port=0,
                redis_url=self.redis_url,
                data_dir=self.tmp / "ingestion",
                queue="bench-feedback-ingest",
            )
        )
        self.ingestion.start()
        ingestion_target = f"127.0.0.1:{self.ingestion.grpc_port}"
        fb_port = port_or_free(0)
        feedback = self._spawn(
            "feedback",
            [sys.executable, "-m", "keel_feedback", "serve"],
            self.env(
                KEEL_FEEDBACK_GRPC_PORT=str(fb_port),
                KEEL_FEEDBACK_HTTP_PORT=str(port_or_free(0)),
                KEEL_FEEDBACK_DATABASE_URL=self.database_url,
                KEEL_FEEDBACK_INGESTION_TARGET=ingestion_target,
                KEEL_FEEDBACK_CONSUMER_NAME="bench-feedback-0",
            ),
        )
        self.feedback_target = f"127.0.0.1:{fb_port}"
        gw_port = port_or_free(0)
        gateway = self._spawn(
            "gateway",
            [sys.executable, "-m", "keel_gateway", "serve"],
            self.env(
                KEEL_GATEWAY_HTTP_PORT=str(gw_port),
                KEEL_GATEWAY_WORKERS=str(gateway_workers),
                KEEL_GATEWAY_KEY_PEPPER=PEPPER,
                KEEL_GATEWAY_INFERENCE_TARGET=f"127.0.0.1:{stub_port}",
                KEEL_GATEWAY_FEEDBACK_TARGET=self.feedback_target,
                KEEL_GATEWAY_INGESTION_TARGET=ingestion_target,
                KEEL_GATEWAY_REGISTRY_TARGET="127.0.0.1:1",
                KEEL_GATEWAY_TRAINING_TARGET="127.0.0.1:1",
                # MiniLM rails off: the faster gateway, so the harder one for the consumer to follow.
                KEEL_GATEWAY_SEMANTIC_RAILS="false",
                KEEL_GATEWAY_DEFAULT_RPM="0",
                KEEL_GATEWAY_DEFAULT_TPM="0",
                KEEL_GATEWAY_DEFAULT_CONCURRENCY="0",
            ),
        )
        self.gateway_url = f"http://127.0.0.1:{gw_port}"
        wait_port(stub, stub_port, 60)
        wait_port(feedback, fb_port, 120)
        wait_healthy(self.feedback_target, timeout=120)
        wait_port(gateway, gw_port, 120)
        self.keys = asyncio.run(_make_keys(self.redis_url, tenants))

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                stop(proc)
        if self.ingestion is not None:
            self.ingestion.stop(0.5)


async def _make_keys(redis_url: str, tenants: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """An inference key (chat, feedback) and a training key (reading interactions, exports) per
    tenant, made straight in Valkey as ``keel-gateway keys create`` does."""
    client = aioredis.Redis.from_url(redis_url)
    store = KeyStore(client, PEPPER.encode())
    out = {}
    try:
        for t in tenants:
            _, inference = await store.create(t, ["inference"], "bench-app")
            _, training = await store.create(t, ["training"], "bench-annotator")
            out[t] = (inference, training)
    finally:
        await client.aclose()
    return out
