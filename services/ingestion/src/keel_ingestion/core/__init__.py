"""Transport-free ingestion logic."""
