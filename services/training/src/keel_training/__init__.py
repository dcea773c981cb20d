"""Keel training: fine-tuning jobs (gRPC API) run by Celery workers that train LoRA adapters."""
