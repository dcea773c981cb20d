"""The artifact store on ``s3://`` through s3fs.

S3 cannot run on this machine, so this is the one fake in the suite: moto's S3 server, a
real HTTP endpoint speaking the S3 protocol on localhost, which s3fs/botocore talk to as
they would to AWS or MinIO (configured through ``endpoint_url``, as in a cluster).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel_common.artifacts import ArtifactStore
from keel_common.errors import ChecksumMismatch, DataLoss, InvalidArgument

moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency (make install)")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket="keel-artifacts")
    yield endpoint
    server.stop()


@pytest.fixture
def store(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> ArtifactStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return ArtifactStore("s3://keel-artifacts/prod", endpoint_url=s3_endpoint)


def test_s3_file_and_directory_roundtrip(store: ArtifactStore, tmp_path: Path, s3_endpoint: str) -> None:
    store.ping()  # an empty prefix in a reachable bucket is a usable store
    with pytest.raises(FileNotFoundError):
        ArtifactStore("s3://no-such-bucket/x", endpoint_url=s3_endpoint).ping()
    ref = store.put_bytes("models/m/blob.bin", b"weights")
    assert ref.uri == "s3://keel-artifacts/prod/models/m/blob.bin"
    assert store.get_bytes(ref.uri, ref.sha256) == b"weights"
    with pytest.raises(ChecksumMismatch):
        store.verify(ref.uri, "0" * 64)
    src = tmp_path / "adapter"
    src.mkdir()
    (src / "adapter_config.json").write_text('{"r": 4}')
    (src / "adapter_model.safetensors").write_bytes(b"\x00" * 4096)
    dref = store.put_dir("models/m/adapter", src)
    out = store.download(dref.uri, tmp_path / "copy", dref.sha256)
    assert (out / "adapter_model.safetensors").read_bytes() == b"\x00" * 4096
    store.fs.pipe(store.path_of(ref.uri), b"tampered")
    with pytest.raises(DataLoss):
        store.get_bytes(ref.uri)
    for outside in ("s3://other-bucket/x", "s3://keel-artifacts/dev/x", "file:///etc/passwd"):
        with pytest.raises(InvalidArgument):
            store.path_of(outside)
