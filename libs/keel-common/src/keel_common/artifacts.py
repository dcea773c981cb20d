"""Artifact store over fsspec: a local directory by default, ``s3://`` when configured.

Every write records a sha256 (a ``.sha256`` sidecar for a file, a manifest for a
directory); every read recomputes it. Stored bytes that no longer match their record raise
DataLoss; bytes that differ from what a caller declared raise ChecksumMismatch.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from keel_common.errors import ChecksumMismatch, DataLoss, InvalidArgument, NotFound

MANIFEST = ".keel-manifest.json"
SIDECAR = ".sha256"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArtifactRef:
    uri: str
    sha256: str
    size_bytes: int


def _dir_digest(files: dict[str, str]) -> str:
    """Digest of a directory: sha256 over its sorted ``path\\0sha256`` lines."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a local file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _valid_key(key: str) -> str:
    key = key.strip("/")
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts):
        raise InvalidArgument(f"invalid artifact key {key!r}", field="artifact_uri")
    return key


class ArtifactStore:
    def __init__(self, root: str, endpoint_url: str | None = None) -> None:
        options: dict[str, Any] = {}
        if root.startswith("s3://") and endpoint_url:
            options["client_kwargs"] = {"endpoint_url": endpoint_url}
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        self.fs, self.root_path = fsspec.core.url_to_fs(root, **options)
        self.root_path = self.root_path.rstrip("/")
        self.protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        if self.protocol == "file":
            self.fs.makedirs(self.root_path, exist_ok=True)

    def ping(self) -> None:
        """Raise unless the store is usable: the local root exists, or the bucket is reachable
        (an object-store prefix "exists" only once something is written under it)."""
        where = self.root_path if self.protocol == "file" else self.root_path.split("/", 1)[0]
        if not self.fs.exists(where):
            raise FileNotFoundError(f"artifact store {self.uri(where)} is not reachable")

    # --- addressing -------------------------------------------------------------------
    def uri(self, path: str) -> str:
        if self.protocol == "file":
            return f"file://{path}"
        return f"{self.protocol}://{path}"

    def uri_for(self, key: str) -> str:
        return self.uri(f"{self.root_path}/{_valid_key(key)}")

    def path_of(self, uri_or_key: str) -> str:
        """The store path of a URI or a key; anything outside the root is refused."""
        if "://" in uri_or_key:
            proto, _, rest = uri_or_key.partition("://")
            if proto != self.protocol:
                raise InvalidArgument(
                    f"{uri_or_key!r} is not in this artifact store ({self.protocol}://)", field="artifact_uri"
                )
            path = posixpath.normpath(rest)
        elif uri_or_key.startswith("/"):
            path = posixpath.normpath(uri_or_key)
        else:
            path = f"{self.root_path}/{_valid_key(uri_or_key)}"
        name = posixpath.basename(path)
        if name == MANIFEST or name.endswith(SIDECAR) or ".partial-" in name:
            raise InvalidArgument(
                f"{uri_or_key!r} is a checksum record, not an artifact", field="artifact_uri"
            )
        if not path.startswith(self.root_path + "/"):
            raise InvalidArgument(
                f"{uri_or_key!r} is outside the artifact store root {self.uri(self.root_path)}",
                field="artifact_uri",
            )
        return path

    # --- writing ----------------------------------------------------------------------
    def put_stream(
        self, key: str, chunks: Iterable[bytes], expected_sha256: str | None = None
    ) -> ArtifactRef:
        """Write a file from chunks; with ``expected_sha256`` nothing is kept unless it matches."""
        return self._write(self.path_of(key), chunks, expected_sha256)

    def put_bytes(self, key: str, data: bytes) -> ArtifactRef:
        return self.put_stream(key, [data])

    def put_file(self, key: str, local: str | Path) -> ArtifactRef:
        return self._write_file(self.path_of(key), local)

    def _write_file(self, path: str, local: str | Path) -> ArtifactRef:
        with open(local, "rb") as f:
            return self._write(path, iter(lambda: f.read(_CHUNK), b""), None)

    def _write(self, path: str, chunks: Iterable[bytes], expected_sha256: str | None) -> ArtifactRef:
        """Stream to a temporary name, check the digest, then move into place with its sidecar."""
        tmp = f"{path}.partial-{uuid.uuid4().hex[:8]}"
        h = hashlib.sha256()
        size = 0
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as out:
                for chunk in chunks:
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            digest = h.hexdigest()
            if expected_sha256 and expected_sha256.lower() != digest:
                raise ChecksumMismatch(
                    f"declared {expected_sha256} but received bytes hash to {digest}", field="sha256"
                )
            # The record goes first: a crash in between leaves a record without a file (not
            # found), never a file without its record.
            self.fs.pipe(path + SIDECAR, digest.encode())
            self.fs.mv(tmp, path)
        finally:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
        return ArtifactRef(self.uri(path), digest, size)

    def put_dir(self, key: str, local: str | Path) -> ArtifactRef:
        """Upload a directory (e.g. a PEFT adapter) and record its manifest."""
        local = Path(local)
        if not local.is_dir():
            raise InvalidArgument(f"{local} is not a directory", field="path")
        base = self.path_of(key)
        files: dict[str, str] = {}
        size = 0
        for file in sorted(p for p in local.rglob("*") if p.is_file()):
            rel = file.relative_to(local).as_posix()
            if self._is_record(rel):
                continue
            ref = self._write_file(f"{base}/{rel}", file)
            files[rel] = ref.sha256
            size += ref.size_bytes
        digest = _dir_digest(files)
        manifest = {"sha256": digest, "size_bytes": size, "files": files}
        self.fs.pipe(f"{base}/{MANIFEST}", json.dumps(manifest, indent=1, sort_keys=True).encode())
        return ArtifactRef(self.uri(base), digest, size)

    # --- reading and verifying --------------------------------------------------------
    def exists(self, uri: str) -> bool:
        return bool(self.fs.exists(self.path_of(uri)))

    def _is_record(self, rel: str) -> bool:
        return rel == MANIFEST or rel.endswith(SIDECAR) or ".partial-" in rel

    def _hash_file(self, path: str, copy_to: Path | None = None) -> tuple[str, int]:
        """sha256 and size of a stored file, read once; optionally copied to ``copy_to`` meanwhile."""
        h = hashlib.sha256()
        size = 0
        if copy_to is not None:
            copy_to.parent.mkdir(parents=True, exist_ok=True)
        with self.fs.open(path, "rb") as f, copy_to.open("wb") if copy_to else nullcontext() as out:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
                if out is not None:
                    out.write(chunk)
        return h.hexdigest(), size

    def _read(self, uri: str, expected_sha256: str | None, copy_to: Path | None) -> ArtifactRef:
        """Hash an artifact (copying it when asked) and check the digest against its record
        (DataLoss) and against ``expected_sha256`` (ChecksumMismatch, naming ``artifact_sha256``)."""
        path = self.path_of(uri)
        if not self.fs.exists(path):
            raise NotFound(f"no artifact at {uri}", field="artifact_uri")
        if self.fs.isdir(path):
            files: dict[str, str] = {}
            size = 0
            for file in sorted(self.fs.find(path)):
                rel = posixpath.relpath(file, path)
                if self._is_record(rel):
                    continue
                files[rel], n = self._hash_file(file, copy_to / rel if copy_to else None)
                size += n
            digest = _dir_digest(files)
            record, missing = f"{path}/{MANIFEST}", "has no manifest"
        else:
            digest, size = self._hash_file(path, copy_to)
            record, missing = path + SIDECAR, "has no checksum record"
        try:
            raw = self.fs.cat(record)
        except FileNotFoundError:
            raise DataLoss(f"artifact {uri} {missing}; it was not written through the store") from None
        recorded = json.loads(raw)["sha256"] if record.endswith(MANIFEST) else raw.decode().strip()
        if recorded != digest:
            raise DataLoss(f"artifact {uri} changed since it was written (recorded {recorded}, now {digest})")
        if expected_sha256 and expected_sha256.lower() != digest:
            raise ChecksumMismatch(
                f"{expected_sha256} does not match the artifact's sha256 {digest}", field="artifact_sha256"
            )
        return ArtifactRef(self.uri(path), digest, size)

    def verify(self, uri: str, expected_sha256: str | None = None) -> ArtifactRef:
        """Recompute the digest and check it (see ``_read``) without keeping the bytes."""
        return self._read(uri, expected_sha256, None)

    def get_bytes(self, uri: str, expected_sha256: str | None = None) -> bytes:
        """A file artifact's bytes, read once and checked."""
        path = self.path_of(uri)
        if self.fs.isdir(path):
            raise InvalidArgument(f"{uri} is a directory; use download()", field="artifact_uri")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "artifact"
            self._read(uri, expected_sha256, copy)
            return copy.read_bytes()

    def download(self, uri: str, dest: str | Path, expected_sha256: str | None = None) -> Path:
        """Copy a file or directory artifact to ``dest``, hashing as it copies (one read); a copy
        that fails the check is removed."""
        dest = Path(dest)
        try:
            self._read(uri, expected_sha256, dest)
        except (DataLoss, ChecksumMismatch):
            if dest.is_dir():
                shutil.rmtree(dest)
            else:
                dest.unlink(missing_ok=True)
            raise
        return dest

    def materialize(self, uri: str, dest: str | Path, expected_sha256: str | None = None) -> Path:
        """A verified local directory for an artifact: a stored directory is copied, a ``.tar``
        (how clients upload a directory over gRPC) is unpacked with tarfile's safe ``data`` filter."""
        path = self.path_of(uri)
        dest = Path(dest)
        if not path.endswith(".tar") or self.fs.isdir(path):
            return self.download(uri, dest, expected_sha256)
        archive = dest.with_name(dest.name + ".tar")
        self.download(uri, archive, expected_sha256)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
        finally:
            archive.unlink(missing_ok=True)
        return dest


def pack_dir(src: str | Path, dest: str | Path) -> Path:
    """A reproducible tar of a directory (sorted, zeroed mtimes/owners): same files, same sha256."""
    src, dest = Path(src), Path(dest)

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in src.rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(src).as_posix(), filter=clean)
    return dest
