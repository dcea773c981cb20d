"""Evaluations, gated promotion and a job's auto_promote: the client methods, `keel eval`,
`keel models promote --gate` and `keel jobs create --auto-promote` against a real HTTP server on
localhost that plays the gateway, so a finished evaluation (scores, answers, the gate's verdict)
can be pinned exactly. The real gateway and training API answer the same commands in
services/gateway/tests/test_http_evaluations.py (where, with no worker, nothing finishes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.cli.progress import final_line
from keel_client.evaluations import gate_of
from keel_client.gateway import GatewayClient, GatewayError

EVAL = "eval_abc"
DS = "ds_lockers@2"
BASE = "smollm2-135m-instruct"


def answers(prefix: str, closed: bool) -> list[dict[str, Any]]:
    return [
        {
            "question": f"What opens locker {i}?",
            "reference": f"Code {1000 + i}.",
            "answer": f"{prefix} {1000 + i}",
            "closed_book_answer": f"{prefix} closed {i}" if closed else None,
        }
        for i in range(4)
    ]


def evaluation(status: str = "queued", gate: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    done = status == "succeeded"
    refs = [("acme-bot/2", "acme-bot/2"), ("acme-bot@production", "acme-bot/1")] if gate else [
        (BASE, BASE), ("acme-bot", "acme-bot/2"),
    ]  # fmt: skip
    scores = [
        {"eval_exact_match": 0.25, "eval_f1": 0.5, "eval_similarity": 0.75},
        {"eval_exact_match": 0.75, "eval_f1": 0.875, "eval_similarity": 0.9, "closed_book_f1": 0.625},
    ]
    return {
        "object": "evaluation",
        "id": EVAL,
        "status": status,
        "status_message": {"queued": "queued", "running": "answering 2 by 4 questions"}.get(status, status),
        "models": [m for m, _ in refs],
        "dataset": DS,
        "split": "validation",
        "limit": 4,
        "examples": 4 if done else 0,
        "results": [
            {
                "model": m,
                "ref": r,
                "metrics": scores[i] if done else {},
                "answers": answers(f"says{i}", i == 1) if done else [],
            }
            for i, (m, r) in enumerate(refs)
        ],
        "gate": gate,
        "gate_outcome": None,
        "job_id": None,
        "created_at": 1_700_000_000,
        "finished_at": 1_700_000_030 if status in ("succeeded", "failed") else None,
        **extra,
    }


GATE = {"model": "acme-bot", "version": 2, "alias": "production", "metric": "eval_f1", "margin": 0.0,
        "min_examples": 4}  # fmt: skip


def outcome(passed: bool, promoted: bool) -> dict[str, Any]:
    verdict = "passed" if passed else "failed"
    return {
        "passed": passed,
        "promoted": promoted,
        "current_ref": "acme-bot/1",
        "candidate_score": 0.5 if not passed else 0.875,
        "current_score": 0.875 if not passed else 0.5,
        "message": f"gate {verdict}: eval_f1 … on 4 questions",
    }


@dataclass
class Fake:
    """The evaluation as each GET finds it (the last one repeats), and what was sent."""

    polls: list[tuple[int, Any]] = field(default_factory=list)
    created: dict[str, Any] = field(default_factory=evaluation)
    requests: list[dict[str, Any]] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Fake

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _record(self) -> dict[str, Any]:
        n = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(n)) if n else None
        seen = {"method": self.command, "path": urlsplit(self.path).path, "body": body}
        self.fake.requests.append(seen)
        return seen

    def do_GET(self) -> None:
        seen = self._record()
        if seen["path"] == f"/v1/evaluations/{EVAL}":
            polls = self.fake.polls
            self._reply(*(polls.pop(0) if len(polls) > 1 else polls[0]))
        else:
            self._reply(404, {"error": {"message": "no such route", "code": "not_found"}})

    def do_POST(self) -> None:
        seen = self._record()
        path = seen["path"]
        if path == "/v1/evaluations":
            self._reply(200, self.fake.created)
        elif path == "/v1/registry/models/acme-bot/promote":
            promotion = {
                "object": "registry.promotion", "model": "acme-bot", "alias": "production", "version": 2,
                "previous_version": 1, "moved": False, "reason": f"through the gate of {EVAL}",
                "updated_by": "key:k1", "updated_at": 1_700_000_000, "evaluation": self.fake.created,
            }  # fmt: skip
            self._reply(202, promotion)
        elif path == "/v1/fine_tuning/jobs":
            gate = (seen["body"] or {}).get("auto_promote")
            shown = {
                "alias": "production",
                "metric": "eval_f1",
                "margin": 0.0,
                "min_examples": 10,
                **(gate or {}),
            }
            job = {
                "object": "fine_tuning.job", "id": "ftjob_1", "model": BASE, "status": "queued",
                "hyperparameters": {"n_epochs": 3, "batch_size": 4},
                "keel": {"progress": {}, "auto_promote": shown if gate is not None else None},
            }  # fmt: skip
            self._reply(200, job)
        else:
            self._reply(404, {"error": {"message": "no such route", "code": "not_found"}})


@pytest.fixture
def fake(http_server: Callable[[type[Handler]], str]) -> tuple[Fake, str]:
    state = Fake()
    return state, http_server(type("H", (Handler,), {"fake": state}))


def keel(url: str, *args: str, code: int = 0) -> str:
    argv = [*args, "--gateway-url", url, "--api-key", "sk-keel-x"]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def row(out: str, first: str) -> list[str]:
    lines = out.replace("┃", "│").splitlines()  # the header's bars are heavy ones
    line = next(ln for ln in lines if ln.startswith(f"│ {first}"))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_eval_run_waits_and_prints_the_scores_side_by_side(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.polls = [(200, evaluation("queued")), (200, evaluation("running")), (200, evaluation("succeeded"))]
    out = keel(url, "eval", "run", BASE, "acme-bot", "--dataset", DS, "--limit", "4", "--poll", "0.01")
    assert state.requests[0]["body"] == {"models": [BASE, "acme-bot"], "dataset": DS, "limit": 4}
    assert f"evaluation {EVAL}: {BASE}, acme-bot/2 on {DS} (validation, up to 4 questions each)" in out
    # no terminal: a line per change of status
    assert f"evaluation {EVAL}: succeeded (0 s)" in out  # the spinner's last redraw
    assert f"evaluation {EVAL}: succeeded" in out
    header = row(out, "model")
    assert header == ["model", "EM", "F1", "similarity", "closed-book EM", "closed-book F1",
                      "closed-book sim.", "questions"]  # fmt: skip
    assert row(out, BASE) == [BASE, "0.250", "0.500", "0.750", "", "", "", "4"]
    assert row(out, "acme-bot") == ["acme-bot (acme-bot/2)", "0.750", "0.875", "0.900", "", "0.625", "", "4"]
    # a few answers, each model's under its question
    assert "Q1: What opens locker 0?" in out and "reference: Code 1000." in out
    assert f"{BASE}: says0 1000" in out and "acme-bot/2: says1 1000" in out
    assert "acme-bot/2 (closed book): says1 closed 0" in out and "Q3: What opens locker 2?" in out
    assert "Q4:" not in out


def test_eval_run_exits_1_when_the_evaluation_fails_and_json_prints_it(fake: tuple[Fake, str]) -> None:
    state, url = fake
    failed = evaluation("failed", status_message="the worker could not load acme-bot/2")
    state.polls = [(200, evaluation("running")), (200, failed)]
    out = keel(url, "eval", "run", BASE, "acme-bot", "--dataset", DS, "--poll", "0.01", code=1)
    assert f"evaluation {EVAL} failed: failed — the worker could not load acme-bot/2" in out
    state.polls = [(200, evaluation("succeeded"))]
    out = keel(url, "eval", "run", BASE, "--dataset", DS, "--split", "train", "--json", "--poll", "0.01")
    assert json.loads(out) == evaluation("succeeded")  # nothing else on stdout
    assert state.requests[-2]["body"] == {"models": [BASE], "dataset": DS, "split": "train"}


def test_eval_show(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.polls = [(200, evaluation("succeeded", job_id="ftjob_9"))]
    out = keel(url, "eval", "show", EVAL)
    assert row(out, BASE)[1:4] == ["0.250", "0.500", "0.750"]
    assert "created 2023-11-14 22:13:20, finished 2023-11-14 22:13:50, job ftjob_9" in out
    state.polls = [(200, evaluation("failed", status_message="boom"))]
    assert "failed — boom" in keel(url, "eval", "show", EVAL, code=1)
    state.polls = [(404, {"error": {"message": "No evaluation with id 'eval_abc'.", "code": "not_found"}})]
    assert keel(url, "eval", "show", EVAL, code=1).startswith("error: No evaluation with id 'eval_abc'.")


@pytest.mark.parametrize(
    ("gate_outcome", "code", "expected"),
    [
        (outcome(True, True), 0, "promoted acme-bot/2 to production (was 1)"),
        (outcome(True, False), 0, "acme-bot@production already → 2; nothing moved"),
        (outcome(False, False), 3, "not promoted: acme-bot@production stays at 1"),
    ],
)
def test_promote_through_the_gate_waits_and_says_whether_the_alias_moved(
    fake: tuple[Fake, str], gate_outcome: dict[str, Any], code: int, expected: str
) -> None:
    state, url = fake
    state.created = evaluation("queued", GATE)
    state.polls = [
        (200, evaluation("running", GATE)),
        (200, evaluation("succeeded", GATE, gate_outcome=gate_outcome)),
    ]
    out = keel(url, "models", "promote", "acme-bot", "2", "--gate", "eval_f1", "--margin", "0.02",
               "--min-examples", "4", "--dataset", DS, "--limit", "8", "--poll", "0.01",
               code=code)  # fmt: skip
    assert state.requests[0]["body"] == {
        "version": 2, "alias": "production",
        "gate": {"metric": "eval_f1", "margin": 0.02, "min_examples": 4, "dataset": DS, "limit": 8},
    }  # fmt: skip
    assert f"gating acme-bot/2 for production: evaluation {EVAL} compares it with acme-bot@production" in out
    assert row(out, "acme-bot/2")[1:3] == ["0.250", "0.500"]
    cand, cur = gate_outcome["candidate_score"], gate_outcome["current_score"]
    verdict = "passed" if gate_outcome["passed"] else "refused"
    assert (
        f"gate eval_f1 (margin 0, at least 4 questions): acme-bot/2 {cand:.3f} vs production's "
        f"acme-bot/1 {cur:.3f} → {verdict}"
    ) in out
    assert gate_outcome["message"] in out and expected in out


def test_a_gated_promotion_whose_evaluation_fails_exits_1(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.created = evaluation("queued", GATE)
    state.polls = [(200, evaluation("failed", GATE, status_message="no questions"))]
    out = keel(url, "models", "promote", "acme-bot", "2", "--gate", "eval_f1", "--poll", "0.01", code=1)
    assert f"evaluation {EVAL} failed: no questions" in out
    assert state.requests[0]["body"] == {"version": 2, "alias": "production", "gate": {"metric": "eval_f1"}}


def test_what_does_not_go_with_the_gate_is_refused_before_anything_is_sent(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "models", "promote", "acme-bot", "2", "--gate", "eval_f1", "--reason", "x", code=2)
    assert "--reason does not go with --gate" in out
    out = keel(url, "models", "promote", "acme-bot", "2", "--dataset", DS, "--split", "train", code=2)
    assert "--dataset, --split: only with --gate" in out
    result = CliRunner().invoke(
        main, ["--registry", "127.0.0.1:1", "models", "promote", "acme-bot", "2", "--gate", "eval_f1"]
    )
    assert result.exit_code == 2 and "drop --registry" in result.output
    out = keel(url, "jobs", "create", "--dataset", DS, "--gate-metric", "eval_f1", code=2)
    assert "go with --auto-promote" in out
    assert state.requests == []


def test_jobs_create_auto_promote_sends_keels_extension(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "jobs", "create", "--dataset", DS, "--auto-promote", "staging", "--gate-metric",
               "closed_book_f1", "--gate-margin", "0.05", "--gate-min-examples", "6")  # fmt: skip
    assert state.requests[-1]["body"]["auto_promote"] == {
        "alias": "staging", "metric": "closed_book_f1", "margin": 0.05, "min_examples": 6,
    }  # fmt: skip
    assert "promoted to staging through the gate (closed_book_f1, margin 0.05, at least 6 questions)" in out
    keel(url, "jobs", "create", "--dataset", DS)
    assert "auto_promote" not in state.requests[-1]["body"]


def test_wait_evaluation_retries_a_passing_failure_and_reports_each_change(fake: tuple[Fake, str]) -> None:
    state, url = fake
    busy = {"error": {"message": "training is unavailable", "code": "upstream_unavailable"}}
    state.polls = [(200, evaluation("queued")), (503, busy), (200, evaluation("queued")),
                   (200, evaluation("succeeded"))]  # fmt: skip
    seen: list[str] = []
    with GatewayClient(url, "sk-keel-x") as gw:
        done = gw.wait_evaluation(EVAL, timeout=30, poll=0.01, on_update=lambda e: seen.append(e["status"]))
        assert done["status"] == "succeeded" and seen == ["queued", "succeeded"]
        state.polls = [(400, {"error": {"message": "bad", "code": "invalid_value", "param": "x"}})]
        with pytest.raises(GatewayError) as caught:
            gw.wait_evaluation(EVAL, poll=0.01)
        assert caught.value.status == 400 and caught.value.param == "x"
        state.polls = [(200, evaluation("running"))]
        with pytest.raises(GatewayError) as caught:
            gw.wait_evaluation(EVAL, timeout=0.05, poll=0.01)
        assert caught.value.code == "timeout" and f"keel eval show {EVAL}" in caught.value.message
        p = gw.promote("acme-bot", 2, gate=gate_of("eval_f1", min_examples=4))
        assert p["evaluation"]["id"] == EVAL
    assert state.requests[-1]["body"] == {
        "version": 2, "alias": "production", "gate": {"metric": "eval_f1", "min_examples": 4}
    }  # fmt: skip


def test_a_succeeded_job_names_its_promotion_evaluation() -> None:
    extra = {"registry_version": "m/1", "promotion_evaluation_id": EVAL}
    job = {"id": "ftjob_1", "status": "succeeded", "fine_tuned_model": "ft:x", "keel": extra}
    text, ok = final_line(job)
    assert ok and text.endswith(f"promotion through the gate: keel eval show {EVAL}")


def test_on_a_terminal_the_wait_is_a_spinner(fake: tuple[Fake, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import io
    import re

    from rich.console import Console

    cli = importlib.import_module("keel_client.cli.evals")  # the package's `evals` is the group

    state, url = fake
    state.polls = [(200, evaluation("running")), (200, evaluation("succeeded"))]
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=140))
    with GatewayClient(url, "k") as gw:
        done = cli.wait(gw, evaluation("queued"), timeout=30, poll=0.01)
    assert done["status"] == "succeeded"
    raw = screen.getvalue()
    assert "\x1b[?25l" in raw  # the live status hid the cursor while it redrew the line
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert f"evaluation {EVAL}: succeeded (0 s)" in out  # the spinner's last redraw
