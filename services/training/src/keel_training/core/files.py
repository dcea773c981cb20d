"""Training files: upload (validated before anything is stored; chat examples or preference
pairs), get, list, delete, and resolving a job's data (a file, or a dataset version from
ingestion) to an artifact URI with its examples in the format the job's method trains on."""

from __future__ import annotations

import logging
from typing import Any

from keel.training.v1 import training_pb2 as pb
from keel_common.artifacts import ArtifactStore
from keel_common.errors import InvalidArgument, NotFound
from keel_common.ids import new_id
from keel_common.paging import decode_token, page_size
from keel_training.config import TrainingSettings
from keel_training.core.datasets import DatasetResolver, ResolvedDataset, usable
from keel_training.core.paging import filtered_page
from keel_training.store import Store, now_ts
from keel_training.validation import CHAT, validate_training_file

log = logging.getLogger(__name__)


class Files:
    def __init__(
        self, settings: TrainingSettings, store: Store, artifacts: ArtifactStore, datasets: DatasetResolver
    ) -> None:
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.datasets = datasets

    def upload_file(self, tenant: str, filename: str, purpose: str, content: bytes) -> pb.File:
        if not tenant:
            raise InvalidArgument("is required", field="tenant")
        if purpose != "fine-tune":
            raise InvalidArgument(f"must be 'fine-tune', got {purpose!r}", field="purpose")
        if not filename or len(filename) > 255 or "/" in filename:
            raise InvalidArgument("must be a plain file name of at most 255 characters", field="filename")
        if len(content) > self.settings.max_file_bytes:
            raise InvalidArgument(
                f"is {len(content)} bytes; the limit is {self.settings.max_file_bytes}", field="file"
            )
        examples = validate_training_file(
            content, min_examples=self.settings.min_examples, max_errors=self.settings.max_line_errors
        )
        file_id = new_id("file")
        ref = self.artifacts.put_bytes(f"training/files/{tenant}/{file_id}.jsonl", content)
        f = pb.File(
            id=file_id,
            tenant=tenant,
            filename=filename,
            purpose=purpose,
            bytes=len(content),
            uri=ref.uri,
            sha256=ref.sha256,
            examples=len(examples),
            created_at=now_ts(),
            status="processed",
        )
        self.store.put_file(f)
        log.info("file stored", extra={"file_id": file_id, "tenant": tenant, "examples": len(examples)})
        return f

    def get_file(self, file_id: str, tenant: str = "") -> pb.File:
        f = self.store.get_file(file_id)
        if f is None or (tenant and f.tenant != tenant):
            raise NotFound(f"no file {file_id!r}", field="file_id")
        return f

    def list_files(self, tenant: str, purpose: str, size: int, token: str) -> tuple[list[pb.File], str]:
        return filtered_page(
            lambda after, n: self.store.list_files(tenant, after, n),
            lambda f: not purpose or f.purpose == purpose,
            page_size(size),
            str(decode_token(token).get("after", "")),
        )

    def delete_file(self, file_id: str, tenant: str = "") -> pb.File:
        f = self.get_file(file_id, tenant)
        self.store.delete_file(f)
        # The bytes stay in the artifact store: jobs that used the file keep their lineage.
        return f

    def data_uri(self, data: pb.TrainingData, tenant: str, field: str, kind: str = CHAT) -> str:
        """The artifact URI of a job's training or validation data (``kind``: what the job
        trains on, which a dataset version's format must match)."""
        source = data.WhichOneof("source")
        if source == "file_id":
            f = self.store.get_file(data.file_id)
            if f is None or f.tenant != tenant:
                raise InvalidArgument(f"no file {data.file_id!r}", field=field)
            if f.purpose != "fine-tune":
                raise InvalidArgument(f"file {f.id} has purpose {f.purpose!r}, not 'fine-tune'", field=field)
            return f.uri
        if source == "file_uri":
            return data.file_uri
        if source == "dataset":
            return self.dataset(data, tenant, field, kind).train_uri
        raise InvalidArgument("is required", field=field)

    def dataset(self, data: pb.TrainingData, tenant: str, field: str, kind: str = CHAT) -> ResolvedDataset:
        """The dataset version ``data`` names, checked usable; "latest" (0) is pinned in ``data``."""
        ds = usable(
            self.datasets.resolve(data.dataset.dataset_id, data.dataset.version, tenant, field), field, kind
        )
        data.dataset.version = ds.version
        return ds

    def load_examples(self, uri: str, field: str, kind: str = CHAT) -> list[Any]:
        """Chat examples, or ``PreferencePair``s when ``kind`` is "preference"."""
        try:
            content = self.artifacts.get_bytes(uri)
        except (FileNotFoundError, NotFound, InvalidArgument) as exc:
            raise InvalidArgument(
                f"{uri} cannot be read: {getattr(exc, 'message', exc)}", field=field
            ) from exc
        return validate_training_file(
            content,
            min_examples=1 if field != "training_file" else self.settings.min_examples,
            max_errors=self.settings.max_line_errors,
            field_name=field,
            kind=kind,
        )
