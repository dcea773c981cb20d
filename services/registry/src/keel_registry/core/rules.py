"""What a valid version looks like: statuses and their transitions, metric names, digests."""

from __future__ import annotations

import math
import re

from keel_common.errors import InvalidArgument

STATUSES = ("PENDING", "READY", "FAILED", "ARCHIVED")
# Which status changes make sense; anything else is a FailedPrecondition.
# PENDING → READY | FAILED; READY ⇄ ARCHIVED. FAILED is final, so a failed version can never
# reach READY (and be aliased) by way of ARCHIVED.
TRANSITIONS = {
    "PENDING": {"READY", "FAILED"},
    "READY": {"ARCHIVED"},
    "FAILED": set(),
    "ARCHIVED": {"READY"},
}
METRIC_KEY = re.compile(r"^[A-Za-z0-9_.:/-]{1,128}$")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def check_metrics(values: dict[str, float], field: str = "metrics") -> dict[str, float]:
    for key, value in values.items():
        if not METRIC_KEY.match(key):
            raise InvalidArgument(f"{key!r} is not a valid metric name", field=field)
        if not math.isfinite(value):
            raise InvalidArgument(f"{value} is not a finite number", field=f"{field}[{key}]")
    return dict(values)


def check_status(status: str, field: str = "status") -> str:
    if status not in STATUSES:
        raise InvalidArgument(f"{status!r} is not one of {', '.join(STATUSES)}", field=field)
    return status
