"""Keel Python SDK and the keel CLI."""
