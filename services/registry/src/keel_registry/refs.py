"""Names, aliases, tags and model references ("name", "name@alias", "name/N")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel_common.errors import InvalidArgument

MODEL_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?$")
ALIAS_NAME = re.compile(r"^[a-z](?:[a-z0-9_-]{0,62})$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=/+-]{0,127}$")
DEFAULT_ALIAS = "production"


def check_model_name(name: str, field: str = "name") -> str:
    if not name:
        raise InvalidArgument("is required", field=field)
    if not MODEL_NAME.match(name):
        raise InvalidArgument(
            f"{name!r} is not a valid model name (lower-case letters, digits, '.', '_', '-'; "
            "starts and ends with a letter or digit; at most 128 characters)",
            field=field,
        )
    return name


def check_alias(alias: str, field: str = "alias") -> str:
    if not alias:
        raise InvalidArgument("is required", field=field)
    if not ALIAS_NAME.match(alias):
        raise InvalidArgument(
            f"{alias!r} is not a valid alias (a lower-case letter, then letters, digits, '_' or '-'; "
            "at most 63 characters)",
            field=field,
        )
    return alias


def check_tag(tag: str, field: str = "tags") -> str:
    if not TAG.match(tag):
        raise InvalidArgument(f"{tag!r} is not a valid tag (1-128 of letters, digits, ._:=/+-)", field=field)
    return tag


MAX_VERSION = 2**63 - 1


def check_version(version: int, field: str = "version") -> int:
    if not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"must be a version number from 1 to {MAX_VERSION}, got {version}", field=field)
    return version


def check_length(value: str, limit: int, field: str) -> str:
    """Columns have sizes; say so at the edge instead of failing in the database."""
    if len(value) > limit:
        raise InvalidArgument(f"is {len(value)} characters long; at most {limit} are allowed", field=field)
    return value


@dataclass(frozen=True)
class Ref:
    model: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}/{self.version}"
        if self.alias is not None:
            return f"{self.model}@{self.alias}"
        return self.model


def parse_ref(ref: str, field: str = "ref") -> Ref:
    """Parse ``name``, ``name@alias`` or ``name/N``."""
    ref = ref.strip()
    if not ref:
        raise InvalidArgument("is required (name, name@alias or name/N)", field=field)
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return Ref(check_model_name(name, field), alias=check_alias(alias, field))
    if "/" in ref:
        name, _, num = ref.partition("/")
        if not (num.isascii() and num.isdigit()):
            raise InvalidArgument(f"{ref!r}: the part after '/' must be a version number", field=field)
        return Ref(check_model_name(name, field), version=check_version(int(num), field))
    return Ref(check_model_name(ref, field))
