"""Protos ⇄ core values for the gRPC transport: a build spec to a ``Recipe``, views to messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from keel.common.v1 import common_pb2 as cpb
from keel.ingestion.v1 import ingestion_pb2 as pb
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_common.errors import InvalidArgument
from keel_common.protoenum import enum_name, prefix
from keel_ingestion.core import views as v
from keel_ingestion.core.documents import DocumentView
from keel_ingestion.core.imports import IMPORTED_FORMATS
from keel_ingestion.core.quality import QualityParams
from keel_ingestion.core.recipe import Recipe, Synthesis


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def status_name(enum: Any, value: int, field: str = "status") -> str:
    """'' for UNSPECIFIED, else the name without the enum's prefix (READY, FAILED, …)."""
    if value == 0:
        return ""
    try:
        return enum_name(enum, value)
    except ValueError as exc:
        raise InvalidArgument(f"unknown status {value}", field=field) from exc


def recipe_of(spec: pb.BuildSpec) -> Recipe:
    """The recipe a build spec asks for, defaults filled in (the Recipe validates the values)."""
    q = spec.quality
    quality = QualityParams(**{f: getattr(q, f) for f in QualityParams.__dataclass_fields__ if q.HasField(f)})
    synthesis = None
    if spec.HasField("qa_synthesis"):
        s = spec.qa_synthesis
        synthesis = Synthesis(
            model=s.model or DEFAULT_BASE_MODEL,
            pairs_per_chunk=s.pairs_per_chunk or 2,
            max_tokens=s.max_tokens or 160,
            temperature=s.temperature if s.HasField("temperature") else 0.0,
            min_support=s.min_support if s.HasField("min_support") else 0.8,
        )
    if spec.format == pb.OUTPUT_FORMAT_UNSPECIFIED:
        fmt = "qa_with_context" if synthesis else "text"
    else:
        try:
            fmt = enum_name(pb.OutputFormat, spec.format).lower()
        except ValueError:
            raise InvalidArgument(f"unknown output format {spec.format}", field="build_spec.format") from None
        if fmt in IMPORTED_FORMATS:
            raise InvalidArgument(
                f"{fmt} versions are imported (ImportDatasetVersion), not built from documents",
                field="build_spec.format",
            )
    defaults = Recipe()
    size = spec.chunking.max_tokens or defaults.chunk_tokens
    return Recipe(
        base_model=spec.base_model or DEFAULT_BASE_MODEL,
        chunk_tokens=size,
        # unset: the default overlap, but never more than an eighth of a small chunk
        overlap_tokens=(
            spec.chunking.overlap_tokens
            if spec.chunking.HasField("overlap_tokens")
            else min(defaults.overlap_tokens, size // 8)
        ),
        format=fmt,
        quality=quality,
        dedup=spec.dedup.enabled if spec.dedup.HasField("enabled") else True,
        near_dup_threshold=(
            spec.dedup.near_threshold
            if spec.dedup.HasField("near_threshold")
            else defaults.near_dup_threshold
        ),
        pii=dict(spec.pii.actions),
        validation_fraction=(
            spec.split.validation_fraction if spec.split.HasField("validation_fraction") else 0.1
        ),
        seed=spec.split.seed if spec.split.HasField("seed") else 0,
        synthesis=synthesis,
    )


def spec_of(recipe: dict[str, Any], document_ids: list[str]) -> pb.BuildSpec:
    if recipe.get("imported"):  # no recipe: only the format
        return pb.BuildSpec(format=prefix(pb.OutputFormat) + str(recipe["format"]).upper())
    r = Recipe.from_dict(recipe)
    spec = pb.BuildSpec(
        document_ids=document_ids,
        base_model=r.base_model,
        chunking=pb.Chunking(max_tokens=r.chunk_tokens, overlap_tokens=r.overlap_tokens),
        quality=pb.QualityFilters(**r.quality.__dict__),
        dedup=pb.Dedup(enabled=r.dedup, near_threshold=r.near_dup_threshold),
        pii=pb.PiiPolicy(actions=r.pii),
        format=prefix(pb.OutputFormat) + r.format.upper(),
        split=pb.Split(validation_fraction=r.validation_fraction, seed=r.seed),
    )
    if r.synthesis is not None:
        s = r.synthesis
        spec.qa_synthesis.CopyFrom(
            pb.QaSynthesis(
                model=s.model, pairs_per_chunk=s.pairs_per_chunk, max_tokens=s.max_tokens,
                temperature=s.temperature, min_support=s.min_support,
            )
        )  # fmt: skip
    return spec


def document_pb(d: DocumentView) -> pb.Document:
    return pb.Document(
        id=d.id, tenant=d.tenant, filename=d.filename, content_type=d.content_type, size_bytes=d.size_bytes,
        sha256=d.sha256, uri=d.uri, extracted_uri=d.extracted_uri, text_chars=d.text_chars,
        status=prefix(pb.DocumentStatus) + d.status, status_message=d.status_message, metadata=d.metadata,
        creator=d.creator, created_at=ts(d.created_at), pages=d.pages,
    )  # fmt: skip


def dataset_pb(d: v.DatasetView) -> pb.Dataset:
    return pb.Dataset(
        id=d.id, name=d.name, description=d.description, tenant=d.tenant, creator=d.creator,
        latest_version=d.latest_version, latest_ready_version=d.latest_ready_version,
        created_at=ts(d.created_at), updated_at=ts(d.updated_at),
    )  # fmt: skip


def stats_pb(counts: dict[str, Any]) -> pb.DatasetStats:
    dups = counts.get("duplicates", {})
    examples = counts.get("examples", {})
    return pb.DatasetStats(
        documents=counts.get("documents", 0), chunks=counts.get("chunks", 0),
        dropped=counts.get("dropped", {}), pii=counts.get("pii", {}), duplicates_exact=dups.get("exact", 0),
        duplicates_near=dups.get("near", 0),
        qa_passages=counts.get("qa_passages", 0), qa_proposed=counts.get("qa_proposed", 0),
        qa_kept=counts.get("qa_kept", 0), question_duplicates=counts.get("question_duplicates", 0),
        examples_train=examples.get("train", 0), examples_validation=examples.get("validation", 0),
    )  # fmt: skip


def version_pb(ver: v.VersionView) -> pb.DatasetVersion:
    files = ver.manifest.get("files", {})
    return pb.DatasetVersion(
        dataset_id=ver.dataset_id, version=ver.version,
        status=prefix(pb.DatasetVersionStatus) + ver.status, status_message=ver.status_message,
        format=prefix(pb.OutputFormat) + ver.format.upper(), build_spec=spec_of(ver.recipe, ver.document_ids),
        stats=stats_pb(ver.manifest.get("counts", {})),
        files=[pb.DatasetFile(split=s, **f) for s, f in sorted(files.items())],
        fingerprint=ver.fingerprint, manifest_json=json.dumps(ver.manifest, sort_keys=True),
        operation_id=ver.operation_id, creator=ver.creator, created_at=ts(ver.created_at),
        updated_at=ts(ver.updated_at),
    )  # fmt: skip


def operation_pb(op: v.OperationView) -> pb.Operation:
    status = "PENDING" if op.status == v.PENDING else op.status
    return pb.Operation(
        id=op.id, kind=op.kind, tenant=op.tenant, status=prefix(pb.OperationStatus) + status,
        progress=pb.OperationProgress(stage=op.stage, done=op.done, total=op.total, fraction=op.fraction),
        error=op.error, dataset_id=op.dataset_id, dataset_version=op.dataset_version,
        result=version_pb(op.result) if op.result is not None else None,
        created_at=ts(op.created_at), updated_at=ts(op.updated_at), finished_at=ts(op.finished_at),
        events=[pb.OperationEvent(at=ts(at), stage=stage, message=msg) for at, stage, msg in op.events],
    )  # fmt: skip


def example_pb(row: dict[str, Any], filename: str, split: str) -> pb.Example:
    return pb.Example(
        id=row["id"], document_id=row["document_id"], filename=filename, page=row.get("page") or 0,
        page_end=row.get("page_end") or 0, char_start=row["char_start"], char_end=row["char_end"],
        heading=row.get("heading", ""), text=row.get("text") or "",
        messages=[cpb.ChatMessage(role=m["role"], content=m["content"]) for m in row.get("messages") or []],
        quality_json=row.get("quality", ""), split=split,
    )  # fmt: skip
