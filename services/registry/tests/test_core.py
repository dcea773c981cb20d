"""The registry core without gRPC: models, versions and their status rules, aliases with their
audit trail and published events, resolution. Errors name the offending field."""

from __future__ import annotations

import json

import pytest
import redis

from keel_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from keel_registry.core import Registry, VersionSpec, VersionUpdate
from keel_registry.events import AliasPublisher


def ready_version(core: Registry, tmp_artifact: bytes = b"weights", model: str = "team-m") -> int:
    """A READY version with an uploaded artifact (the model is created on first use)."""
    if not core.list_models(query=model)[0]:
        core.create_model(model)
    ref = core.upload_artifact(model, "adapter.bin", "", iter([tmp_artifact]))
    spec = VersionSpec(model=model, base_model="base", artifact_uri=ref.uri, create_model=True, creator="ci")
    return core.create_version(spec).version


def test_models_are_created_once_and_listed(registry_core: Registry) -> None:
    m = registry_core.create_model("team-m", "first", "team", "alice")
    assert (m.name, m.tenant, m.creator, m.latest_version, m.aliases) == ("team-m", "team", "alice", 0, {})
    with pytest.raises(AlreadyExists) as err:
        registry_core.create_model("team-m")
    assert err.value.field == "name"
    registry_core.create_model("other-m", tenant="other")
    names = [x.name for x in registry_core.list_models(tenant="team")[0]]
    assert names == ["team-m"]
    page, token = registry_core.list_models(page_size=1)
    assert [x.name for x in page] == ["other-m"] and token
    assert [x.name for x in registry_core.list_models(page_size=1, page_token=token)[0]] == ["team-m"]
    assert registry_core.update_model("team-m", "second").description == "second"


def test_versions_number_up_and_follow_the_status_rules(registry_core: Registry) -> None:
    with pytest.raises(NotFound) as missing:
        registry_core.create_version(VersionSpec(model="team-m", base_model="base"))
    assert missing.value.field == "model"
    pending = registry_core.create_version(VersionSpec(model="team-m", base_model="base", create_model=True))
    assert (pending.version, pending.status) == (1, "PENDING")
    assert ready_version(registry_core) == 2
    with pytest.raises(InvalidArgument) as err:
        registry_core.create_version(VersionSpec(model="team-m", base_model="b", status="READY"))
    assert err.value.field == "artifact_uri"
    with pytest.raises(InvalidArgument) as err:
        registry_core.create_version(
            VersionSpec(model="team-m", base_model="b", metrics={"loss": float("nan")})
        )
    assert err.value.field == "metrics[loss]"

    failed = registry_core.update_version("team-m", 1, VersionUpdate(status="FAILED", status_message="oom"))
    assert (failed.status, failed.status_message) == ("FAILED", "oom")
    with pytest.raises(FailedPrecondition):  # FAILED is final
        registry_core.update_version("team-m", 1, VersionUpdate(status="READY"))
    tagged = registry_core.update_version("team-m", 2, VersionUpdate(add_tags=["prod", "v2"]))
    assert tagged.tags == ["prod", "v2"]
    assert [v.version for v in registry_core.list_versions(model="team-m", tag="prod")[0]] == [2]


def test_aliases_move_roll_back_and_are_published(
    registry_core: Registry, events: tuple[redis.Redis, AliasPublisher]
) -> None:
    client, publisher = events
    v1, v2 = ready_version(registry_core), ready_version(registry_core, b"better")
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(publisher.channel)
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"

    registry_core.set_alias("team-m", "prod", v1, "alice", "first")
    registry_core.set_alias("team-m", "prod", v2, "bob", "better")
    assert registry_core.set_alias("team-m", "prod", v2, "bob").version == v2  # no move, no event
    back = registry_core.rollback_alias("team-m", "prod", "carol", "regression")
    assert (back.version, back.updated_by) == (v1, "carol")

    history, _ = registry_core.alias_history("team-m", "prod")
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in history] == [
        ("ROLLBACK", v2, v1, "carol"),
        ("SET", v1, v2, "bob"),
        ("SET", 0, v1, "alice"),
    ]
    published: list[dict[str, object]] = []
    while len(published) < 3 and (msg := pubsub.get_message(timeout=5)) is not None:
        if msg["type"] == "message":
            published.append(json.loads(msg["data"]))
    assert [(p["action"], p["to_version"]) for p in published] == [("SET", v1), ("SET", v2), ("ROLLBACK", v1)]
    assert client.xlen(publisher.stream) == 3
    pubsub.close()

    res = registry_core.resolve("team-m@prod")
    assert (res.version.version, res.resolved_via, res.alias) == (v1, "alias", "prod")
    assert registry_core.resolve("team-m/2").resolved_via == "version"
    assert registry_core.delete_alias("team-m", "prod", "dave") == v1
    latest = registry_core.resolve("team-m")
    assert (latest.version.version, latest.resolved_via) == (v2, "latest")
    with pytest.raises(NotFound) as err:
        registry_core.resolve("team-m@canary")
    assert err.value.field == "ref"


def test_only_ready_versions_are_aliased(registry_core: Registry) -> None:
    pending = registry_core.create_version(VersionSpec(model="team-m", base_model="base", create_model=True))
    with pytest.raises(FailedPrecondition) as err:
        registry_core.set_alias("team-m", "prod", pending.version)
    assert err.value.field == "version"
