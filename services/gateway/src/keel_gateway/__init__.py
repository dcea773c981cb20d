"""Keel gateway: the OpenAI-compatible edge of the platform."""
