"""Keel ingestion: documents in, versioned training datasets out."""
