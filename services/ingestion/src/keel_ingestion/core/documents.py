"""Documents: upload (stored with its sha256, text extracted at once so a bad file fails at
upload), get, list and delete, isolated per tenant. The same bytes uploaded twice by one tenant
are one document."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from keel_common.artifacts import ArtifactStore
from keel_common.errors import ChecksumMismatch, InvalidArgument, NotFound, TooLarge
from keel_common.ids import new_id
from keel_common.paging import decode_token, encode_token, page_size
from keel_common.sql import SqlCore, as_utc
from keel_ingestion import metrics
from keel_ingestion.core.build import dump_extracted
from keel_ingestion.core.extract import ExtractionError, detect_type, extract
from keel_ingestion.db import Document

log = logging.getLogger(__name__)

READY, FAILED = "READY", "FAILED"
STATUSES = (READY, FAILED)
MAX_METADATA = 16


@dataclass(frozen=True)
class DocumentView:
    id: str
    tenant: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uri: str
    extracted_uri: str
    text_chars: int
    pages: int
    status: str
    status_message: str
    creator: str
    created_at: datetime
    metadata: dict[str, str] = field(default_factory=dict)


def _view(row: Document) -> DocumentView:
    return DocumentView(
        row.id, row.tenant, row.filename, row.content_type, row.size_bytes, row.sha256, row.uri,
        row.extracted_uri, row.text_chars, row.pages, row.status, row.status_message, row.creator,
        as_utc(row.created_at), dict(row.meta or {}),
    )  # fmt: skip


def check_tenant(tenant: str) -> str:
    if not tenant or len(tenant) > 128:
        raise InvalidArgument("must be 1-128 characters", field="tenant")
    return tenant


def check_filename(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or len(name) > 512:
        raise InvalidArgument("must be a file name of 1-512 characters", field="filename")
    return name


def check_metadata(meta: dict[str, str]) -> dict[str, str]:
    if len(meta) > MAX_METADATA:
        raise InvalidArgument(f"at most {MAX_METADATA} pairs", field="metadata")
    for k, v in meta.items():
        if not k or len(k) > 64 or len(v) > 512:
            raise InvalidArgument("keys 1-64 characters, values at most 512", field="metadata")
    return meta


class Documents(SqlCore):
    def __init__(
        self, engine: Engine, store: ArtifactStore, *, max_bytes: int, max_text_chars: int, max_pages: int
    ) -> None:
        super().__init__(engine)
        self.store = store
        self.max_bytes = max_bytes
        self.max_text_chars = max_text_chars
        self.max_pages = max_pages

    def check_size(self, size: int) -> None:
        """Callers that stream check as bytes arrive, so an oversized upload stops early."""
        if size > self.max_bytes:
            raise TooLarge(f"the document exceeds the limit of {self.max_bytes} bytes", field="file")

    def upload(
        self, tenant: str, filename: str, data: bytes, *, content_type: str = "", sha256: str = "",
        metadata: dict[str, str] | None = None, creator: str = "",
    ) -> tuple[DocumentView, bool]:  # fmt: skip
        """(the document, whether the tenant had already uploaded these bytes)."""
        check_tenant(tenant)
        name = check_filename(filename)
        meta = check_metadata(dict(metadata or {}))
        self.check_size(len(data))
        digest = hashlib.sha256(data).hexdigest()
        if sha256 and sha256.lower() != digest:
            raise ChecksumMismatch(f"the upload's sha256 is {digest}, not {sha256}", field="sha256")
        existing = self._by_sha(tenant, digest)
        if existing is not None:
            return existing, True
        media = detect_type(name, data[:16384], content_type)
        doc_id = new_id("doc")
        ref = self.store.put_bytes(f"documents/{tenant}/{digest}/original", data)
        status, message, extracted_uri, chars, pages = READY, "", "", 0, 0
        began = time.perf_counter()
        try:
            doc = extract(data, media, max_text_chars=self.max_text_chars, max_pages=self.max_pages)
        except ExtractionError as exc:
            status, message = FAILED, exc.reason
            log.info("document failed extraction", extra={"document": doc_id, "reason": exc.reason})
        else:
            extracted_uri = self.store.put_bytes(
                f"documents/{tenant}/{digest}/extracted.json", dump_extracted(doc)
            ).uri
            chars, pages = len(doc.text), doc.pages
            metrics.PAGES.inc(pages)
            metrics.EXTRACTED_BYTES.inc(len(data))
        log.info(
            "document stored",
            extra={
                "document": doc_id,
                "status": status,
                "pages": pages,
                "s": round(time.perf_counter() - began, 3),
            },
        )
        row = Document(
            id=doc_id, tenant=tenant, filename=name, content_type=media, size_bytes=len(data), sha256=digest,
            uri=ref.uri, extracted_uri=extracted_uri, text_chars=chars, pages=pages, status=status,
            status_message=message, meta=meta, creator=creator,
        )  # fmt: skip
        try:
            with self._tx() as s:
                s.add(row)
        except IntegrityError:
            # a concurrent upload of the same bytes won the race: that one is the document
            again = self._by_sha(tenant, digest)
            if again is None:
                raise
            return again, True
        metrics.DOCUMENTS.labels(status).inc()
        return _view(row), False

    def _by_sha(self, tenant: str, digest: str) -> DocumentView | None:
        with self._read() as s:
            row = s.scalar(select(Document).where(Document.tenant == tenant, Document.sha256 == digest))
            return _view(row) if row is not None else None

    def get(self, document_id: str, tenant: str = "") -> DocumentView:
        """``tenant`` empty: any tenant's (the operator); else another tenant's is not found."""
        with self._read() as s:
            row = s.get(Document, document_id)
            if row is None or (tenant and row.tenant != tenant):
                raise NotFound(f"document {document_id!r} does not exist", field="document_id")
            return _view(row)

    def list_documents(
        self, tenant: str = "", query: str = "", status: str = "", size: int = 0, token: str = ""
    ) -> tuple[list[DocumentView], str]:
        """Newest first; a page and the next page's token ('' at the end)."""
        n = page_size(size)
        after = decode_token(token).get("id")
        if status and status not in STATUSES:
            raise InvalidArgument(f"must be one of {', '.join(STATUSES)}", field="status")
        stmt = select(Document).order_by(Document.id.desc()).limit(n + 1)
        if tenant:
            stmt = stmt.where(Document.tenant == tenant)
        if query:
            stmt = stmt.where(func.lower(Document.filename).contains(query.lower()))
        if status:
            stmt = stmt.where(Document.status == status)
        if after:
            stmt = stmt.where(Document.id < after)
        with self._read() as s:
            rows = [_view(r) for r in s.scalars(stmt)]
        more = len(rows) > n
        rows = rows[:n]
        return rows, encode_token({"id": rows[-1].id}) if more else ""

    def delete(self, document_id: str, tenant: str = "") -> DocumentView:
        """Removes the record; the stored bytes stay, since built versions name them in their
        manifests (lineage must keep resolving)."""
        doc = self.get(document_id, tenant)
        with self._tx() as s:
            s.execute(delete(Document).where(Document.id == document_id))
        return doc

    def counts(self) -> dict[str, int]:
        with self._read() as s:
            rows = s.execute(select(Document.status, func.count()).group_by(Document.status)).all()
        return {status: int(n) for status, n in rows}
