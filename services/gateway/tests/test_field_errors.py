"""A service's field error reaches the HTTP client as OpenAI's ``param``, read from the call's
``google.rpc.BadRequest`` field violation (no message parsing): through a real registry (gRPC,
SQLite, Valkey) and a real training API (``python -m keel_training serve``, as ``keel up``
starts it), each behind a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keel_common.errors import Unavailable
from keel_common.grpc import wait_healthy
from keel_dev.local import port_or_free
from keel_gateway.testing import ThreadedGateway

BASE = "smollm2-135m-instruct"


def _chat(gw: ThreadedGateway, token: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    return httpx.post(
        f"{gw.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_malformed_registry_ref_is_a_400_naming_model(
    registry_factory: Callable[..., Any],
    make_gateway: Callable[..., ThreadedGateway],
    key: Callable[..., str],
) -> None:
    reg = registry_factory(None)
    gw = make_gateway(registry_target=f"127.0.0.1:{reg.grpc_port}")
    token = key("acme", "inference")
    r = _chat(gw, token, "acme-bot/x")  # the registry refuses the ref (field "ref")
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["param"], err["code"]) == ("model", "invalid_value")
    assert err["message"] == "'acme-bot/x': the part after '/' must be a version number"
    r = httpx.get(f"{gw.url}/v1/models/acme-bot/x", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    # A well-formed name the registry does not know stays a 404.
    r = _chat(gw, token, "acme-bot/3")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


@pytest.fixture
def training_api(valkey_url: str, model_cache: Path, tmp_path: Path) -> Iterator[str]:
    port = port_or_free(0)
    env = {
        **os.environ,
        "KEEL_REDIS_URL": valkey_url,
        "KEEL_DATA_DIR": str(tmp_path),
        "KEEL_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "KEEL_TRAINING_MODEL_CACHE_DIR": str(model_cache),
        "KEEL_TRAINING_KEY_PREFIX": f"keel:training:{tmp_path.name}",
        "KEEL_TRAINING_HOST": "127.0.0.1",
        "KEEL_TRAINING_GRPC_PORT": str(port),
        "KEEL_TRAINING_HTTP_PORT": str(port_or_free(0)),
        "KEEL_TRAINING_REGISTRY_TARGET": f"127.0.0.1:{port_or_free(0)}",
    }
    log = (tmp_path / "training.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "keel_training", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        for _ in range(60):  # up to ~2 min on a busy machine; a crash is reported at once
            if proc.poll() is not None:
                pytest.fail(f"training exited: {(tmp_path / 'training.log').read_text()[-2000:]}")
            try:
                wait_healthy(f"127.0.0.1:{port}", timeout=2)
                break
            except Unavailable:
                continue
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.mark.slow  # starts the training API as a process
def test_a_nested_hyperparameter_error_names_the_openai_param(
    training_api: str, make_gateway: Callable[..., ThreadedGateway], key: Callable[..., str]
) -> None:
    gw = make_gateway(training_target=training_api)
    h = {"Authorization": f"Bearer {key('acme', 'training')}"}
    row = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'

    def upload(content: bytes) -> httpx.Response:
        files = {"file": ("a.jsonl", content)}
        return httpx.post(f"{gw.url}/v1/files", files=files, data={"purpose": "fine-tune"}, headers=h)

    r = upload(row)  # too few examples: training names the field "file"
    assert r.status_code == 400 and r.json()["error"]["param"] == "file", r.text
    assert r.json()["error"]["code"] == "invalid_training_file"
    r = upload(row * 12)
    assert r.status_code == 200, r.text
    job = {"model": BASE, "training_file": r.json()["id"], "hyperparameters": {"n_epochs": 10_000}}
    r = httpx.post(f"{gw.url}/v1/fine_tuning/jobs", json=job, headers=h, timeout=120)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    # training names it "hyperparameters.epochs" (its proto field); the client sent n_epochs.
    assert (err["param"], err["code"]) == ("hyperparameters.n_epochs", "invalid_value")
    assert err["message"].startswith("must be between") and "10000" in err["message"]
    # The same through OpenAI's method form.
    job = {
        "model": BASE,
        "training_file": job["training_file"],
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"lora_r": 100_000}}},
    }
    r = httpx.post(f"{gw.url}/v1/fine_tuning/jobs", json=job, headers=h, timeout=120)
    assert r.status_code == 400 and r.json()["error"]["param"] == "hyperparameters.lora_r", r.text
