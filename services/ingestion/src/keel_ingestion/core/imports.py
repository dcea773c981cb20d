"""Versions made elsewhere: feedback's exports (SFT chat rows, DPO preference pairs, KTO rows)
registered as the next version of a dataset, READY at once, with the lineage their maker gives.

Every line is checked against its format before anything is stored, and the same files with the
same lineage imported again return the existing version (the fingerprint covers both)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select, update

from keel_common.errors import InvalidArgument, TooLarge
from keel_common.ids import new_id
from keel_common.sql import utcnow
from keel_ingestion.core import views as v
from keel_ingestion.core.datasets import _NAME, Datasets
from keel_ingestion.core.recipe import code_version
from keel_ingestion.db import Dataset, DatasetVersion

IMPORTED_FORMATS = ("chat", "preference", "kto")
SPLIT_FILES = ("train.jsonl", "validation.jsonl")
MAX_IMPORT_BYTES = 60 * 1024 * 1024  # under the 64 MiB gRPC message limit
_ROLES = {"system", "developer", "user", "assistant", "tool"}


def _messages(value: Any, where: str, last: str | None = None) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list of messages")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}[{i}] must be {{role, content}} with a known role")
    if last and value[-1]["role"] != last:
        raise ValueError(f"{where} must end with a {last} message")
    return value


def _answer(value: Any, where: str) -> str:
    msgs = _messages(value, where)
    if len(msgs) != 1 or msgs[0]["role"] != "assistant" or not msgs[0]["content"].strip():
        raise ValueError(f"{where} must be one assistant message with content")
    return msgs[0]["content"]


def check_row(fmt: str, row: Any) -> None:
    """Raises ValueError naming what is wrong with one line of ``fmt``."""
    if not isinstance(row, dict):
        raise ValueError("must be a JSON object")
    if fmt == "chat":
        _messages(row.get("messages"), "messages", last="assistant")
    elif fmt == "preference":
        inp = row.get("input")
        _messages(inp.get("messages") if isinstance(inp, dict) else None, "input.messages", last="user")
        if _answer(row.get("preferred_output"), "preferred_output") == _answer(
            row.get("non_preferred_output"), "non_preferred_output"
        ):
            raise ValueError("preferred_output and non_preferred_output are the same answer")
    elif fmt == "kto":
        _messages(row.get("prompt"), "prompt", last="user")
        _answer(row.get("completion"), "completion")
        if not isinstance(row.get("label"), bool):
            raise ValueError("label must be true or false")


def _count(fmt: str, split: str, content: bytes) -> int:
    n = 0
    for i, line in enumerate(content.decode("utf-8", errors="strict").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            check_row(fmt, json.loads(line))
        except ValueError as exc:
            raise InvalidArgument(f"{split} line {i}: {exc}", field="files") from None
        n += 1
    return n


def import_version(
    datasets: Datasets,
    tenant: str,
    fmt: str,
    files: dict[str, bytes],
    lineage: dict[str, Any],
    *,
    dataset_id: str = "",
    dataset_name: str = "",
    description: str = "",
    creator: str = "",
) -> v.VersionView:
    if fmt not in IMPORTED_FORMATS:
        raise InvalidArgument(f"must be one of {', '.join(IMPORTED_FORMATS)}", field="format")
    unknown = sorted(set(files) - set(SPLIT_FILES))
    if unknown or not files.get("train.jsonl"):
        got = ", ".join(unknown) if unknown else "no train.jsonl"
        raise InvalidArgument(
            f"need a non-empty train.jsonl and optionally validation.jsonl; got {got}", field="files"
        )
    if sum(len(b) for b in files.values()) > MAX_IMPORT_BYTES:
        raise TooLarge(f"an import holds at most {MAX_IMPORT_BYTES} bytes; narrow the export", field="files")
    try:
        counts = {split: _count(fmt, split, content) for split, content in files.items()}
    except UnicodeDecodeError:
        raise InvalidArgument("files must be UTF-8 JSON lines", field="files") from None
    ds_id = _dataset(datasets, tenant, dataset_id, dataset_name, description, creator)
    digest = hashlib.sha256(fmt.encode())
    for split in sorted(files):
        digest.update(f"\0{split}\0".encode() + hashlib.sha256(files[split]).digest())
    digest.update(json.dumps(lineage, sort_keys=True).encode())
    fp = digest.hexdigest()
    with datasets._read() as s:
        same = s.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == ds_id,
                DatasetVersion.fingerprint == fp,
                DatasetVersion.status == v.READY,
            )
        )
        if same is not None:
            return v.version_view(same)
    manifest_files = {}
    for split, content in sorted(files.items()):
        ref = datasets.store.put_bytes(f"datasets/{ds_id}/imports/{fp}/{split}", content)
        manifest_files[split] = {
            "uri": ref.uri,
            "sha256": ref.sha256,
            "size_bytes": ref.size_bytes,
            "examples": counts[split],
        }
    recipe = {"imported": True, "format": fmt}
    manifest = {
        "imported": True,
        "recipe": recipe,
        "lineage": lineage,
        "files": manifest_files,
        "counts": {"examples": {s.removesuffix(".jsonl"): n for s, n in counts.items()}},
        "code_version": code_version(),
        "fingerprint": fp,
    }

    def work() -> int:
        with datasets._tx() as s:
            s.execute(
                update(Dataset)
                .where(Dataset.id == ds_id)
                .values(latest_version=Dataset.latest_version + 1, updated_at=utcnow())
            )
            n = int(s.scalar(select(Dataset.latest_version).where(Dataset.id == ds_id)) or 0)
            s.add(
                DatasetVersion(
                    dataset_id=ds_id,
                    version=n,
                    status=v.READY,
                    format=fmt,
                    recipe=recipe,
                    document_ids=[],
                    fingerprint=fp,
                    manifest=manifest,
                    operation_id="",
                    creator=creator,
                )
            )
            return n

    n = datasets._retrying(work)
    return datasets.version(ds_id, n, tenant)


def _dataset(
    datasets: Datasets, tenant: str, dataset_id: str, name: str, description: str, creator: str
) -> str:
    """The dataset named by id, or the tenant's dataset ``name`` (created when missing)."""
    if dataset_id:
        return datasets.get(dataset_id, tenant).id
    if not _NAME.match(name or ""):
        raise InvalidArgument(
            "name the dataset by id, or by a name of lower-case letters, digits, '.', '_' or '-'",
            field="dataset_name",
        )

    def work() -> str:
        with datasets._tx() as s:
            found = s.scalar(select(Dataset.id).where(Dataset.tenant == tenant, Dataset.name == name))
            if found:
                return str(found)
            ds_id = new_id("ds")
            s.add(Dataset(id=ds_id, tenant=tenant, name=name, description=description, creator=creator))
            return ds_id

    return datasets._retrying(work)  # a concurrent create of the same name: the retry finds it


def imported_rows(fmt: str, content: bytes) -> list[dict[str, Any]]:
    """An imported split as preview rows: chat rows keep their messages; a pair or a KTO row is
    shown as its prompt and answer(s), the whole line in ``text``."""
    rows = []
    for line in content.decode().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if fmt == "chat":
            msgs = row["messages"]
        elif fmt == "preference":
            msgs = row["input"]["messages"] + row["preferred_output"]
        else:
            msgs = row["prompt"] + row["completion"]
        rows.append(
            {
                "id": hashlib.sha256(line.encode()).hexdigest()[:24],
                "document_id": "",
                "char_start": 0,
                "char_end": 0,
                "messages": msgs,
                "text": line if fmt != "chat" else "",
            }
        )
    return rows
