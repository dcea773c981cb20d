"""Keel feedback: interactions and what users say about them, quality per model version."""
