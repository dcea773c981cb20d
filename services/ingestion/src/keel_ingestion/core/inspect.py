"""Looking into built versions: preview examples with their source, diff two versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel_common.artifacts import ArtifactStore
from keel_common.errors import FailedPrecondition, InvalidArgument
from keel_ingestion.core import views as v
from keel_ingestion.core.datasets import Datasets
from keel_ingestion.core.examples import SPLITS, read_parquet
from keel_ingestion.core.imports import IMPORTED_FORMATS, imported_rows

MAX_PREVIEW = 100


def _rows(store: ArtifactStore, ver: v.VersionView, split: str) -> list[dict[str, Any]]:
    if ver.status != v.READY:
        raise FailedPrecondition(f"version {ver.ref} is {ver.status}, not READY", field="version")
    f = ver.file(split)
    if f:
        return read_parquet(store.get_bytes(f["uri"], f["sha256"]))
    lines = ver.file(f"{split}.jsonl")  # an imported version: JSON lines only
    if lines and ver.format in IMPORTED_FORMATS:
        return imported_rows(ver.format, store.get_bytes(lines["uri"], lines["sha256"]))
    return []


def preview(
    datasets: Datasets, dataset_id: str, version: int, tenant: str, split: str = "train", limit: int = 5,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:  # fmt: skip
    """(rows ``offset``..``offset+limit`` of the split, how many it has)."""
    split = split or "train"
    if split not in SPLITS:
        raise InvalidArgument(f"one of {', '.join(SPLITS)}", field="split")
    if not 0 <= limit <= MAX_PREVIEW or offset < 0:
        raise InvalidArgument(f"limit 0-{MAX_PREVIEW} (0 = 5), offset ≥ 0", field="limit")
    rows = _rows(datasets.store, datasets.version(dataset_id, version, tenant), split)
    return rows[offset : offset + (limit or 5)], len(rows)


@dataclass
class Diff:
    documents_added: list[str] = field(default_factory=list)
    documents_removed: list[str] = field(default_factory=list)
    examples_added: int = 0
    examples_removed: int = 0
    examples_unchanged: int = 0
    from_counts: dict[str, Any] = field(default_factory=dict)
    to_counts: dict[str, Any] = field(default_factory=dict)
    recipe_changes: list[str] = field(default_factory=list)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, val in d.items():
        if isinstance(val, dict) and val:
            out.update(_flat(val, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = val
    return out


def diff(datasets: Datasets, dataset_id: str, tenant: str, a: int, b: int) -> Diff:
    """What changed from version ``a`` to ``b``: inputs, examples (by their stable ids), counts at
    each stage, and the recipe."""
    va, vb = datasets.version(dataset_id, a, tenant), datasets.version(dataset_id, b, tenant)
    ids_a = {r["id"] for s in SPLITS for r in _rows(datasets.store, va, s)}
    ids_b = {r["id"] for s in SPLITS for r in _rows(datasets.store, vb, s)}
    ra, rb = _flat(va.recipe), _flat(vb.recipe)
    return Diff(
        documents_added=[d for d in vb.document_ids if d not in set(va.document_ids)],
        documents_removed=[d for d in va.document_ids if d not in set(vb.document_ids)],
        examples_added=len(ids_b - ids_a),
        examples_removed=len(ids_a - ids_b),
        examples_unchanged=len(ids_a & ids_b),
        from_counts=va.manifest.get("counts", {}),
        to_counts=vb.manifest.get("counts", {}),
        recipe_changes=[
            f"{k}: {ra.get(k)!r} -> {rb.get(k)!r}"
            for k in sorted(set(ra) | set(rb))
            if ra.get(k) != rb.get(k)
        ],
    )
