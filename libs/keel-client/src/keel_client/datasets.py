"""Documents and datasets through the gateway (a key with the training scope): upload documents,
build datasets from them as immutable versions, preview and compare versions, and follow a build.

A build is an *operation* (``op_…``): ``pending`` → ``running`` (``stage`` queued / prepare / dedup /
synthesize / finalize, ``progress`` {done, total, fraction}) → ``succeeded`` (``result`` is the
version) / ``failed`` / ``cancelled`` (``error``). The gateway has no event stream for it:
:meth:`DatasetsMixin.follow_operation` polls.

The mixin is part of :class:`keel_client.gateway.GatewayClient`; its errors are that module's
``GatewayError`` (``param`` names the field at fault, e.g. ``documents[2]``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from keel_client.errors import GatewayError
from keel_client.polling import follow
from keel_client.routes import RoutesMixin

# What the ingestion service extracts (others are refused with a 400 naming the supported types).
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".jsonl": "application/jsonl",
}
SUPPORTED_EXTENSIONS = tuple(CONTENT_TYPES)
FINISHED = ("succeeded", "failed", "cancelled")
# Answers worth polling again after: no answer at all (a gateway restart), or an upstream hiccup.
_DATASET_ID = re.compile(r"^ds_[0-9a-z]+$")

Version = int | Literal["latest"]


def _seg(value: object) -> str:
    """One path segment (ids never need quoting; a stray "/" must not route elsewhere)."""
    return quote(str(value), safe="@")


def _body(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def version_spec(version: dict[str, Any]) -> dict[str, Any]:
    """The build spec a version was built with (its recipe as the manifest keeps it, in the
    names :meth:`DatasetsMixin.create_dataset_version` takes), to build the next one with changes."""
    r = version.get("recipe") or {}
    spec = {
        "base_model": r.get("base_model"),
        "format": r.get("format") or version.get("format"),
        "chunking": {"max_tokens": r.get("chunk_tokens"), "overlap_tokens": r.get("overlap_tokens")},
        "quality": r.get("quality"),
        "dedup": {"enabled": r.get("dedup"), "near_threshold": r.get("near_dup_threshold")},
        "pii": r.get("pii"),
        "qa_synthesis": r.get("synthesis"),
        "split": {"validation_fraction": r.get("validation_fraction"), "seed": r.get("seed")},
    }
    clean = {k: _body(v) if isinstance(v, dict) else v for k, v in spec.items()}
    return {k: v for k, v in clean.items() if v not in (None, {})}


class DatasetsMixin(RoutesMixin):
    """The document and dataset routes of :class:`~keel_client.gateway.GatewayClient`."""

    _http: httpx.Client

    # --- documents ----------------------------------------------------------------------------
    def upload_document(
        self, path: str | Path, metadata: dict[str, str] | None = None, timeout: float = 300.0
    ) -> dict[str, Any]:
        """Upload one document; the answer is the document (``status`` ready, or failed with
        ``status_details`` when no text could be extracted) with ``already_existed``: the same
        bytes were uploaded before and that document is returned. An unsupported type is refused
        (400, ``param`` "file"), a file over the size limit too (413)."""
        p = Path(path)
        kind = CONTENT_TYPES.get(p.suffix.lower(), "application/octet-stream")
        data = {"metadata": json.dumps(metadata)} if metadata else None
        with p.open("rb") as f:
            return self._dict(
                "POST",
                "/v1/documents",
                files={"file": (p.name, f, kind)},
                data=data,
                timeout=httpx.Timeout(self._http.timeout.connect, read=timeout, write=timeout),
            )

    def list_documents(
        self,
        limit: int | None = 20,
        query: str | None = None,
        status: Literal["ready", "failed"] | None = None,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """The tenant's documents, newest first (``query`` matches the file name; ``limit``
        ``None`` pages through all of them)."""
        return self._list("/v1/documents", {"query": query, "status": status}, limit, after=after)

    def get_document(self, document_id: str) -> dict[str, Any]:
        return self._dict("GET", f"/v1/documents/{_seg(document_id)}")

    def delete_document(self, document_id: str) -> dict[str, Any]:
        return self._dict("DELETE", f"/v1/documents/{_seg(document_id)}")

    # --- datasets -----------------------------------------------------------------------------
    def create_dataset(
        self, name: str, documents: Sequence[str], description: str | None = None, **recipe: Any
    ) -> dict[str, Any]:
        """Create dataset ``name`` and start building its version 1; returns the operation.

        ``recipe`` takes the build spec's fields as the gateway names them: ``base_model``,
        ``format`` ("text", "qa_with_context", "qa_closed_book"), ``chunking`` {max_tokens,
        overlap_tokens}, ``quality`` {min_words, …}, ``dedup`` {enabled, near_threshold}, ``pii``
        {kind: "redact" | "drop" | "keep"}, ``qa_synthesis`` {model, pairs_per_chunk, max_tokens,
        temperature, min_support} (needed by the qa_* formats; ``{}`` for the defaults) and
        ``split`` {validation_fraction, seed}. ``None`` values are left out; an unknown field
        is refused, so a typo never builds something else."""
        body = _body({"name": name, "description": description, "documents": list(documents), **recipe})
        return self._dict("POST", "/v1/datasets", json=body)

    def create_dataset_version(
        self, dataset_id: str, documents: Sequence[str], **recipe: Any
    ) -> dict[str, Any]:
        """Start building the next version (``recipe`` as for :meth:`create_dataset`; the whole
        spec, nothing is inherited from earlier versions). When a version with the same recipe
        over the same documents exists (or is building), its operation is returned instead."""
        body = _body({"documents": list(documents), **recipe})
        return self._dict("POST", f"/v1/datasets/{_seg(dataset_id)}/versions", json=body)

    def list_datasets(
        self, limit: int | None = 20, query: str | None = None, after: str | None = None
    ) -> list[dict[str, Any]]:
        return self._list("/v1/datasets", {"query": query}, limit, after=after)

    def resolve_dataset(self, name_or_id: str) -> str:
        """A dataset's id from its id (``ds_…``, returned as is) or its name."""
        if _DATASET_ID.match(name_or_id):
            return name_or_id
        for d in self.list_datasets(None, query=name_or_id):
            if d.get("name") == name_or_id:
                return str(d["id"])

        message = f"no dataset named {name_or_id!r} (`keel datasets list` shows them)"
        raise GatewayError(message, 404, "not_found", param="dataset")

    def get_dataset(self, dataset_id: str) -> dict[str, Any]:
        return self._dict("GET", f"/v1/datasets/{_seg(dataset_id)}")

    def list_dataset_versions(self, dataset_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The dataset's versions, newest first (at most 100)."""
        page = self._call("GET", f"/v1/datasets/{_seg(dataset_id)}/versions", params={"limit": limit})
        return list(page.get("data") or ())

    def get_dataset_version(self, dataset_id: str, version: Version = "latest") -> dict[str, Any]:
        """One version (``"latest"``: the newest ready one): status, recipe, counts at each stage
        and its files; ``id`` is its reference ``ds_…@N``, what ``training_file`` takes."""
        return self._dict("GET", f"/v1/datasets/{_seg(dataset_id)}/versions/{_seg(version)}")

    def preview_dataset(
        self,
        dataset_id: str,
        version: Version = "latest",
        split: Literal["train", "validation"] = "train",
        limit: int = 5,
        offset: int = 0,
    ) -> dict[str, Any]:
        """``{"data": [example], "total"}``: examples with their ``source`` (document, file
        name, page, characters, heading) and ``text`` or chat ``messages``."""
        params = {"split": split, "limit": limit, "offset": offset}
        path = f"/v1/datasets/{_seg(dataset_id)}/versions/{_seg(version)}/examples"
        return self._dict("GET", path, params=params)

    def diff_dataset(
        self, dataset_id: str, from_version: Version, to_version: Version = "latest"
    ) -> dict[str, Any]:
        """What changed between two versions: documents added / removed, examples added /
        removed / unchanged, the counts at each stage (``from_counts``, ``to_counts``) and the
        recipe changes."""
        params = {"from": from_version, "to": to_version}
        return self._dict("GET", f"/v1/datasets/{_seg(dataset_id)}/diff", params=params)

    # --- operations ---------------------------------------------------------------------------
    def get_operation(self, operation_id: str, events: bool = False) -> dict[str, Any]:
        params = {"events": "true"} if events else None
        return self._dict("GET", f"/v1/dataset_operations/{_seg(operation_id)}", params=params)

    def cancel_operation(self, operation_id: str) -> dict[str, Any]:
        return self._dict("POST", f"/v1/dataset_operations/{_seg(operation_id)}/cancel")

    def follow_operation(
        self,
        operation_id: str,
        poll_s: float = 0.5,
        timeout: float | None = None,
        events: bool = True,
        retries: int = 5,
    ) -> Iterator[dict[str, Any]]:
        """The operation (with its ``events`` unless ``events=False``) each time it changes,
        polled every ``poll_s`` seconds, until it is finished (the last one yielded is).

        A poll that gets no answer or a 502/503/504 after the first one is tried again (up to
        ``retries`` times in a row). Past ``timeout`` seconds a GatewayError says the build goes
        on."""

        def timed_out(op: dict[str, Any]) -> GatewayError:
            return GatewayError(
                f"operation {operation_id} did not finish within {timeout:g} s (it is "
                f"{op.get('status')}, stage {op.get('stage')}); it goes on"
            )

        yield from follow(
            lambda: self.get_operation(operation_id, events=events),
            lambda op: op.get("status") in FINISHED,
            poll_s,
            timeout,
            retries,
            timed_out,
        )
