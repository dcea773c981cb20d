"""Protobuf enum values as the short names Keel shows and stores (``READY``, ``succeeded``).

Keel's enums prefix every value with the enum's name in upper snake case
(``VersionStatus.VERSION_STATUS_READY``), so the prefix is derived, never written out.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper


def prefix(enum: EnumTypeWrapper | Any) -> str:
    """``VERSION_STATUS_`` for ``VersionStatus``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.DESCRIPTOR.name).upper() + "_"


def enum_name(enum: EnumTypeWrapper | Any, value: int) -> str:
    """The value's name without the enum prefix (``READY``); ValueError for an unknown value."""
    return str(enum.Name(value)).removeprefix(prefix(enum))


def enum_value(enum: EnumTypeWrapper | Any, name: str) -> int:
    """The inverse of ``enum_name``; case-insensitive; ValueError for an unknown name."""
    return int(enum.Value(prefix(enum) + name.upper()))
