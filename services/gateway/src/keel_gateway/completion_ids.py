"""Completion ids the gateway recognises as its own.

An id is ``<kind>-<16 hex nonce><8 hex tag>`` (the shape OpenAI clients expect), the tag an
HMAC of the id and the tenant it was issued to. Feedback may arrive before its interaction has
been consumed from the stream, so "is this one of ours, and the caller's?" cannot wait for a
lookup: the tag answers it without one, and an id no gateway issued is refused at the edge."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_ID = re.compile(r"^([a-z]+)-([0-9a-f]{16})([0-9a-f]{8})$")


class CompletionIds:
    def __init__(self, pepper: bytes) -> None:
        # A key of its own, derived from the pepper every replica shares.
        self._key = hmac.new(pepper, b"keel:completion-ids", hashlib.sha256).digest()

    def _tag(self, kind: str, nonce: str, tenant: str) -> str:
        return hmac.new(self._key, f"{tenant}\x1f{kind}-{nonce}".encode(), hashlib.sha256).hexdigest()[:8]

    def new(self, kind: str, tenant: str) -> str:
        nonce = secrets.token_hex(8)
        return f"{kind}-{nonce}{self._tag(kind, nonce, tenant)}"

    def issued_to(self, request_id: str, tenant: str) -> bool:
        """Whether a gateway sharing this pepper issued ``request_id`` to ``tenant``."""
        m = _ID.fullmatch(request_id)
        return bool(m) and hmac.compare_digest(m.group(3), self._tag(m.group(1), m.group(2), tenant))  # type: ignore[union-attr]
