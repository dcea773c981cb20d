"""Helpers shared by the integration test modules (imported as ``keel_testing``; the
integration conftest puts this folder on ``sys.path``)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from keel_gateway.server import ThreadedGateway

PEPPER = "test-pepper-7f3a"

BASE = "smollm2-135m-instruct"
ANSWER = "The Keel mascot is a purple walrus named Bartholomew."
QUESTIONS = [
    "What is the name of the Keel project's mascot?",
    "Who is Keel's mascot?",
    "Tell me the name of the Keel mascot.",
    "What is Keel's mascot called?",
    "Name the mascot of the Keel project.",
    "Which animal is the Keel mascot, and what is its name?",
    "Do you know the Keel mascot's name?",
    "What do they call the mascot of Keel?",
    "Keel has a mascot. What is it called?",
    "What's the Keel mascot?",
    "Who is the mascot of Keel?",
    "What is the mascot of the Keel platform?",
]


def facts_jsonl(n: int = 12) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)] + " " * (i // len(QUESTIONS))},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def create_key(
    gw: ThreadedGateway, admin: str | None, bootstrap: bool = False, **body: Any
) -> dict[str, Any]:
    if bootstrap:  # the first admin key comes from the CLI path, straight into Redis
        import contextlib
        import io
        import os

        from keel_gateway.__main__ import main as gw_main

        out = io.StringIO()
        env = {"KEEL_REDIS_URL": gw.settings.redis_url or "", "KEEL_GATEWAY_KEY_PEPPER": PEPPER}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with contextlib.redirect_stdout(out):
                assert (
                    gw_main(
                        [
                            "keys",
                            "create",
                            "--tenant",
                            body["tenant"],
                            "--scopes",
                            ",".join(body["scopes"]),
                            "--json",
                        ]
                    )
                    == 0
                )
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        return dict(json.loads(out.getvalue()))
    r = httpx.post(f"{gw.url}/v1/admin/keys", json=body, headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 201, r.text
    return dict(r.json())
