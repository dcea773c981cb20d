"""PII and secret detectors, shared by the gateway's guardrails and ingestion's scrubbing (one
implementation): regular expressions plus checksums where a number has one
(Luhn for cards, ISO 7064 mod 97 for IBANs), so ordinary numbers are not flagged."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    kind: str
    start: int
    end: int


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(m: re.Match[str]) -> bool:
    d = _digits(m.group())
    return 13 <= len(d) <= 19 and luhn_ok(d)


def _ip(m: re.Match[str]) -> bool:
    try:
        addr = ipaddress.ip_address(m.group())
    except ValueError:
        return False
    # Version-like strings ("1.2.3.4") are common; loopback and unspecified are not personal.
    return not (addr.is_loopback or addr.is_unspecified)


def _iban(m: re.Match[str]) -> bool:
    return iban_ok(m.group())


_DATE = re.compile(r"\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{4}")
_YEAR = re.compile(r"(?:19|20)\d\d")


def _phone(m: re.Match[str]) -> bool:
    text = m.group()
    if not 8 <= len(_digits(text)) <= 15:
        return False
    # Dates ("2024-05-17", "17.05.2024") and runs of years ("1999 2000 2001") have a phone's shape.
    return not (_DATE.fullmatch(text) or all(_YEAR.fullmatch(g) for g in re.split(r"[ .-]", text)))


def _ssn(m: re.Match[str]) -> bool:
    area, group, serial = m.group(1), m.group(2), m.group(3)
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


_Check = Callable[[re.Match[str]], bool]

# kind → (pattern, extra check). Order matters only for overlaps: earlier kinds win.
DETECTORS: dict[str, list[tuple[re.Pattern[str], _Check | None]]] = {
    "secret": [
        (re.compile(r"\bsk-(?:proj-|keel-)?[A-Za-z0-9._-]{20,}"), None),  # OpenAI / Keel keys
        (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), None),  # AWS access key id
        (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), None),  # GitHub tokens
        (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), None),  # Slack tokens
        (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), None),  # Google API keys
        (
            re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
            None,
        ),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), None),  # JWT
        (
            re.compile(
                r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)"
                r"\s*[:=]\s*['\"]?[^\s'\"]{6,}"
            ),
            None,
        ),
    ],
    "email": [(re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), None)],
    "iban": [(re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), _iban)],
    "credit_card": [(re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _card)],
    "national_id": [
        (re.compile(r"\b(\d{3})-(\d{2})-(\d{4})\b"), _ssn),  # US SSN
        (re.compile(r"\b[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"), None),  # UK NINO
        (re.compile(r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?\d{2} ?\d{3} ?\d{3} ?\d{2}\b"), None),  # FR NIR
    ],
    "ip_address": [
        (re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), _ip),
        (re.compile(r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"), _ip),
        # The usual compressed form ("2001:db8::1"); one digit at least, so "cafe::bad" is no address.
        (
            re.compile(r"(?i)(?<![\w:])(?=[^\s]*\d)(?:[0-9a-f]{1,4}:){1,6}(?::[0-9a-f]{1,4}){1,6}(?![\w:])"),
            _ip,
        ),
    ],
    "phone": [
        (
            # With an area code in brackets two groups follow ("(555) 123-4567"), else three or more.
            re.compile(
                r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?"
                r"(?:\(\d{1,4}\)[ .-]?\d{2,4}(?:[ .-]\d{2,4}){1,4}|\d{2,4}(?:[ .-]\d{2,4}){2,4})(?!\w)"
            ),
            _phone,
        ),
        (re.compile(r"(?<![\w+])\+\d{8,15}(?!\w)"), _phone),
    ],
}

KINDS = tuple(DETECTORS)


def find(text: str, kinds: Iterable[str] = KINDS) -> list[Span]:
    """Non-overlapping spans, sorted by start; on overlap the earlier kind in DETECTORS wins."""
    spans: list[Span] = []
    taken: list[tuple[int, int]] = []
    wanted = set(kinds)
    for kind, patterns in DETECTORS.items():
        if kind not in wanted:
            continue
        for pattern, check in patterns:
            for m in pattern.finditer(text):
                s, e = m.span()
                if any(s < te and ts < e for ts, te in taken):
                    continue
                if check is not None and not check(m):
                    continue
                spans.append(Span(kind, s, e))
                taken.append((s, e))
    return sorted(spans, key=lambda sp: sp.start)


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind.upper()}]"


def redact(text: str, spans: list[Span]) -> str:
    out: list[str] = []
    pos = 0
    for sp in spans:
        out.append(text[pos : sp.start])
        out.append(placeholder(sp.kind))
        pos = sp.end
    out.append(text[pos:])
    return "".join(out)
