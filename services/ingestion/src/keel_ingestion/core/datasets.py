"""Datasets and their versions: a dataset is a recipe over documents; each build is an immutable
version. Starting a build records the version (BUILDING) and its operation (PENDING) and hands
the operation to the ``Launcher`` (Celery in the service); building the same fingerprint again
returns the existing version instead of a copy."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keel_common.artifacts import ArtifactStore
from keel_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from keel_common.ids import new_id
from keel_common.paging import decode_token, encode_token, page_size
from keel_common.sql import SqlCore, utcnow
from keel_ingestion.core import views as v
from keel_ingestion.core.recipe import Recipe, code_version, fingerprint
from keel_ingestion.db import Dataset, DatasetVersion, Document, Operation, OperationEvent

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_REF = re.compile(r"^(ds_[0-9a-z]+)@(\d+)$")
MAX_DOCUMENTS = 100_000


class Launcher(Protocol):
    def start(self, operation_id: str) -> None: ...


def parse_ref(ref: str, field: str = "dataset") -> tuple[str, int]:
    """``ds_…@N`` -> (dataset id, version)."""
    m = _REF.match(ref.strip())
    if m is None:
        raise InvalidArgument(f"{ref!r} is not a dataset version reference (ds_…@N)", field=field)
    return m.group(1), int(m.group(2))


class Datasets(SqlCore):
    def __init__(self, engine: Engine, store: ArtifactStore, launcher: Launcher) -> None:
        super().__init__(engine)
        self.store = store
        self.launcher = launcher

    # --- building ---------------------------------------------------------------------------
    def create(
        self, tenant: str, name: str, recipe: Recipe, document_ids: Sequence[str], *, description: str = "",
        creator: str = "",
    ) -> v.OperationView:  # fmt: skip
        """A new dataset and the build of its version 1."""
        if not _NAME.match(name):
            raise InvalidArgument("lower-case letters, digits, '.', '_' or '-', at most 128", field="name")
        docs = self._documents(tenant, document_ids)
        ds_id = new_id("ds")
        taken = AlreadyExists(f"dataset {name!r} already exists; build a new version of it", field="name")
        try:
            with self._tx() as s:
                if s.scalar(select(Dataset.id).where(Dataset.tenant == tenant, Dataset.name == name)):
                    raise taken
                s.add(Dataset(id=ds_id, tenant=tenant, name=name, description=description, creator=creator))
        except IntegrityError:  # a concurrent create of the same name won the race
            raise taken from None
        return self._start(ds_id, tenant, recipe, docs, creator)

    def create_version(
        self, dataset_id: str, tenant: str, recipe: Recipe, document_ids: Sequence[str], creator: str = ""
    ) -> v.OperationView:
        self.get(dataset_id, tenant)
        return self._start(dataset_id, tenant, recipe, self._documents(tenant, document_ids), creator)

    def _documents(self, tenant: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(id, sha256) of the inputs, in the order given; each must be the tenant's and READY."""
        if not ids:
            raise InvalidArgument("name at least one document", field="document_ids")
        if len(ids) > MAX_DOCUMENTS or len(set(ids)) != len(ids):
            raise InvalidArgument(f"at most {MAX_DOCUMENTS} documents, each once", field="document_ids")
        with self._read() as s:
            rows = {d.id: d for d in s.scalars(select(Document).where(Document.id.in_(list(ids))))}
        out = []
        for i, doc_id in enumerate(ids):
            row = rows.get(doc_id)
            if row is None or row.tenant != tenant:
                raise NotFound(f"document {doc_id!r} does not exist", field=f"document_ids[{i}]")
            if row.status != "READY":
                raise FailedPrecondition(
                    f"document {doc_id!r} ({row.filename}) has no usable text: {row.status_message}",
                    field=f"document_ids[{i}]",
                )
            out.append((row.id, row.sha256))
        return out

    def _start(
        self, dataset_id: str, tenant: str, recipe: Recipe, docs: list[tuple[str, str]], creator: str
    ) -> v.OperationView:
        fp = fingerprint(recipe, docs, code_version())
        with self._read() as s:
            same = s.scalar(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.fingerprint == fp)
                .where(DatasetVersion.status.in_((v.READY, v.BUILDING)))
                .order_by(DatasetVersion.version.desc())
            )
            if same is not None:
                op = s.get(Operation, same.operation_id)
                if op is not None:
                    return v.operation_view(op, v.version_view(same) if same.status == v.READY else None)
        op_id = new_id("op")

        def work() -> int:
            with self._tx() as s:
                s.execute(
                    update(Dataset)
                    .where(Dataset.id == dataset_id)
                    .values(latest_version=Dataset.latest_version + 1, updated_at=utcnow())
                )
                n = int(s.scalar(select(Dataset.latest_version).where(Dataset.id == dataset_id)) or 0)
                s.add(
                    DatasetVersion(
                        dataset_id=dataset_id, version=n, status=v.BUILDING, format=recipe.format,
                        recipe=recipe.to_dict(), document_ids=[d for d, _ in docs], fingerprint=fp,
                        manifest={"inputs": [{"document_id": d, "sha256": h} for d, h in docs],
                                  "code_version": code_version(), "fingerprint": fp,
                                  "recipe": recipe.to_dict()},
                        operation_id=op_id, creator=creator,
                    )
                )  # fmt: skip
                s.add(
                    Operation(
                        id=op_id, kind="build_dataset", tenant=tenant, dataset_id=dataset_id,
                        dataset_version=n, status=v.PENDING, stage="queued",
                    )
                )  # fmt: skip
                s.add(OperationEvent(operation_id=op_id, stage="queued", message=f"version {n} queued"))
                return n

        self._retrying(work)
        self.launcher.start(op_id)
        return self.operation(op_id)

    # --- reading ----------------------------------------------------------------------------
    def get(self, dataset_id: str, tenant: str = "") -> v.DatasetView:
        with self._read() as s:
            row = s.get(Dataset, dataset_id)
            if row is None or (tenant and row.tenant != tenant):
                raise NotFound(f"dataset {dataset_id!r} does not exist", field="dataset_id")
            return v.dataset_view(row, self._latest_ready(s, dataset_id))

    @staticmethod
    def _latest_ready(s: Session, dataset_id: str) -> int:
        return int(
            s.scalar(
                select(func.max(DatasetVersion.version)).where(
                    DatasetVersion.dataset_id == dataset_id, DatasetVersion.status == v.READY
                )
            )
            or 0
        )

    def list_datasets(
        self, tenant: str = "", query: str = "", size: int = 0, token: str = ""
    ) -> tuple[list[v.DatasetView], str]:
        n = page_size(size)
        after = decode_token(token).get("id")
        stmt = select(Dataset).order_by(Dataset.id.desc()).limit(n + 1)
        if tenant:
            stmt = stmt.where(Dataset.tenant == tenant)
        if query:
            stmt = stmt.where(Dataset.name.contains(query.lower()))
        if after:
            stmt = stmt.where(Dataset.id < after)
        with self._read() as s:
            rows = [v.dataset_view(r, self._latest_ready(s, r.id)) for r in s.scalars(stmt)]
        return rows[:n], encode_token({"id": rows[n - 1].id}) if len(rows) > n else ""

    def version(self, dataset_id: str, version: int = 0, tenant: str = "") -> v.VersionView:
        """``version`` 0: the latest READY one."""
        self.get(dataset_id, tenant)
        with self._read() as s:
            n = version or self._latest_ready(s, dataset_id)
            row = s.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == n
                )
            )
            if row is None:
                what = f"version {version}" if version else "a ready version"
                raise NotFound(f"dataset {dataset_id!r} has no {what}", field="version")
            return v.version_view(row)

    def versions(
        self, dataset_id: str, tenant: str = "", status: str = "", size: int = 0, token: str = ""
    ) -> tuple[list[v.VersionView], str]:
        """Newest first."""
        self.get(dataset_id, tenant)
        n = page_size(size)
        before = decode_token(token).get("version")
        stmt = (
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id)
            .order_by(DatasetVersion.version.desc())
            .limit(n + 1)
        )
        if status:
            stmt = stmt.where(DatasetVersion.status == status)
        if before:
            stmt = stmt.where(DatasetVersion.version < int(before))
        with self._read() as s:
            rows = [v.version_view(r) for r in s.scalars(stmt)]
        return rows[:n], encode_token({"version": rows[n - 1].version}) if len(rows) > n else ""

    def operation(self, operation_id: str, tenant: str = "", events: bool = False) -> v.OperationView:
        with self._read() as s:
            row = s.get(Operation, operation_id)
            if row is None or (tenant and row.tenant != tenant):
                raise NotFound(f"operation {operation_id!r} does not exist", field="operation_id")
            result = None
            if row.status == v.SUCCEEDED:
                ver = s.scalar(
                    select(DatasetVersion).where(
                        DatasetVersion.dataset_id == row.dataset_id,
                        DatasetVersion.version == row.dataset_version,
                    )
                )
                result = v.version_view(ver) if ver is not None else None
            view = v.operation_view(row, result)
            if events:
                evs = s.scalars(
                    select(OperationEvent)
                    .where(OperationEvent.operation_id == operation_id)
                    .order_by(OperationEvent.id)
                )
                view.events.extend((e.at, e.stage, e.message) for e in evs)
            return view

    def cancel(self, operation_id: str, tenant: str = "") -> v.OperationView:
        """Best effort: the build's tasks stop at their next document; a finished build keeps
        its result."""
        op = self.operation(operation_id, tenant)
        if op.status in v.FINISHED:
            return op
        with self._tx() as s:
            s.execute(update(Operation).where(Operation.id == operation_id).values(cancel_requested=True))
            s.add(OperationEvent(operation_id=operation_id, stage=op.stage, message="cancel requested"))
        return self.operation(operation_id)
