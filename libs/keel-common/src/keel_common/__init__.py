"""Shared plumbing for Keel services."""

__version__ = "0.1.0"
