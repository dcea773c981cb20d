"""The whole loop through the gateway with the official ``openai`` client: upload a file of
facts SmolLM2 does not know, fine-tune it on a real Celery worker (CPU), follow the job live,
then chat with the fine-tuned model (served by Ray Serve inference with the new adapter):
it answers with the learned fact, the base model does not. And from documents: a multi-page
PDF becomes a qa_with_context dataset (questions written by SmolLM2 through the inference
service on a real ingestion worker), the fine-tune trains on ``ds_…@1``, and a training example
is traced back to its PDF page."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from keel_testing import BASE, PEPPER, create_key, facts_jsonl, start_ingestion

from keel_client.gateway import GatewayClient
from keel_feedback.config import FeedbackSettings
from keel_feedback.grpc_api import build as build_feedback
from keel_gateway.config import GatewaySettings
from keel_gateway.testing import ThreadedGateway


@pytest.fixture(scope="module")
def stack(
    training: dict[str, Any], smollm2_serve: str, artifact_root: Path, model_cache: Path
) -> Iterator[dict[str, Any]]:
    inference = smollm2_serve
    ingest_api, ingest_worker = start_ingestion(
        training["tmp"], training["ingestion_port"], {"KEEL_REDIS_URL": training["settings"].redis_url or ""},
        artifact_root, model_cache, inference,
    )  # fmt: skip
    # Feedback: the interactions these chats leave, the ratings on them, exports into ingestion.
    feedback = build_feedback(
        FeedbackSettings(
            grpc_port=0,
            http_port=0,
            redis_url=training["settings"].redis_url,
            data_dir=training["tmp"] / "feedback",
            block_ms=100,
            health_interval_s=0.2,
            ingestion_target=f"127.0.0.1:{training['ingestion_port']}",
        )
    )
    feedback.start()
    gw = ThreadedGateway(
        GatewaySettings(
            http_port=0,
            redis_url=training["settings"].redis_url,
            key_pepper=PEPPER,
            registry_target=training["registry_target"],
            inference_target=inference,
            training_target=training["target"],
            ingestion_target=f"127.0.0.1:{training['ingestion_port']}",
            feedback_target=f"127.0.0.1:{feedback.grpc_port}",
            max_file_bytes=2 * 1024 * 1024,
            semantic_rails=False,
            default_rpm=0,
            default_tpm=0,
            default_concurrency=0,
        )
    ).start()
    admin = create_key(gw, None, bootstrap=True, tenant="keel", scopes=["admin"])
    training["start_worker"]()
    yield {"gw": gw, "admin": admin, "registry": training["registry"]}
    gw.stop()
    feedback.stop(0.5)
    os.killpg(ingest_worker.pid, signal.SIGTERM)
    ingest_worker.wait(30)
    ingest_api.stop(0.5)


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
            "learning_rate_multiplier": 1.4,  # of the auto rate (1.44e-3 on SmolLM2): about 2e-3
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


MACHINES = ["Orrin", "Basalt", "Cobalt", "Dunmore", "Ember", "Fjord", "Garnet", "Hollis",
            "Ivory", "Juniper", "Kestrel", "Lumen", "Marlow", "Nettle", "Opal", "Quill"]  # fmt: skip


def field_manual() -> bytes:
    """A 16-page PDF, one machine per page, with facts SmolLM2 cannot know."""
    from keel_ingestion.testing import multi_page_pdf

    pages = [
        f"The {name} compressor runs at {1200 + 75 * i} rpm. Its oil filter is changed every {20 + i} days. "
        f"Spare belts for the {name} are kept in bay {i + 3}."
        for i, name in enumerate(MACHINES)
    ]
    return multi_page_pdf(pages)


def pdf_page_text(data: bytes, page: int) -> str:
    from pypdf import PdfReader

    return " ".join(PdfReader(io.BytesIO(data)).pages[page - 1].extract_text().split())


@pytest.mark.timeout(900)
def test_documents_to_a_dataset_to_a_fine_tune_traced_to_the_page(stack: dict[str, Any]) -> None:
    gw = stack["gw"]
    key = create_key(gw, stack["admin"]["key"], tenant="acme", scopes=["training", "inference"])["key"]
    headers = {"Authorization": f"Bearer {key}"}
    api = httpx.Client(base_url=f"{gw.url}/v1", headers=headers, timeout=120)
    pdf = field_manual()
    up = api.post("/documents", files={"file": ("field-manual.pdf", pdf, "application/pdf")})
    assert up.status_code == 200, up.text
    doc = up.json()
    assert doc["status"] == "ready" and doc["pages"] == 16 and doc["content_type"] == "application/pdf"
    again = api.post("/documents", files={"file": ("copy.pdf", pdf, "application/pdf")}).json()
    assert again["id"] == doc["id"] and again["already_existed"]
    # bad input is refused at the edge with the field named, and nothing is stored
    refused = api.post(
        "/documents", files={"file": ("tool.exe", b"MZ\x90\x00\x03\x00", "application/octet-stream")}
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "file"
    too_big = api.post("/documents", files={"file": ("big.txt", b"x" * (3 * 1024 * 1024), "text/plain")})
    assert too_big.status_code == 413
    assert [d["id"] for d in api.get("/documents").json()["data"]] == [doc["id"]]

    body = {
        "name": "field-manual-qa", "documents": [doc["id"]], "format": "qa_with_context",
        "chunking": {"max_tokens": 64, "overlap_tokens": 0},
        "qa_synthesis": {"pairs_per_chunk": 3, "max_tokens": 100},
    }  # fmt: skip
    bad = api.post("/datasets", json={**body, "chunking": {"max_tokens": 64, "overlaps": 3}})
    assert bad.status_code == 400 and "overlaps" in bad.text
    op = api.post("/datasets", json=body)
    assert op.status_code == 200, op.text
    op_id, ds = op.json()["id"], op.json()["dataset_id"]
    deadline = time.monotonic() + 600
    while (built := api.get(f"/dataset_operations/{op_id}", params={"events": "true"}).json())["status"] in (
        "pending",
        "running",
    ):
        assert time.monotonic() < deadline, built
        time.sleep(0.5)
    assert built["status"] == "succeeded", built
    assert [e["stage"] for e in built["events"]][-1] == "finalize"
    counts = built["result"]["counts"]
    assert counts["qa_passages"] == 16 and counts["qa_kept"] >= 10, counts
    print(f"\nQA synthesis kept {counts['qa_kept']} of {counts['qa_proposed']} proposed pairs")

    c = client(gw, key)
    job = c.fine_tuning.jobs.create(
        model=BASE, training_file=f"{ds}@1", hyperparameters={"n_epochs": 1, "batch_size": 4}
    )
    assert job.training_file == f"{ds}@1"
    while (job := c.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed", "cancelled"):
        time.sleep(1)
    assert job.status == "succeeded", job.error
    from keel.registry.v1 import registry_pb2 as rpb

    (version,) = stack["registry"].ListVersions(rpb.ListVersionsRequest(training_job_id=job.id)).versions
    assert (version.lineage.dataset_id, version.lineage.dataset_version) == (ds, "1")

    # one training example, traced back to its page of the PDF
    ex = api.get(f"/datasets/{ds}/versions/1/examples", params={"limit": 1}).json()["data"][0]
    src = ex["source"]
    assert src["document_id"] == doc["id"] and src["filename"] == "field-manual.pdf"
    system, _question, answer = ex["messages"]
    passage = " ".join(system["content"].split("\n\n", 1)[1].split())
    page = pdf_page_text(pdf, src["page"])
    assert passage in page and src["page"] == src["page_end"]
    assert re.sub(r"\W+", " ", answer["content"]).strip().lower().split()[-1] in page.lower()
    # another tenant sees none of it
    other = create_key(gw, stack["admin"]["key"], tenant="globex", scopes=["training"])["key"]
    theirs = httpx.Client(base_url=f"{gw.url}/v1", headers={"Authorization": f"Bearer {other}"})
    assert theirs.get(f"/datasets/{ds}").status_code == 404
    assert theirs.get(f"/documents/{doc['id']}").status_code == 404
    with pytest.raises(openai.NotFoundError):
        client(gw, other).fine_tuning.jobs.create(model=BASE, training_file=f"{ds}@1")


@pytest.mark.timeout(900)
def test_feedback_to_sft_and_dpo_exports_to_a_served_dpo_adapter(stack: dict[str, Any]) -> None:
    """The loop closes: an application chats through the openai SDK, its users give thumbs and
    an annotator corrections; both datasets are exported; a DPO job trains on the preference
    pairs on the real worker; the adapter is served."""
    gw = stack["gw"]
    app_key = create_key(gw, stack["admin"]["key"], tenant="loop", scopes=["inference"])["key"]
    trainer = create_key(gw, stack["admin"]["key"], tenant="loop", scopes=["training", "inference"])["key"]
    c = client(gw, app_key)
    # Training needs at least 10 examples in its train split.
    questions = [f"Which animal is the Keel mascot? Answer briefly. ({i})" for i in range(16)]
    answers = [
        c.chat.completions.create(
            model=BASE, messages=[{"role": "user", "content": q}], max_tokens=12, temperature=0
        )
        for q in questions
    ]
    with GatewayClient(gw.url, app_key) as app, GatewayClient(gw.url, trainer) as annotator:
        for a in answers:
            assert app.submit_feedback(a.id, thumbs="down", client_id=f"ui-{a.id}")["created"]
            annotator.submit_feedback(
                a.id, correction="The Keel mascot is a purple walrus.", source="annotator"
            )
        deadline = time.monotonic() + 60
        while sum(r["received"] for r in annotator.list_interactions(rated="corrected", limit=50)) < len(
            answers
        ):
            assert time.monotonic() < deadline, "the interactions never reached the feedback service"
            time.sleep(0.2)
        (q,) = annotator.feedback_stats(base_model=BASE)
        assert (q["interactions"], q["thumbs_down"], q["corrections"]) == (16, 16, 16)
        sft = annotator.export_feedback("sft", "mascot-sft", validation_fraction=0.2, seed=1)
        dpo = annotator.export_feedback("dpo", "mascot-dpo", validation_fraction=0.2, seed=1)
    assert sum(sft["examples"].values()) == sum(dpo["examples"].values()) == 16
    assert dpo["examples"]["validation"] >= 1 and dpo["model_versions"] == [BASE]
    # The same from the CLI: a dry run counts, and the hint names the method.
    from click.testing import CliRunner

    from keel_client.cli import main

    where = ["--gateway-url", gw.url, "--api-key", trainer]
    same = ["--validation-fraction", "0.2", "--seed", "1"]  # the same export: the same version
    out = CliRunner().invoke(
        main, ["feedback", "export", "--kind", "dpo", "--dataset", "mascot-dpo", *same, *where]
    )
    assert out.exit_code == 0, out.output
    assert "dpo export: " in out.output and f"--dataset {dpo['training_file']} --method dpo" in out.output

    tc = client(gw, trainer)
    job = tc.fine_tuning.jobs.create(
        model=BASE,
        training_file=dpo["training_file"],
        suffix="prefs",
        seed=3,
        # Two steps: this test shows the path; test_training shows DPO learning on SmolLM2.
        method={"type": "dpo", "dpo": {"hyperparameters": {
            "beta": 0.1, "n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 5,
        }}},
    )  # type: ignore[call-arg]  # fmt: skip
    seen: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", f"{gw.url}/v1/fine_tuning/jobs/{job.id}/events", params={"stream": "true"},
        headers={"Authorization": f"Bearer {trainer}"}, timeout=600,
    ) as r:  # fmt: skip
        for line in r.iter_lines():
            if line.startswith("data: "):
                if line == "data: [DONE]":
                    break
                seen.append(json.loads(line[6:]))
    assert seen[-1]["data"]["status"] == "succeeded", seen[-1]
    done = tc.fine_tuning.jobs.retrieve(job.id)
    assert done.method is not None and done.method.type == "dpo"
    text = json.dumps(seen)
    assert "preference_accuracy" in text or "reward_accuracy" in text, text[-3000:]
    served = tc.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[{"role": "user", "content": questions[0]}],
        max_tokens=12,  # type: ignore[arg-type]
    )
    assert served.choices[0].message.content and served.model == done.fine_tuned_model
