"""Keel inference: continuous batching, multi-LoRA and tensor parallelism behind Ray Serve."""
