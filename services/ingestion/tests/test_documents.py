"""Documents core against real SQLite and PostgreSQL and a real artifact store: one document per
tenant and content, failed extraction stored with its reason, limits, tenant isolation, paging."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from keel_common.errors import ChecksumMismatch, InvalidArgument, NotFound, TooLarge
from keel_ingestion.core.build import load_extracted
from keel_ingestion.testing import corrupt_pdf, encrypted_pdf, multi_page_pdf, scanned_pdf

MANUAL = b"# Pump manual\n\nThe M4 pump moves water from the well to the tank.\n"


def test_same_bytes_same_tenant_is_one_document(core: SimpleNamespace) -> None:
    docs = core.documents
    first, existed = docs.upload("acme", "manual.md", MANUAL, creator="alice")
    assert not existed and first.status == "READY" and first.content_type == "text/markdown"
    assert first.sha256 == hashlib.sha256(MANUAL).hexdigest() and first.size_bytes == len(MANUAL)
    again, existed = docs.upload("acme", "copy-of-manual.md", MANUAL)
    assert existed and again.id == first.id and again.filename == "manual.md"
    other, existed = docs.upload("globex", "manual.md", MANUAL)
    assert not existed and other.id != first.id
    # the original bytes and the extraction are in the artifact store
    assert core.store.get_bytes(first.uri, first.sha256) == MANUAL
    extracted = load_extracted(core.store.get_bytes(first.extracted_uri))
    assert extracted.text.startswith("Pump manual") and extracted.blocks[0].kind == "heading"


def test_a_pdf_keeps_its_pages(core: SimpleNamespace) -> None:
    data = multi_page_pdf(
        ["Page one talks about valves.", "Page two about seals.", "Page three about bolts."]
    )
    doc, _ = core.documents.upload("acme", "field-manual.pdf", data)
    assert doc.status == "READY" and doc.pages == 3
    ex = load_extracted(core.store.get_bytes(doc.extracted_uri))
    assert [b.page for b in ex.blocks if "seals" in ex.block_text(b)] == [2]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (encrypted_pdf, "encrypted"),
        (corrupt_pdf, "corrupt"),
        (scanned_pdf, "no text layer"),
    ],
)
def test_unusable_pdfs_are_stored_failed_with_the_reason(core: SimpleNamespace, make, reason: str) -> None:
    doc, _ = core.documents.upload("acme", "bad.pdf", make())
    assert doc.status == "FAILED" and reason in doc.status_message
    assert doc.extracted_uri == "" and core.documents.get(doc.id, "acme").status == "FAILED"
    assert [d.id for d in core.documents.list_documents("acme", status="FAILED")[0]] == [doc.id]


def test_bad_uploads_are_refused_naming_the_field(core: SimpleNamespace) -> None:
    docs = core.documents
    with pytest.raises(InvalidArgument) as err:
        docs.upload("acme", "empty.txt", b"")
    assert err.value.field == "file" and "empty" in err.value.message
    with pytest.raises(InvalidArgument) as err:
        docs.upload("acme", "tool.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff")
    assert err.value.field == "file" and "unsupported" in err.value.message
    with pytest.raises(TooLarge) as too_large:
        docs.upload("acme", "big.txt", b"x" * (2 * 1024 * 1024 + 1))
    assert too_large.value.http_status == 413
    with pytest.raises(ChecksumMismatch) as bad_sum:
        docs.upload("acme", "m.md", MANUAL, sha256="0" * 64)
    assert bad_sum.value.field == "sha256"
    with pytest.raises(InvalidArgument) as err:
        docs.upload("acme", "m.md", MANUAL, metadata={f"k{i}": "v" for i in range(17)})
    assert err.value.field == "metadata"
    assert docs.list_documents("acme")[0] == []  # nothing was stored


def test_tenants_are_isolated_and_lists_page(core: SimpleNamespace) -> None:
    docs = core.documents
    ids = [
        docs.upload("acme", f"note-{i}.txt", f"Support note {i}: restart the router.".encode())[0].id
        for i in range(5)
    ]
    theirs, _ = docs.upload("globex", "theirs.txt", b"Globex only.")
    with pytest.raises(NotFound):
        docs.get(theirs.id, "acme")
    with pytest.raises(NotFound):
        docs.delete(theirs.id, "acme")
    assert docs.get(theirs.id).tenant == "globex"  # the operator sees every tenant's
    page, token = docs.list_documents("acme", size=2)
    seen = [d.id for d in page]
    while token:
        page, token = docs.list_documents("acme", size=2, token=token)
        seen += [d.id for d in page]
    assert seen == sorted(ids, reverse=True)  # newest first, each once, no other tenant's
    assert [d.filename for d in docs.list_documents("acme", query="NOTE-3")[0]] == ["note-3.txt"]
    docs.delete(ids[0], "acme")
    with pytest.raises(NotFound):
        docs.get(ids[0], "acme")
    assert docs.counts() == {"READY": 5}
