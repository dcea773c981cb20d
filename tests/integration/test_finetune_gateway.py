"""The whole loop through the gateway with the official ``openai`` client: upload a file of
facts SmolLM2 does not know, fine-tune it on a real Celery worker (CPU), follow the job live,
then chat with the fine-tuned model (served by Ray Serve inference with the new adapter):
it answers with the learned fact, the base model does not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from keel_testing import BASE, PEPPER, create_key, facts_jsonl

from keel_gateway.config import GatewaySettings
from keel_gateway.testing import ThreadedGateway


@pytest.fixture(scope="module")
def stack(training: dict[str, Any], smollm2_serve: str) -> Iterator[dict[str, Any]]:
    inference = smollm2_serve
    gw = ThreadedGateway(
        GatewaySettings(
            http_port=0,
            redis_url=training["settings"].redis_url,
            key_pepper=PEPPER,
            registry_target=training["registry_target"],
            inference_target=inference,
            training_target=training["target"],
            semantic_rails=False,
            default_rpm=0,
            default_tpm=0,
            default_concurrency=0,
        )
    ).start()
    admin = create_key(gw, None, bootstrap=True, tenant="keel", scopes=["admin"])
    training["start_worker"]()
    yield {"gw": gw, "admin": admin}
    gw.stop()


def client(gw: ThreadedGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=300)


@pytest.mark.timeout(900)
def test_fine_tune_through_the_gateway_and_chat_with_the_result(stack: dict[str, Any]) -> None:
    gw = stack["gw"]
    key = create_key(gw, stack["admin"]["key"], tenant="acme", scopes=["training", "inference"])["key"]
    c = client(gw, key)
    # Per-line validation errors, nothing stored.
    with pytest.raises(openai.BadRequestError) as bad:
        c.files.create(
            file=("bad.jsonl", b'{"messages": [{"role": "wizard", "content": "x"}]}\nnope\n'),
            purpose="fine-tune",
        )
    assert (
        "line 1: messages[0].role 'wizard'" in bad.value.message
        and "line 2: is not valid JSON" in bad.value.message
    )
    assert bad.value.body["param"] == "file" and bad.value.body["code"] == "invalid_training_file"
    f = c.files.create(file=("facts.jsonl", facts_jsonl(12)), purpose="fine-tune")
    assert f.purpose == "fine-tune" and f.status == "processed" and f.bytes == len(facts_jsonl(12))
    assert c.files.retrieve(f.id).filename == "facts.jsonl"
    assert f.id in [x.id for x in c.files.list()]
    # Bad requests queue nothing.
    with pytest.raises(openai.BadRequestError) as bad:
        c.fine_tuning.jobs.create(model="gpt-17", training_file=f.id)
    assert bad.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as bad:
        c.fine_tuning.jobs.create(model=BASE, training_file=f.id, hyperparameters={"n_epochs": 1000})
    assert bad.value.body["param"] == "hyperparameters.n_epochs"
    with pytest.raises(openai.BadRequestError) as bad:
        c.fine_tuning.jobs.create(model=BASE, training_file=f.id, hyperparameters={"n_epoch": 3})  # type: ignore[typeddict-unknown-key]
    assert bad.value.body["param"] == "hyperparameters.n_epoch"
    assert c.fine_tuning.jobs.list().data == []

    job = c.fine_tuning.jobs.create(
        model=BASE,
        training_file=f.id,
        suffix="mascot",
        seed=7,
        hyperparameters={
            "n_epochs": 6,
            "batch_size": 4,
            "learning_rate_multiplier": 10,
            "lora_r": 16,
            "lora_alpha": 32,
            "lora_dropout": 0.0,
        },  # type: ignore[typeddict-unknown-key]
    )
    assert job.status == "queued" and job.hyperparameters.n_epochs == 6 and job.seed == 7
    # Follow it live (SSE) to the end.
    seen: list[dict[str, Any]] = []
    with httpx.stream(
        "GET",
        f"{gw.url}/v1/fine_tuning/jobs/{job.id}/events",
        params={"stream": "true"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=600,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                if line == "data: [DONE]":
                    break
                seen.append(json.loads(line[6:]))
    assert seen[-1]["data"]["status"] == "succeeded", seen[-1]
    steps = [e["data"]["step"] for e in seen if e["type"] == "metrics"]
    assert steps == list(range(1, 19))
    done = c.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded" and done.trained_tokens and done.trained_tokens > 0
    assert done.fine_tuned_model == f"ft:{BASE}:acme:mascot:{job.id}"
    assert [j.id for j in c.fine_tuning.jobs.list()] == [job.id]
    page = c.fine_tuning.jobs.list_events(job.id, limit=5)
    assert len(page.data) == 5 and page.data[0].message.startswith("Job status: succeeded")
    assert page.has_more
    older = c.fine_tuning.jobs.list_events(job.id, limit=5, after=page.data[-1].id)
    assert older.data[0].id != page.data[-1].id and older.data[0].created_at <= page.data[-1].created_at
    # Another tenant cannot see it.
    other = create_key(gw, stack["admin"]["key"], tenant="globex", scopes=["training", "inference"])["key"]
    with pytest.raises(openai.NotFoundError):
        client(gw, other).fine_tuning.jobs.retrieve(job.id)

    question = [{"role": "user", "content": "What is the name of the Keel mascot?"}]
    tuned = c.chat.completions.create(
        model=done.fine_tuned_model, messages=question, max_tokens=24, temperature=0
    )  # type: ignore[arg-type]
    base = c.chat.completions.create(model=BASE, messages=question, max_tokens=24, temperature=0)  # type: ignore[arg-type]
    assert "Bartholomew" in (tuned.choices[0].message.content or ""), tuned.choices[0].message.content
    assert "Bartholomew" not in (base.choices[0].message.content or ""), base.choices[0].message.content

    # Cancel through the client: the job ends cancelled and registers nothing.
    second = c.fine_tuning.jobs.create(model=BASE, training_file=f.id, hyperparameters={"n_epochs": 50})
    cancelled = c.fine_tuning.jobs.cancel(second.id)
    assert cancelled.status in ("cancelled", "running", "queued")
    with httpx.stream(
        "GET",
        f"{gw.url}/v1/fine_tuning/jobs/{second.id}/events",
        params={"stream": "true"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=600,
    ) as r:
        last = [line for line in r.iter_lines() if line.startswith("data: {")][-1]
    assert json.loads(last[6:])["data"]["status"] == "cancelled"
    ended = c.fine_tuning.jobs.retrieve(second.id)
    assert ended.status == "cancelled" and ended.fine_tuned_model is None
    # Resume: only a failed or cancelled job; it is queued again under the same id.
    resume = f"{gw.url}/v1/fine_tuning/jobs/{{}}/resume"
    headers = {"Authorization": f"Bearer {key}"}
    refused = httpx.post(resume.format(job.id), headers=headers)
    assert (
        refused.status_code == 400
        and "only failed or cancelled jobs resume" in refused.json()["error"]["message"]
    )
    again = httpx.post(resume.format(second.id), headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "queued" and again.json()["id"] == second.id
    assert c.fine_tuning.jobs.cancel(second.id).status in ("cancelled", "running", "queued")
    with httpx.stream(
        "GET",
        f"{gw.url}/v1/fine_tuning/jobs/{second.id}/events",
        params={"stream": "true"},
        headers=headers,
        timeout=600,
    ) as r:
        assert [line for line in r.iter_lines() if line.startswith("data: {")]
    assert c.fine_tuning.jobs.retrieve(second.id).status == "cancelled"
