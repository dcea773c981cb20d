"""Keel model registry."""
