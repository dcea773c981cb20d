"""The store on SQLite and PostgreSQL: exactly-once saving, feedback before its interaction,
tenant isolation, idempotency, validation naming the field, filters, paging and quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.errors import AlreadyExists, InvalidArgument, NotFound
from keel_feedback.core.filters import THUMB_DOWN, THUMB_UP, Filter
from keel_feedback.core.quality import quality
from keel_feedback.core.scores import Limits, Score, Submission
from keel_feedback.core.store import Store
from keel_feedback.records import row
from keel_feedback.testing import interaction

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def save(store: Store, *interactions: object) -> tuple[int, int]:
    rows = [row(i, i.SerializeToString()) for i in interactions]  # type: ignore[attr-defined]
    saved = store.save_interactions(rows)
    return saved.stored, saved.duplicates


def thumb(rid: str, up: bool, tenant: str = "acme", **kw: object) -> Submission:
    return Submission(rid, tenant, score=Score("thumb", thumb=THUMB_UP if up else THUMB_DOWN), **kw)  # type: ignore[arg-type]


def test_a_redelivered_batch_stores_nothing_twice(store: Store) -> None:
    a, b = interaction("chatcmpl-a"), interaction("chatcmpl-b")
    assert save(store, a, b) == (2, 0)
    assert save(store, b, a, interaction("chatcmpl-c")) == (1, 2)
    assert store.count() == 3
    got = store.get("chatcmpl-a", "acme")
    assert got.interaction is not None and got.interaction.record == a.SerializeToString()
    assert got.interaction.model == "support-bot" and got.interaction.prompt_key


def test_feedback_before_its_interaction_is_accepted_and_joined(store: Store) -> None:
    done = store.submit(thumb("chatcmpl-early", True, rater="u1"))
    assert done.created and not done.interaction_received
    early = store.get("chatcmpl-early", "acme")
    assert early.interaction is None and [f.id for f in early.feedback] == [done.feedback.id]
    save(store, interaction("chatcmpl-early"))
    joined = store.get("chatcmpl-early", "acme")
    assert joined.interaction is not None and [f.normalized for f in joined.feedback] == [1.0]
    assert store.list(Filter(tenant="acme", rated="rated"))[0][0].request_id == "chatcmpl-early"


def test_another_tenants_completion_is_not_found(store: Store) -> None:
    save(store, interaction("chatcmpl-x", tenant="acme"))
    with pytest.raises(NotFound) as err:
        store.submit(thumb("chatcmpl-x", False, tenant="globex"))
    assert err.value.field == "request_id"
    with pytest.raises(NotFound):
        store.get("chatcmpl-x", "globex")
    # Feedback sent under the wrong tenant before the interaction arrived never joins it.
    store.submit(thumb("chatcmpl-y", False, tenant="globex"))
    save(store, interaction("chatcmpl-y", tenant="acme"))
    assert store.get("chatcmpl-y", "acme").feedback == []
    assert quality(store, Filter(tenant="acme"))[0].rated == 0


def test_client_id_makes_a_submission_idempotent(store: Store) -> None:
    first = store.submit(thumb("chatcmpl-i", True, client_id="c-1"))
    again = store.submit(thumb("chatcmpl-i", True, client_id="c-1"))
    assert first.created and not again.created and again.feedback.id == first.feedback.id
    with pytest.raises(AlreadyExists) as err:
        store.submit(thumb("chatcmpl-i", False, client_id="c-1"))
    assert err.value.field == "client_id"
    # The same client_id in another tenant is another key.
    assert store.submit(thumb("chatcmpl-j", True, tenant="globex", client_id="c-1")).created
    assert len(store.get("chatcmpl-i", "acme").feedback) == 1


def test_a_batch_gives_each_submission_its_own_result_from_one_transaction(store: Store) -> None:
    save(store, interaction("chatcmpl-b1", tenant="acme"), interaction("chatcmpl-b2", tenant="globex"))
    store.submit(thumb("chatcmpl-b1", True, client_id="old"))
    results = store.submit_many(
        [
            thumb("chatcmpl-b1", False, rater="u1"),  # stored, joined
            thumb("chatcmpl-b2", True),  # another tenant's completion
            Submission("chatcmpl-b1", "acme", correction="  "),  # bad input
            thumb("chatcmpl-b1", False, client_id="old"),  # client_id reused for other content
            thumb("chatcmpl-b3", True, client_id="new"),  # before its interaction
            thumb("chatcmpl-b3", True, client_id="new"),  # the same, sent twice: a retry of it
            thumb("chatcmpl-b1", True, client_id="old"),  # a retry of the earlier submission
        ]
    )
    ok, other, bad, reused, new, retry, old = results
    assert not isinstance(ok, Exception) and ok.created and ok.interaction_received
    assert isinstance(other, NotFound) and other.field == "request_id"
    assert isinstance(bad, InvalidArgument) and bad.field == "correction"
    assert isinstance(reused, AlreadyExists) and reused.field == "client_id"
    assert not isinstance(new, Exception) and new.created and not new.interaction_received
    assert not isinstance(retry, Exception) and not retry.created and retry.feedback.id == new.feedback.id
    assert not isinstance(old, Exception) and not old.created
    # what was accepted is stored once; what was refused is not stored at all
    assert [f.id for f in store.get("chatcmpl-b1", "acme").feedback] == [old.feedback.id, ok.feedback.id]
    assert [f.id for f in store.get("chatcmpl-b3", "acme").feedback] == [new.feedback.id]
    assert store.get("chatcmpl-b2", "globex").feedback == []


@pytest.mark.parametrize(
    ("sub", "field"),
    [
        (Submission("chatcmpl-v", "acme"), "score"),
        (Submission("not an id!", "acme", comment="x"), "request_id"),
        (Submission("chatcmpl-v", "acme", correction="   "), "correction"),
        (Submission("chatcmpl-v", "acme", comment="x" * 11, limits=Limits(comment=10)), "comment"),
        (Submission("chatcmpl-v", "acme", correction="y" * 11, limits=Limits(correction=10)), "correction"),
        (Submission("chatcmpl-v", "acme", score=Score("rating", value=6, min=1, max=5)), "score.value"),
        (Submission("chatcmpl-v", "acme", score=Score("rating", value=3, min=5, max=1)), "score.scale"),
        (
            Submission("chatcmpl-v", "acme", score=Score("rating", value=float("nan"), min=1, max=5)),
            "score.value",
        ),
        (Submission("chatcmpl-v", "acme", score=Score("thumb", thumb=0)), "score.thumb"),
        (Submission("chatcmpl-v", "acme", score=Score("category", category="Not A Label")), "score.category"),
        (Submission("chatcmpl-v", "acme", score=Score("text", text=" ")), "score.text"),
        (Submission("chatcmpl-v", "acme", source=9, comment="x"), "source"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(store: Store, sub: Submission, field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        store.submit(sub)
    assert err.value.field == field
    with pytest.raises(NotFound):
        store.get(sub.request_id, "acme")


def test_ratings_are_normalised_and_kinds_kept(store: Store) -> None:
    save(store, interaction("chatcmpl-r"))
    store.submit(Submission("chatcmpl-r", "acme", score=Score("rating", value=4, min=1, max=5)))
    store.submit(Submission("chatcmpl-r", "acme", score=Score("category", category="wrong_facts")))
    store.submit(Submission("chatcmpl-r", "acme", correction="Paris is the capital.", source=2))
    fb = store.get("chatcmpl-r", "acme").feedback
    assert [(f.kind, f.normalized) for f in fb] == [("rating", 0.75), ("category", None), ("", None)]
    assert fb[1].category == "wrong_facts" and fb[2].correction.startswith("Paris") and fb[2].source == 2


def test_filters_and_paging(store: Store) -> None:
    save(
        store,
        interaction("chatcmpl-1", created_at=T0, model_version=1),
        interaction("chatcmpl-2", created_at=T0 + timedelta(minutes=1), model_version=2),
        interaction("chatcmpl-3", created_at=T0 + timedelta(minutes=2), model_version=2, blocked=True),
        interaction("chatcmpl-4", created_at=T0 + timedelta(minutes=3), model_version=2, flagged=True),
        interaction(
            "chatcmpl-5", created_at=T0 + timedelta(minutes=3), model="", base_model=DEFAULT_BASE_MODEL
        ),
        interaction("chatcmpl-6", tenant="globex", created_at=T0),
    )
    store.submit(thumb("chatcmpl-1", True))
    store.submit(thumb("chatcmpl-2", False))
    store.submit(Submission("chatcmpl-2", "acme", correction="Better."))
    store.submit(Submission("chatcmpl-4", "acme", comment="odd"))

    def ids(**kw: object) -> list[str]:
        return [s.request_id for s in store.list(Filter(tenant="acme", **kw), 100)[0]]  # type: ignore[arg-type]

    assert ids() == ["chatcmpl-5", "chatcmpl-4", "chatcmpl-3", "chatcmpl-2", "chatcmpl-1"]
    assert ids(rated="rated") == ["chatcmpl-2", "chatcmpl-1"]
    assert ids(rated="unrated") == ["chatcmpl-5", "chatcmpl-3"]  # a comment is feedback
    assert ids(rated="corrected") == ["chatcmpl-2"]
    assert ids(thumb=THUMB_DOWN) == ["chatcmpl-2"]
    assert ids(verdict="blocked") == ["chatcmpl-3"]
    assert ids(verdict="flagged") == ["chatcmpl-4"]
    assert ids(verdict="clean") == ["chatcmpl-5", "chatcmpl-2", "chatcmpl-1"]
    assert ids(model="support-bot", model_version=2) == ["chatcmpl-4", "chatcmpl-3", "chatcmpl-2"]
    assert ids(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3)) == ["chatcmpl-3", "chatcmpl-2"]
    # Pages of two, ties on created_at broken by id, nothing missed or repeated.
    seen, token = [], ""
    while True:
        page, token = store.list(Filter(tenant="acme"), 2, token)
        seen += [s.request_id for s in page]
        if not token:
            break
    assert seen == ids()
    assert [s.request_id for s in store.list(Filter(), 100)[0]].count("chatcmpl-6") == 1
    with pytest.raises(InvalidArgument) as err:
        store.list(Filter(), 10, "garbage!")
    assert err.value.field == "page_token"


def test_quality_per_model_version(store: Store) -> None:
    save(
        store,
        interaction("chatcmpl-a", model_version=1, latency_ms=10),
        interaction("chatcmpl-b", model_version=1, latency_ms=30),
        interaction("chatcmpl-c", model_version=2, blocked=True),
        interaction("chatcmpl-d", model_version=2),
    )
    store.submit(thumb("chatcmpl-a", True))
    store.submit(thumb("chatcmpl-a", True, rater="other"))  # rated twice: one rated answer, two votes
    store.submit(thumb("chatcmpl-b", False))
    store.submit(Submission("chatcmpl-b", "acme", correction="A better answer."))
    store.submit(Submission("chatcmpl-d", "acme", score=Score("rating", value=3, min=1, max=5)))
    v1, v2 = quality(store, Filter(tenant="acme"))
    assert (v1.model_version, v1.interactions, v1.rated, v1.thumbs_up, v1.thumbs_down) == (1, 2, 2, 2, 1)
    assert v1.mean_rating == pytest.approx(2 / 3) and v1.thumbs_up_rate == pytest.approx(2 / 3)
    assert (v1.corrections, v1.correction_rate, v1.mean_latency_ms) == (1, 0.5, 20.0)
    assert (v2.interactions, v2.rated, v2.mean_rating, v2.guardrail_blocks, v2.guardrail_block_rate) == (
        2,
        1,
        0.5,
        1,
        0.5,
    )
    assert v1.adapter_ref == "support-bot/1" and v1.first_seen <= v1.last_seen
    assert quality(store, Filter(tenant="nobody")) == []
