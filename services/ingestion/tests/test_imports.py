"""Imported versions (feedback's exports) on SQLite and PostgreSQL: checked line by line, READY
at once with their lineage, previewable, and idempotent."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from keel_common.errors import InvalidArgument, NotFound
from keel_ingestion.core import inspect
from keel_ingestion.core.imports import import_version
from keel_ingestion.protos import version_pb


def pair(q: str, good: str, bad: str) -> str:
    return json.dumps(
        {
            "input": {"messages": [{"role": "user", "content": q}]},
            "preferred_output": [{"role": "assistant", "content": good}],
            "non_preferred_output": [{"role": "assistant", "content": bad}],
        }
    )


def jsonl(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


LINEAGE = {"source": "feedback", "interactions": ["chatcmpl-1", "chatcmpl-2"], "model_versions": ["bot/3"]}


def test_an_import_is_a_ready_version_with_its_lineage(core: SimpleNamespace) -> None:
    files = {
        "train.jsonl": jsonl(pair("Capital of France?", "Paris.", "Lyon."), pair("2+2?", "4", "5")),
        "validation.jsonl": jsonl(pair("Capital of Spain?", "Madrid.", "Seville.")),
    }
    ver = import_version(
        core.datasets, "acme", "preference", files, LINEAGE, dataset_name="prefs", creator="fb"
    )
    assert (ver.version, ver.status, ver.format) == (1, "READY", "preference")
    assert ver.manifest["lineage"] == LINEAGE and ver.manifest["counts"]["examples"] == {
        "train": 2,
        "validation": 1,
    }
    assert ver.file("train.jsonl")["examples"] == 2
    assert core.store.get_bytes(ver.file("train.jsonl")["uri"]) == files["train.jsonl"]
    msg = version_pb(ver)
    assert msg.format == 5 and {f.split for f in msg.files} == {"train.jsonl", "validation.jsonl"}
    rows, total = inspect.preview(core.datasets, ver.dataset_id, 1, "acme", "train", 5)
    assert total == 2 and rows[0]["messages"][-1] == {"role": "assistant", "content": "Paris."}
    # The same files and lineage again: the same version. New rows: the next version.
    again = import_version(core.datasets, "acme", "preference", files, LINEAGE, dataset_name="prefs")
    assert (again.dataset_id, again.version) == (ver.dataset_id, 1)
    more = {"train.jsonl": files["train.jsonl"] + jsonl(pair("3+3?", "6", "7"))}
    nxt = import_version(core.datasets, "acme", "preference", more, LINEAGE, dataset_id=ver.dataset_id)
    assert nxt.version == 2 and core.datasets.get(ver.dataset_id, "acme").latest_ready_version == 2
    chat = jsonl(
        json.dumps(
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
        )
    )
    sft = import_version(core.datasets, "acme", "chat", {"train.jsonl": chat}, LINEAGE, dataset_name="sft")
    assert sft.format == "chat" and inspect.preview(core.datasets, sft.dataset_id, 1, "acme")[1] == 1
    with pytest.raises(NotFound):
        import_version(
            core.datasets, "globex", "chat", {"train.jsonl": chat}, LINEAGE, dataset_id=sft.dataset_id
        )


@pytest.mark.parametrize(
    ("fmt", "files", "field", "words"),
    [
        ("text", {"train.jsonl": b"{}"}, "format", "one of"),
        ("chat", {}, "files", "train.jsonl"),
        ("chat", {"train.jsonl": b"x", "extra.jsonl": b"x"}, "files", "extra.jsonl"),
        ("chat", {"train.jsonl": b'{"messages": []}\n'}, "files", "train.jsonl line 1: messages"),
        (
            "preference",
            {"train.jsonl": jsonl(pair("q", "a", "b"), pair("q", "same", "same"))},
            "files",
            "train.jsonl line 2: preferred_output and non_preferred_output are the same",
        ),
        (
            "kto",
            {
                "train.jsonl": b'{"prompt": [{"role": "user", "content": "q"}], "completion": '
                b'[{"role": "assistant", "content": "a"}], "label": "yes"}\n'
            },
            "files",
            "label",
        ),
        ("chat", {"train.jsonl": b"\xff\xfe"}, "files", "UTF-8"),
    ],
)
def test_bad_imports_name_the_field_and_store_nothing(
    core: SimpleNamespace, fmt: str, files: dict[str, bytes], field: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        import_version(core.datasets, "acme", fmt, files, {}, dataset_name="bad")
    assert err.value.field == field and words in str(err.value)
    assert core.datasets.list_datasets("acme")[0] == []


def test_a_dataset_must_be_named(core: SimpleNamespace) -> None:
    chat = jsonl(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    )
    for name in ("", "Not OK"):
        with pytest.raises(InvalidArgument) as err:
            import_version(core.datasets, "acme", "chat", {"train.jsonl": chat}, {}, dataset_name=name)
        assert err.value.field == "dataset_name"
