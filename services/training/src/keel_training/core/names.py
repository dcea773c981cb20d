"""Names a job gives what it makes: the fine-tuned model id and the registry model."""

from __future__ import annotations

import re

SUFFIX = re.compile(r"^[A-Za-z0-9_-]{0,40}$")


def fine_tuned_name(base: str, tenant: str, suffix: str, job_id: str) -> str:
    return f"ft:{base}:{tenant}:{suffix}:{job_id}"


def output_model_name(tenant: str, base: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", f"{tenant}-ft-{base}".lower()).strip("-._")[:128]
