from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from keel_common.artifacts import ArtifactStore, pack_dir
from keel_common.errors import ChecksumMismatch, DataLoss, InvalidArgument, NotFound


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "store"))


def make_dir(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.json").write_text('{"r": 8}')
    (root / "sub" / "w.bin").write_bytes(bytes(range(256)) * 10)
    return root


def test_file_roundtrip_records_and_verifies_sha256(store: ArtifactStore) -> None:
    ref = store.put_bytes("models/x/file.bin", b"hello")
    assert ref.sha256 == hashlib.sha256(b"hello").hexdigest() and ref.size_bytes == 5
    assert ref.uri == store.uri_for("models/x/file.bin")
    assert store.get_bytes(ref.uri, ref.sha256) == b"hello"
    with pytest.raises(ChecksumMismatch) as info:
        store.verify(ref.uri, "0" * 64)
    assert info.value.field == "artifact_sha256"
    Path(store.path_of(ref.uri)).write_bytes(b"HELLO")  # bit rot / tampering
    with pytest.raises(DataLoss):
        store.get_bytes(ref.uri)


def test_directory_manifest_and_tamper_detection(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_dir(tmp_path / "adapter")
    ref = store.put_dir("models/x/adapter", src)
    assert store.verify(ref.uri, ref.sha256).sha256 == ref.sha256
    out = store.download(ref.uri, tmp_path / "copy", ref.sha256)
    assert (out / "sub" / "w.bin").read_bytes() == (src / "sub" / "w.bin").read_bytes()
    # the same content under another key has the same digest
    assert store.put_dir("models/y/adapter", src).sha256 == ref.sha256
    (Path(store.path_of(ref.uri)) / "extra.txt").write_text("sneaked in")
    with pytest.raises(DataLoss):
        store.verify(ref.uri)


def test_stream_with_wrong_declared_sha_keeps_nothing(store: ArtifactStore) -> None:
    with pytest.raises(ChecksumMismatch):
        store.put_stream("k/f.bin", [b"a", b"b"], expected_sha256="1" * 64)
    assert not store.exists("k/f.bin")
    assert [p for p in Path(store.root_path).rglob("*") if p.is_file()] == []


def test_paths_outside_the_root_are_refused(store: ArtifactStore, tmp_path: Path) -> None:
    for bad in ("../escape", "a/../../b", f"file://{tmp_path}/elsewhere", "s3://bucket/x", "/etc/passwd"):
        with pytest.raises(InvalidArgument) as info:
            store.path_of(bad)
        assert info.value.field == "artifact_uri"
    ref = store.put_bytes("models/x/f.bin", b"f")
    for not_an_artifact in (store.uri(store.root_path), ref.uri + ".sha256", "models/x/.keel-manifest.json"):
        with pytest.raises(InvalidArgument) as info:
            store.path_of(not_an_artifact)
        assert info.value.field == "artifact_uri"
    with pytest.raises(NotFound):
        store.verify("models/none")


def test_an_artifact_without_its_record_is_data_loss(store: ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes("models/x/f.bin", b"f")
    Path(store.path_of(ref.uri) + ".sha256").unlink()
    with pytest.raises(DataLoss, match="no checksum record"):
        store.verify(ref.uri)
    dref = store.put_dir("models/x/d", make_dir(tmp_path / "d"))
    (Path(store.path_of(dref.uri)) / ".keel-manifest.json").unlink()
    with pytest.raises(DataLoss, match="no manifest"):
        store.verify(dref.uri)


def test_pack_dir_is_reproducible_and_materializes(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_dir(tmp_path / "adapter")
    a = pack_dir(src, tmp_path / "a.tar")
    (src / "a.json").touch()  # new mtime, same bytes
    b = pack_dir(src, tmp_path / "b.tar")
    assert a.read_bytes() == b.read_bytes()
    ref = store.put_file("models/x/adapter.tar", a)
    out = store.materialize(ref.uri, tmp_path / "unpacked", ref.sha256)
    assert (out / "sub" / "w.bin").read_bytes() == (src / "sub" / "w.bin").read_bytes()


def test_non_local_backend_through_fsspec() -> None:
    """fsspec's in-memory filesystem stands in for a remote store (S3 cannot run here)."""
    store = ArtifactStore("memory://keel-test-artifacts")
    ref = store.put_bytes("models/m/w.bin", b"remote bytes")
    assert ref.uri.startswith("memory://") and ref.uri.endswith("/keel-test-artifacts/models/m/w.bin")
    assert store.exists(ref.uri) and not store.exists("models/m/other.bin")
    assert store.get_bytes(ref.uri, ref.sha256) == b"remote bytes"
    with pytest.raises(InvalidArgument):
        store.path_of("file:///tmp/x")
