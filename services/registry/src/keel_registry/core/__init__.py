"""The registry's logic, free of transports: ``Registry`` and the values it takes and returns.

``views`` (values, rows → values), ``rules`` (statuses, metric names), ``base`` (sessions,
retries, lookups), ``aliases`` (aliases and resolution), ``registry`` (models, versions).
"""

from keel_registry.core.registry import Registry
from keel_registry.core.views import (
    AliasEventView,
    AliasView,
    Lineage,
    ModelView,
    Resolution,
    VersionSpec,
    VersionUpdate,
    VersionView,
)

__all__ = [
    "AliasEventView",
    "AliasView",
    "Lineage",
    "ModelView",
    "Registry",
    "Resolution",
    "VersionSpec",
    "VersionUpdate",
    "VersionView",
]
