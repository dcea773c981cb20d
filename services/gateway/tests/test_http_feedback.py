"""``/v1/feedback`` and ``/v1/interactions`` through a real gateway (scripted inference, real
Valkey) to a real feedback gRPC service on SQLite. The test drives the service's stream
consumer itself, one batch at a time, so "feedback before its interaction" is a fact of the
test, not a race."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from keel_feedback.config import FeedbackSettings
from keel_feedback.consumer import Consumer
from keel_feedback.grpc_api import build, consumer_of
from keel_gateway.testing import ThreadedGateway

CHAT = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Who is Bartholomew?"}]}


class Rig:
    def __init__(
        self, gw: ThreadedGateway, consumer: Consumer, acme: str, globex: str, trainer: str, metrics: str
    ) -> None:
        self.gw, self.consumer, self.metrics = gw, consumer, metrics
        self.acme, self.globex, self.trainer = acme, globex, trainer

    def post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        return httpx.post(
            f"{self.gw.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def get(self, path: str, key: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.gw.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def chat(self, key: str, **extra: Any) -> str:
        r = self.post("/v1/chat/completions", CHAT | extra, key)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    def consume(self, n: int) -> None:
        """Store the next ``n`` interactions (each read blocks until the gateway's writer has sent one)."""
        done = 0
        while done < n:
            done += self.consumer.step(block_ms=10_000) or 0


@pytest.fixture
def rig(
    make_gateway: Callable[..., ThreadedGateway], valkey_url: str, key: Callable[..., str], tmp_path: Path
) -> Iterator[Rig]:
    redis.Redis.from_url(valkey_url).delete("keel:interactions")
    # The ingestion API, where exports become dataset versions (no build worker: imports need none).
    from keel_ingestion.config import IngestionSettings
    from keel_ingestion.grpc_api import build as build_ingestion

    ingestion = build_ingestion(
        IngestionSettings(
            grpc_port=0,
            http_port=0,
            redis_url=valkey_url,
            data_dir=tmp_path / "ingestion",
            queue=f"ingest-{tmp_path.name}",
            health_interval_s=0.2,
        )
    )
    ingestion.start()
    ingestion_target = f"127.0.0.1:{ingestion.grpc_port}"
    settings = FeedbackSettings(
        grpc_port=0,
        http_port=0,
        redis_url=valkey_url,
        data_dir=tmp_path,
        consume=False,
        health_interval_s=0.2,
        max_comment_chars=1000,
        ingestion_target=ingestion_target,
        quality_refresh_s=0.1,
    )
    svc = build(settings)
    svc.start()
    client = redis.Redis.from_url(valkey_url)
    from keel_common.sql import create_db_engine
    from keel_feedback.core.store import Store

    engine = create_db_engine(settings.resolved_database_url())
    consumer = consumer_of(settings, Store(engine), client)
    consumer.ensure_group()
    gw = make_gateway(feedback_target=f"127.0.0.1:{svc.grpc_port}", ingestion_target=ingestion_target)
    metrics = f"http://127.0.0.1:{svc.http_port}/metrics"
    yield Rig(
        gw, consumer, key("acme", "inference"), key("globex", "inference"), key("acme", "training"), metrics
    )
    svc.stop(0.5)
    ingestion.stop(0.5)
    client.close()
    engine.dispose()


def test_feedback_before_and_after_its_interaction_is_joined(rig: Rig) -> None:
    cid = rig.chat(rig.acme)
    r = rig.post(
        "/v1/feedback", {"completion_id": cid, "score": {"type": "thumbs", "value": "down"}}, rig.acme
    )
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["object"] == "feedback" and first["created"] and not first["interaction_received"]
    assert first["score"] == {"type": "thumbs", "value": "down"} and first["normalized_score"] == 0.0
    # Read-after-write: visible at once, before the interaction itself.
    seen = rig.get(f"/v1/interactions/{cid}", rig.trainer).json()
    assert seen["received"] is False and [f["id"] for f in seen["feedback"]] == [first["id"]]

    rig.consume(1)
    body = {"completion_id": cid, "correction": "Bartholomew is a walrus at the zoo.", "source": "annotator"}
    second = rig.post("/v1/feedback", body, rig.trainer).json()
    assert second["interaction_received"] and second["source"] == "annotator"
    got = rig.get(f"/v1/interactions/{cid}", rig.trainer).json()
    assert got["received"] and got["completion"] == "Bartholomew the walrus."
    assert got["messages"] == CHAT["messages"] and got["model"] == "smollm2-135m-instruct"
    assert [f["id"] for f in got["feedback"]] == [first["id"], second["id"]]


def test_client_id_is_an_idempotency_key(rig: Rig) -> None:
    cid = rig.chat(rig.acme)
    body = {
        "completion_id": cid,
        "client_id": "tap-1",
        "score": {"type": "rating", "value": 4, "scale": {"min": 1, "max": 5}},
    }
    a = rig.post("/v1/feedback", body, rig.acme).json()
    b = rig.post("/v1/feedback", body, rig.acme).json()
    assert a["created"] and not b["created"] and a["id"] == b["id"] and a["normalized_score"] == 0.75
    other = body | {"score": {"type": "thumbs", "value": "up"}}
    r = rig.post("/v1/feedback", other, rig.acme)
    assert r.status_code == 409 and r.json()["error"]["param"] == "client_id"


def test_tenants_cannot_see_or_rate_each_others_completions(rig: Rig) -> None:
    cid = rig.chat(rig.acme)
    rig.consume(1)
    r = rig.post(
        "/v1/feedback", {"completion_id": cid, "score": {"type": "thumbs", "value": "up"}}, rig.globex
    )
    assert r.status_code == 404 and r.json()["error"]["param"] == "completion_id"
    globex_trainer_view = rig.get(f"/v1/interactions/{cid}", rig.globex)
    assert globex_trainer_view.status_code == 403  # an inference key cannot read conversations
    assert rig.get("/v1/interactions", rig.trainer).json()["data"][0]["id"] == cid


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "completion_id": "chatcmpl-0123456789abcdef01234567",
                "score": {"type": "thumbs", "value": "up"},
            },
            "completion_id",
        ),
        ({"score": {"type": "thumbs", "value": "up"}}, "completion_id"),
        (
            {"completion_id": "ID", "score": {"type": "rating", "value": 7, "scale": {"min": 1, "max": 5}}},
            "score.value",
        ),
        (
            {"completion_id": "ID", "score": {"type": "rating", "value": 3, "scale": {"min": 5, "max": 1}}},
            "score.scale",
        ),
        ({"completion_id": "ID", "score": {"type": "thumbs", "value": "sideways"}}, "score.thumbs.value"),
        ({"completion_id": "ID", "correction": ""}, "correction"),
        ({"completion_id": "ID", "comment": "x" * 2000}, "comment"),
        ({"completion_id": "ID", "score": {"type": "category", "value": "Bad Label!"}}, "score.value"),
        ({"completion_id": "ID"}, "score"),
        ({"completion_id": "ID", "comment": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(rig: Rig, body: dict[str, Any], param: str) -> None:
    if body.get("completion_id") == "ID":
        body = body | {"completion_id": rig.chat(rig.acme)}
    r = rig.post("/v1/feedback", body, rig.acme)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_listing_filters_and_quality(rig: Rig) -> None:
    good, bad, silent = rig.chat(rig.acme), rig.chat(rig.acme), rig.chat(rig.acme, store=False)
    rig.consume(3)
    rig.post("/v1/feedback", {"completion_id": good, "score": {"type": "thumbs", "value": "up"}}, rig.acme)
    rig.post("/v1/feedback", {"completion_id": bad, "score": {"type": "thumbs", "value": "down"}}, rig.acme)
    rig.post("/v1/feedback", {"completion_id": bad, "correction": "A better answer."}, rig.acme)

    def ids(**params: Any) -> list[str]:
        r = rig.get("/v1/interactions", rig.trainer, **params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["data"]]

    assert set(ids()) == {good, bad, silent}
    assert ids(rated="unrated") == [silent]
    assert ids(rated="corrected") == [bad]
    assert ids(thumbs="up") == [good]
    assert rig.get("/v1/interactions", rig.trainer, rated="sometimes").json()["error"]["param"] == "rated"
    page1 = rig.get("/v1/interactions", rig.trainer, limit=2).json()
    page2 = rig.get("/v1/interactions", rig.trainer, limit=2, after=page1["last_id"]).json()
    assert page1["has_more"] and not page2["has_more"]
    assert [i["id"] for i in page1["data"] + page2["data"]] == ids()
    unstored = rig.get(f"/v1/interactions/{silent}", rig.trainer).json()
    assert unstored["stored"] is False and unstored["messages"] is None and unstored["completion"] is None

    stats = rig.get("/v1/feedback/stats", rig.trainer).json()["data"]
    assert len(stats) == 1
    s = stats[0]
    assert (s["interactions"], s["rated"], s["thumbs_up"], s["thumbs_down"], s["corrections"]) == (
        3,
        2,
        1,
        1,
        1,
    )
    assert s["thumbs_up_rate"] == 0.5 and s["correction_rate"] == pytest.approx(1 / 3, abs=1e-6)


def test_exports_become_dataset_versions(rig: Rig) -> None:
    """Thumbs and a correction → a DPO export and an SFT export, each a dataset version in
    ingestion with the lineage of the answers it holds."""
    good, bad = (
        rig.chat(rig.acme),
        rig.chat(rig.acme, messages=[{"role": "user", "content": "And the seal?"}]),
    )
    fixed = rig.chat(rig.acme, messages=[{"role": "user", "content": "Who is Wilma?"}])
    rig.consume(3)
    for cid, body in (
        (good, {"score": {"type": "thumbs", "value": "up"}}),
        (bad, {"score": {"type": "thumbs", "value": "down"}}),
        (fixed, {"correction": "Wilma is the walrus keeper."}),
    ):
        assert rig.post("/v1/feedback", {"completion_id": cid, **body}, rig.acme).status_code == 200
    dry = rig.post(
        "/v1/feedback/exports", {"kind": "sft", "dataset": "walrus-sft", "dry_run": True}, rig.trainer
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["training_file"] is None and sum(dry.json()["examples"].values()) == 2

    sft = rig.post("/v1/feedback/exports", {"kind": "sft", "dataset": "walrus-sft"}, rig.trainer).json()
    assert sft["training_file"] == f"{sft['dataset_id']}@1" and sum(sft["examples"].values()) == 2
    dpo = rig.post("/v1/feedback/exports", {"kind": "dpo", "dataset": "walrus-dpo"}, rig.trainer).json()
    assert sum(dpo["examples"].values()) == 1 and dpo["model_versions"] == ["smollm2-135m-instruct"]
    version = rig.get(f"/v1/datasets/{dpo['dataset_id']}/versions/1", rig.trainer).json()
    assert version["format"] == "preference" and version["status"] == "ready"
    examples = rig.get(f"/v1/datasets/{dpo['dataset_id']}/versions/1/examples", rig.trainer).json()
    assert examples["data"][0]["messages"][-1]["content"] == "Wilma is the walrus keeper."
    # The same export again is the same version; the dataset by id works too.
    again = rig.post(
        "/v1/feedback/exports", {"kind": "dpo", "dataset": dpo["dataset_id"]}, rig.trainer
    ).json()
    assert again["training_file"] == dpo["training_file"]
    # Prompts of an evaluation set are left out: here the SFT version, which holds both rated ones.
    body = {"kind": "dpo", "dataset": "walrus-dpo", "exclude_dataset": sft["training_file"], "dry_run": True}
    held_out = rig.post("/v1/feedback/exports", body, rig.trainer)
    assert held_out.status_code == 400 and '"in_evaluation_set": 2' in held_out.json()["error"]["message"]

    for body, param in (
        ({"kind": "ppo", "dataset": "x"}, "kind"),
        ({"kind": "sft", "dataset": "ds_nope"}, "dataset"),
        ({"kind": "sft", "dataset": "x", "exclude_dataset": "not-a-ref"}, "exclude_dataset"),
        ({"kind": "sft", "dataset": "x", "min_rating": 2}, "min_rating"),
    ):
        r = rig.post("/v1/feedback/exports", body, rig.trainer)
        assert r.status_code in (400, 404) and r.json()["error"]["param"] == param, (body, r.text)
    nothing = rig.post("/v1/feedback/exports", {"kind": "sft", "dataset": "x", "model": "nope"}, rig.trainer)
    assert nothing.status_code == 400 and "no interaction qualifies" in nothing.json()["error"]["message"]
    assert rig.post("/v1/feedback/exports", {"kind": "sft", "dataset": "x"}, rig.acme).status_code == 403


def test_lag_and_quality_are_prometheus_gauges(rig: Rig) -> None:
    """The stream's lag (entries not yet stored) and quality per model version, labelled by
    model, version and base model only."""
    cid = rig.chat(rig.acme)
    deadline = time.monotonic() + 10
    while "keel_feedback_consumer_undelivered 1.0" not in (text := httpx.get(rig.metrics).text):
        assert time.monotonic() < deadline, text[-2000:]  # the gateway writes the record after answering
        time.sleep(0.05)
    assert "keel_feedback_consumer_lag_seconds" in text and "keel_feedback_consumer_pending 0.0" in text
    rig.consume(1)
    rig.post("/v1/feedback", {"completion_id": cid, "score": {"type": "thumbs", "value": "up"}}, rig.acme)
    want = 'keel_feedback_quality_thumbs_up_rate{base_model="smollm2-135m-instruct",model="",version="0"} 1.0'
    deadline = time.monotonic() + 10
    while want not in (text := httpx.get(rig.metrics).text):  # the snapshot is refreshed every 0.1 s here
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.05)
    assert "keel_feedback_consumer_undelivered 0.0" in text
    assert 'keel_feedback_submissions_total{kind="thumb",outcome="created"}' in text
    assert cid not in text  # no request id in any label


def test_submissions_that_arrive_together_go_to_the_service_together(rig: Rig) -> None:
    """The gateway's batcher against the real feedback service: 50 submissions made in one event
    loop tick go as three calls (one at once, one more while it is under way, then the 48 that
    waited), and each caller gets its own result or error."""
    import asyncio

    import grpc

    from keel.feedback.v1 import feedback_pb2 as pb
    from keel.feedback.v1 import feedback_pb2_grpc as pb_grpc
    from keel_gateway.errors import ApiError
    from keel_gateway.feedback_batch import SubmitBatcher

    theirs = rig.chat(rig.globex)
    rig.consume(1)

    def batches() -> tuple[float, float]:
        text = httpx.get(rig.metrics).text
        values = [
            float(line.rsplit(" ", 1)[1])
            for name in ("count", "sum")
            for line in text.splitlines()
            if line.startswith(f"keel_feedback_submit_batch_submissions_{name} ")
        ]
        return values[0], values[1]

    good = [
        pb.SubmitFeedbackRequest(request_id=f"chatcmpl-batch{i}", tenant="acme", comment=f"note {i}")
        for i in range(48)
    ]
    bad = [
        pb.SubmitFeedbackRequest(request_id=theirs, tenant="acme", comment="not mine"),
        pb.SubmitFeedbackRequest(request_id="chatcmpl-batchx", tenant="acme", correction="  "),
    ]

    async def submit_all() -> list[Any]:
        async with grpc.aio.insecure_channel(rig.gw.settings.feedback_target) as channel:
            batcher = SubmitBatcher(pb_grpc.FeedbackServiceStub(channel), {"request_id": "completion_id",
                                    "correction": "correction"}, timeout_s=30)  # fmt: skip
            return await asyncio.gather(*(batcher.submit(r) for r in [*good, *bad]), return_exceptions=True)

    calls, submitted = batches()
    results = asyncio.run(submit_all())
    after = batches()
    assert (after[0] - calls, after[1] - submitted) == (3, 50)
    assert [r.feedback.request_id for r in results[:48]] == [r.request_id for r in good]
    assert all(r.created for r in results[:48])
    other, empty = results[48:]
    assert isinstance(other, ApiError) and (other.status, other.param) == (404, "completion_id")
    assert isinstance(empty, ApiError) and (empty.status, empty.param) == (400, "correction")
    # read-after-write: each is there as soon as its caller has the answer
    seen = rig.get("/v1/interactions/chatcmpl-batch7", rig.trainer).json()
    assert [f["comment"] for f in seen["feedback"]] == ["note 7"]
