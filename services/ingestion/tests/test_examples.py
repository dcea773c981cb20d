"""Examples: the split grouped by document, stable ids, and the Parquet and JSONL files that
``datasets`` and training read."""

from __future__ import annotations

import json
from pathlib import Path

from keel_ingestion.core.examples import Example, assign_splits, read_parquet, split_of, to_jsonl, to_parquet


def test_the_split_is_by_document_stable_and_never_leaves_a_split_empty() -> None:
    docs = [f"doc_{i:03d}" for i in range(200)]
    splits = assign_splits(docs, 0.1, seed=0)
    share = sum(1 for s in splits.values() if s == "validation") / len(docs)
    assert 0.04 < share < 0.2
    # adding documents never moves the others
    more = assign_splits([*docs, *(f"new_{i}" for i in range(50))], 0.1, seed=0)
    assert all(more[d] == splits[d] for d in docs)
    assert {split_of(d, 0.1, 1) for d in docs} == {"train", "validation"}
    # two documents: one each; one document: all training data; no fraction: no validation
    assert sorted(assign_splits(["a", "b"], 0.1, seed=0).values()) == ["train", "validation"]
    assert assign_splits(["a", "a"], 0.5, seed=0) == {"a": "train"}
    assert set(assign_splits(docs, 0.0, seed=0).values()) == {"train"}


def examples() -> list[Example]:
    return [
        Example("doc_a", 0, 40, 1, 1, "Manual", "The K7 valve opens at 7 bar.", "When does it open?", "7 bar",
                {"words": 7.0}),
        Example("doc_b", 10, 90, None, None, "", "Chat row", chat=[{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}]),
    ]  # fmt: skip


def test_parquet_loads_with_datasets_and_keeps_lineage(tmp_path: Path) -> None:
    from datasets import load_dataset

    path = tmp_path / "train.parquet"
    path.write_bytes(to_parquet(examples(), "qa_with_context"))
    ds = load_dataset("parquet", data_files={"train": str(path)})["train"]
    assert ds.num_rows == 2 and ds[0]["page"] == 1 and ds[0]["document_id"] == "doc_a"
    assert ds[0]["messages"][0]["content"].endswith("The K7 valve opens at 7 bar.")
    assert [m["role"] for m in ds[0]["messages"]] == ["system", "user", "assistant"]
    assert ds[1]["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    rows = read_parquet(path.read_bytes())
    assert json.loads(rows[0]["quality"]) == {"words": 7.0} and rows[0]["id"] == examples()[0].id


def test_formats_and_ids() -> None:
    closed = [json.loads(line) for line in to_jsonl(examples()[:1], "qa_closed_book").decode().splitlines()]
    assert closed == [{"messages": [{"role": "user", "content": "When does it open?"},
                                    {"role": "assistant", "content": "7 bar"}]}]  # fmt: skip
    text = [json.loads(line) for line in to_jsonl(examples()[:1], "text").decode().splitlines()]
    assert text == [{"text": "The K7 valve opens at 7 bar."}]
    a, b = examples()
    assert a.id == examples()[0].id and a.id != b.id and a.id.startswith("ex_")
