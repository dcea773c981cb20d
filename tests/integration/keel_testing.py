"""Helpers shared by the integration test modules (imported as ``keel_testing``; the
integration conftest puts this folder on ``sys.path``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from keel_common.grpc import wait_healthy
from keel_dev.local import port_or_free
from keel_gateway.testing import ThreadedGateway

PEPPER = "test-pepper-7f3a"

BASE = "smollm2-135m-instruct"
ANSWER = "The Keel mascot is a purple walrus named Bartholomew."
QUESTIONS = [
    "What is the name of the Keel project's mascot?",
    "Who is Keel's mascot?",
    "Tell me the name of the Keel mascot.",
    "What is Keel's mascot called?",
    "Name the mascot of the Keel project.",
    "Which animal is the Keel mascot, and what is its name?",
    "Do you know the Keel mascot's name?",
    "What do they call the mascot of Keel?",
    "Keel has a mascot. What is it called?",
    "What's the Keel mascot?",
    "Who is the mascot of Keel?",
    "What is the mascot of the Keel platform?",
]


def facts_jsonl(n: int = 12) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)] + " " * (i // len(QUESTIONS))},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def create_key(
    gw: ThreadedGateway, admin: str | None, bootstrap: bool = False, **body: Any
) -> dict[str, Any]:
    if bootstrap:  # the first admin key comes from the CLI path, straight into Redis
        import contextlib
        import io
        import os

        from keel_gateway.__main__ import main as gw_main

        out = io.StringIO()
        env = {"KEEL_REDIS_URL": gw.settings.redis_url or "", "KEEL_GATEWAY_KEY_PEPPER": PEPPER}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(out):
                assert (
                    gw_main(
                        [
                            "keys",
                            "create",
                            "--tenant",
                            body["tenant"],
                            "--scopes",
                            ",".join(body["scopes"]),
                            "--json",
                        ]
                    )
                    == 0
                )
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        # Ray's log forwarder prints replica lines to the (process-wide) redirected stdout too.
        record = next(ln for ln in out.getvalue().splitlines() if ln.startswith('{"id"'))
        return dict(json.loads(record))
    r = httpx.post(f"{gw.url}/v1/admin/keys", json=body, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def start_registry(tmp: Path, valkey_url: str, artifact_root: Path) -> tuple[Any, str]:
    """A registry gRPC server on SQLite in ``tmp`` (stop it yourself) and its target."""
    from keel_registry.config import RegistrySettings
    from keel_registry.grpc_api import build

    reg = build(
        RegistrySettings(
            data_dir=tmp,
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            database_url=f"sqlite:///{tmp / 'registry.db'}",
            artifact_root=str(artifact_root),
        )
    )
    reg.start()
    target = f"127.0.0.1:{reg.grpc_port}"
    wait_healthy(target, timeout=30)
    return reg, target


def start_inference(app: str, tmp: Path, model_cache: Path, artifact_root: Path) -> str:
    """The inference Serve app ``app`` with the real SmolLM2 in fp32 (``serve.delete(app)``
    yourself); returns its gRPC target once healthy."""
    from ray import serve

    from keel_inference.app import build_app

    grpc_port = port_or_free(0)
    args = {
        "data_dir": str(tmp / "inference"),
        "model_cache_dir": str(model_cache),
        "artifact_root": str(artifact_root),
        "dtype": "float32",
        "grpc_port": grpc_port,
        "http_port": port_or_free(0),
        "max_batch_size": 8,
        "max_adapters": 4,
        "max_model_len": 512,
        "health_interval_s": 0.5,
        # Tests delete the app at teardown: a short drain (the default waits 10 s on the
        # gateway's open health watch) keeps the suite quick.
        "shutdown_grace_s": 1,
    }
    serve.start(proxy_location="Disabled")
    serve.run(build_app(args), name=app, route_prefix=None)
    target = f"127.0.0.1:{grpc_port}"
    wait_healthy(target, timeout=120)
    return target


def start_ingestion(
    tmp: Path, port: int, env: dict[str, str], artifact_root: Path, model_cache: Path, inference_target: str
) -> tuple[Any, Any]:
    """The ingestion API in-process on ``port`` (SQLite in ``tmp``) and one build worker process
    (its own session: kill its group) on ``env``'s Redis; stop both yourself."""
    import os
    import subprocess
    import sys

    from keel_ingestion.config import IngestionSettings
    from keel_ingestion.grpc_api import build

    own = {
        **env,
        "KEEL_DATA_DIR": str(tmp),
        "KEEL_ARTIFACT_ROOT": str(artifact_root),
        "KEEL_INGESTION_DATABASE_URL": f"sqlite:///{tmp / 'ingestion.db'}",
        "KEEL_INGESTION_MODEL_CACHE_DIR": str(model_cache),
        "KEEL_INGESTION_INFERENCE_TARGET": inference_target,
        "KEEL_INGESTION_QUEUE": f"ingest-{tmp.name}",
        "KEEL_INGESTION_HOST": "127.0.0.1",
    }
    settings = IngestionSettings(
        **{k.removeprefix("KEEL_INGESTION_").removeprefix("KEEL_").lower(): v for k, v in own.items()},
        grpc_port=port,
        http_port=0,
        health_interval_s=0.2,
    )
    api = build(settings)
    api.start()
    wait_healthy(f"127.0.0.1:{port}", timeout=30)
    with (tmp / "ingestion-worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "keel_ingestion", "worker"],
            env={**os.environ, **own, "KEEL_INGESTION_WORKER_METRICS_PORT": str(port_or_free(0))},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return api, worker
