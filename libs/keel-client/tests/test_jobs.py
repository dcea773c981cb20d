"""Files and fine-tuning jobs: the client methods and `keel jobs` against a real HTTP server on
localhost that plays the gateway (real sockets, real multipart bodies, SSE written event by
event). The real gateway, training API and Celery worker are exercised end to end in
tests/integration/test_local_platform.py; here each wire case is pinned exactly."""

from __future__ import annotations

import email.message
import email.parser
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from keel_client.cli import main
from keel_client.cli.jobs import _file_lines
from keel_client.cli.progress import follow_events
from keel_client.gateway import GatewayClient, GatewayError

JOB = "ftjob_abc"
MODEL = f"ft:smollm2-135m-instruct:keel:t:{JOB}"


def job(status: str = "queued", step: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job",
        "id": JOB,
        "model": "smollm2-135m-instruct",
        "status": status,
        "created_at": 1_700_000_000,
        "finished_at": 1_700_000_042 if status in ("succeeded", "failed", "cancelled") else None,
        "fine_tuned_model": MODEL if status == "succeeded" else None,
        "trained_tokens": 466 if status == "succeeded" else None,
        "hyperparameters": {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.0},
        "error": None,
        "keel": {
            "attempt": 1,
            "status_message": "",
            "progress": {"step": step, "total_steps": 2, "epoch": 0.0, "trained_tokens": 0, "metrics": {}},
            "registry_version": "keel-ft-smollm2-135m-instruct/1" if status == "succeeded" else None,
        },
        **extra,
    }


def event(seq: int, message: str, kind: str = "message", level: str = "info", **data: Any) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{JOB}-{seq}",
        "created_at": 1_700_000_000 + seq,
        "level": level,
        "message": message,
        "data": data or None,
        "type": kind,
    }


def metrics(seq: int, step: int, loss: float) -> dict[str, Any]:
    return event(
        seq, f"Step {step}/2: training loss={loss:.4f}", "metrics",
        step=step, total_steps=2, epoch=step / 3, train_loss=loss, tokens_per_second=250.0,
    )  # fmt: skip


RUN = [
    event(1, "Job status: validating_files", status="validating_files"),
    event(2, "Job status: queued", status="queued"),
    event(3, "Job status: running", status="running"),
    metrics(4, 1, 2.5468),
    event(5, "Checkpoint created at step 1", step=1, checkpoint="ckpt-1"),
    metrics(6, 2, 2.3984),
    event(7, "Job status: succeeded", status="succeeded"),
]


@dataclass
class Fake:
    """What the fake gateway answers and what it saw."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=lambda: job("succeeded", 2))
    # One list of SSE lines per connection to the event stream; a list without "[DONE]" is a
    # stream cut short.
    streams: list[list[dict[str, Any] | str]] = field(default_factory=lambda: [[*RUN, "[DONE]"]])
    # The stream waits for this after its first event, so a test can prove it got that event
    # while the server still held the rest back.
    release: threading.Event | None = None
    jobs: int = 1
    deleted: list[str] = field(default_factory=list)


def error(
    status: int, message: str, param: str | None = None, code: str = "invalid_value"
) -> tuple[int, Any]:
    return status, {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


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

    def _record(self, body: Any = None) -> tuple[str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.fake.requests.append(
            {
                "method": self.command,
                "path": url.path,
                "query": query,
                "headers": dict(self.headers),
                "body": body,
            }
        )
        return url.path, query

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/files":
            message = email.parser.BytesParser().parsebytes(
                b"content-type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + raw
            )
            parts: dict[Any, tuple[str | None, bytes]] = {
                p.get_param("name", header="content-disposition"): (
                    p.get_filename(),
                    bytes(p.get_payload(decode=True)),
                )
                for p in message.get_payload()
                if isinstance(p, email.message.Message)
            }
            self._record(parts)
            name, content = parts["file"]
            if b"nope" in content:
                self._reply(*error(
                    400,
                    "invalid training file: line 1: messages[0].role 'wizard' is not one of system, user, "
                    "assistant; line 2: is not valid JSON (Expecting value at column 1)",
                    "file", "invalid_training_file",
                ))  # fmt: skip
                return
            body = {
                "id": f"file_{len(self.fake.requests)}",
                "object": "file",
                "bytes": len(content),
                "filename": name,
                "purpose": parts["purpose"][1].decode(),
                "keel": {"examples": 10},
            }
            self._reply(200, body)
            return
        path, _ = self._record(json.loads(raw) if raw else None)
        if path == "/v1/fine_tuning/jobs":
            if (self.fake.requests[-1]["body"].get("hyperparameters") or {}).get("n_epochs") == 1000:
                self._reply(*error(400, "must be between 1 and 100, got 1000", "hyperparameters.n_epochs"))
                return
            self._reply(200, job())
        elif path == f"/v1/fine_tuning/jobs/{JOB}/cancel":
            self._reply(200, job("running", 1, keel={**job()["keel"], "cancel_requested": True}))
        else:
            self._reply(*error(404, "not found", code="not_found"))

    def do_DELETE(self) -> None:
        path, _ = self._record()
        self.fake.deleted.append(path.rsplit("/", 1)[1])
        self._reply(200, {"id": path.rsplit("/", 1)[1], "object": "file", "deleted": True})

    def do_GET(self) -> None:
        path, query = self._record()
        if path == f"/v1/fine_tuning/jobs/{JOB}/events" and query.get("stream") == ["true"]:
            self._stream()
        elif path == f"/v1/fine_tuning/jobs/{JOB}/events":
            # newest first, as OpenAI pages them
            n = int(query["limit"][0])
            self._reply(200, {"object": "list", "data": list(reversed(RUN))[:n], "has_more": n < len(RUN)})
        elif path == f"/v1/fine_tuning/jobs/{JOB}":
            self._reply(200, self.fake.final)
        elif path == "/v1/fine_tuning/jobs":
            # `jobs` jobs named ftjob_<n>, newest first, in pages of `limit` after the id `after`
            ids = [f"ftjob_{i}" for i in range(self.fake.jobs, 0, -1)]
            start = ids.index(query["after"][0]) + 1 if "after" in query else 0
            n = int(query["limit"][0])
            page = [job(id=i) for i in ids[start : start + n]]
            body = {"object": "list", "data": page, "has_more": start + n < len(ids)}
            self._reply(200, {**body, "last_id": page[-1]["id"] if page else None})
        elif path == f"/v1/fine_tuning/jobs/{JOB}/checkpoints":
            ckpt = {
                "object": "fine_tuning.job.checkpoint",
                "id": "ckpt-1",
                "step_number": 1,
                "created_at": 1_700_000_005,
                "metrics": {"train_loss": 2.5468},
                "fine_tuned_model_checkpoint": f"{MODEL}:ckpt-step-1",
                "fine_tuning_job_id": JOB,
            }
            self._reply(200, {"object": "list", "data": [ckpt], "has_more": False})
        else:
            self._reply(
                *error(404, f"No fine-tuning job with id '{path.rsplit('/', 1)[-1]}'.", code="not_found")
            )

    def _stream(self) -> None:
        lines = self.fake.streams.pop(0) if len(self.fake.streams) > 1 else self.fake.streams[0]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")  # close-delimited: no length, no chunks
        self.end_headers()
        after = parse_qs(urlsplit(self.path).query).get("after", [""])[0]
        seen = after.rpartition("-")[2]
        for i, item in enumerate(lines):
            if (
                isinstance(item, dict)
                and "id" in item
                and seen
                and int(item["id"].rpartition("-")[2]) <= int(seen)
            ):
                continue
            data = item if isinstance(item, str) else json.dumps(item)
            self.wfile.write(f": keep-alive\n\ndata: {data}\n\n".encode())
            self.wfile.flush()
            if i == 0 and self.fake.release is not None:
                assert self.fake.release.wait(10), "the client never read the first event"
        self.close_connection = True


@pytest.fixture
def fake(http_server: Callable[[type[Handler]], str]) -> tuple[Fake, str]:
    state = Fake()
    return state, http_server(type("H", (Handler,), {"fake": state}))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path.write_text("\n".join(json.dumps(row) for _ in range(10)) + "\n")
    return path


def test_upload_and_create_send_what_the_gateway_expects(fake: tuple[Fake, str], data: Path) -> None:
    state, url = fake
    with GatewayClient(url, "sk-keel-x") as gw:
        f = gw.upload_file(data)
        created = gw.create_job(
            "smollm2-135m-instruct", f["id"], suffix="t", hyperparameters={"n_epochs": 2, "lora_r": 4},
            idempotency_key="once", seed=7,
        )  # fmt: skip
    upload, create = state.requests
    assert upload["path"] == "/v1/files" and upload["headers"]["authorization"] == "Bearer sk-keel-x"
    assert upload["body"]["file"] == ("data.jsonl", data.read_bytes())
    assert upload["body"]["purpose"] == (None, b"fine-tune")
    assert f["keel"]["examples"] == 10
    assert create["body"] == {
        "model": "smollm2-135m-instruct", "training_file": f["id"], "suffix": "t",
        "hyperparameters": {"n_epochs": 2, "lora_r": 4}, "seed": 7,
    }  # fmt: skip
    assert create["headers"]["idempotency-key"] == "once" and created["id"] == JOB


def test_refusals_carry_the_param(fake: tuple[Fake, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}\nnope\n')
    with GatewayClient(fake[1], "k") as gw:
        with pytest.raises(GatewayError) as caught:
            gw.upload_file(bad)
        assert caught.value.param == "file" and caught.value.code == "invalid_training_file"
        assert _file_lines(caught.value.message) == [
            "line 1: messages[0].role 'wizard' is not one of system, user, assistant",
            "line 2: is not valid JSON (Expecting value at column 1)",
        ]
        with pytest.raises(GatewayError, match="must be between") as caught:
            gw.create_job("m", "file_1", hyperparameters={"n_epochs": 1000})
        assert caught.value.param == "hyperparameters.n_epochs" and caught.value.status == 400
        with pytest.raises(GatewayError, match="No fine-tuning job with id 'nope'") as caught:
            gw.get_job("nope")
        assert caught.value.status == 404


def test_lists_follow_the_cursor_pages(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.jobs = 250
    with GatewayClient(url, "k") as gw:
        assert [j["id"] for j in gw.list_jobs(3)] == ["ftjob_250", "ftjob_249", "ftjob_248"]
        every = gw.list_jobs(None)
        assert len(every) == 250 and every[-1]["id"] == "ftjob_1"
        assert gw.job_checkpoints(JOB)[0]["step_number"] == 1
        assert [e["id"] for e in gw.job_events(JOB, 2)] == [RUN[-1]["id"], RUN[-2]["id"]]
        assert gw.cancel_job(JOB)["keel"]["cancel_requested"] is True
    pages = [r["query"] for r in state.requests if r["path"] == "/v1/fine_tuning/jobs"]
    assert pages[0] == {"limit": ["3"]}
    assert pages[1:] == [{"limit": ["100"]}, {"limit": ["100"], "after": ["ftjob_151"]},
                         {"limit": ["100"], "after": ["ftjob_51"]}]  # fmt: skip


def test_follow_job_yields_each_event_as_it_arrives(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.release = threading.Event()
    with GatewayClient(url, "k") as gw:
        events = gw.follow_job(JOB)
        first = next(events)  # the server holds every later event until this one was read
        state.release.set()
        rest = list(events)
    assert [first, *rest] == RUN
    assert state.requests[0]["query"] == {"stream": ["true"]}


def test_follow_job_reports_an_error_in_the_stream_and_a_cut(fake: tuple[Fake, str]) -> None:
    state, url = fake
    failure = {"error": {"message": "training is unavailable", "code": "upstream_error", "param": None}}
    state.streams = [[RUN[0], failure], [RUN[0], RUN[1]]]
    with GatewayClient(url, "k") as gw:
        seen: list[dict[str, Any]] = []
        with pytest.raises(GatewayError, match="training is unavailable") as caught:
            seen.extend(gw.follow_job(JOB))
        assert seen == [RUN[0]] and caught.value.code == "upstream_error"
        with pytest.raises(GatewayError, match=r"ended without \[DONE\]"):
            list(gw.follow_job(JOB, after=RUN[0]["id"]))
    assert state.requests[-1]["query"] == {"stream": ["true"], "after": [RUN[0]["id"]]}


def test_following_resumes_after_the_last_event_when_the_stream_breaks(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.streams = [[*RUN[:4]], [*RUN, "[DONE]"]]  # cut after step 1, then the whole run again
    with GatewayClient(url, "k") as gw:
        assert list(follow_events(gw, JOB)) == RUN  # nothing twice, nothing lost
    assert [r["query"].get("after") for r in state.requests] == [None, [RUN[3]["id"]]]


def keel(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--gateway-url", url, "--api-key", "sk-keel-x"])
    assert result.exit_code == code, result.output
    return result.output


def test_jobs_create_follow_shows_progress_and_the_result(fake: tuple[Fake, str], data: Path) -> None:
    state, url = fake
    out = keel(url, "jobs", "create", "--file", str(data), "--suffix", "t", "--epochs", "2", "--lora-r", "4",
               "--max-steps", "2", "--hp", "lora_alpha=32", "--hp", 'lora_target_modules=["q_proj"]',
               "--hp", "note=plain text", "--follow")  # fmt: skip
    create = next(r for r in state.requests if r["path"] == "/v1/fine_tuning/jobs")
    assert create["body"]["hyperparameters"] == {
        "n_epochs": 2, "lora_r": 4, "max_steps": 2, "lora_alpha": 32, "lora_target_modules": ["q_proj"],
        "note": "plain text",
    }  # fmt: skip
    assert f"uploaded data.jsonl as file_1 (10 examples, {data.stat().st_size} B)" in out
    assert f"created job {JOB} (queued)" in out
    # no terminal here: a carriage-return bar, with the events printed above it
    assert "\r" in out and "[###############---------------] 1/2 steps  loss 2.5468  250 tok/s" in out
    assert "[##############################] 2/2 steps  loss 2.3984" in out
    assert "Checkpoint created at step 1" in out and "Job status: succeeded" in out
    assert f"job {JOB} succeeded in 42 s, 466 tokens trained" in out
    assert f"fine-tuned model {MODEL} (registry version keel-ft-smollm2-135m-instruct/1)" in out


@pytest.mark.parametrize(
    ("final", "expected"),
    [
        (
            job("failed", 1, error={"code": "training_error", "message": "boom", "param": None}),
            f"job {JOB} failed in 42 s: training_error: boom",
        ),
        (
            job("cancelled", 1, keel={**job()["keel"], "status_message": "cancelled at step 1"}),
            f"job {JOB} cancelled in 42 s: cancelled at step 1",
        ),
    ],
)
def test_a_job_that_does_not_succeed_exits_1(
    fake: tuple[Fake, str], final: dict[str, Any], expected: str
) -> None:
    state, url = fake
    state.final = final
    out = keel(url, "jobs", "events", JOB, "--follow", code=1)
    assert expected in out and "fine-tuned model" not in out


def test_jobs_create_refuses_a_bad_file_line_by_line(fake: tuple[Fake, str], tmp_path: Path) -> None:
    state, url = fake
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}\nnope\n')
    out = keel(url, "jobs", "create", "--file", str(bad), code=1)
    assert f"error: {bad} is not a valid training file:\n" in out
    assert "\n  line 1: messages[0].role 'wizard' is not one of system, user, assistant\n" in out
    assert "\n  line 2: is not valid JSON (Expecting value at column 1)\n" in out
    assert [r["path"] for r in state.requests] == ["/v1/files"]  # no job was asked for


def test_a_refused_job_names_the_field_and_removes_its_upload(fake: tuple[Fake, str], data: Path) -> None:
    state, url = fake
    out = keel(url, "jobs", "create", "--file", str(data), "--epochs", "1000", code=1)
    assert "error: hyperparameters.n_epochs: must be between 1 and 100, got 1000" in out
    assert state.deleted == ["file_1"]
    out = keel(url, "jobs", "create", "--file", str(data), "--hp", "oops", code=2)
    assert "'oops' is not KEY=VALUE" in out


def test_jobs_list_get_events_checkpoints_cancel(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.jobs = 2
    listing = keel(url, "jobs", "list")
    assert (
        "ftjob_2" in listing and "ftjob_1" in listing and listing.index("ftjob_2") < listing.index("ftjob_1")
    )
    shown = keel(url, "jobs", "get", JOB)
    assert "succeeded" in shown and MODEL in shown and "keel-ft-smollm2-135m-instruct/1" in shown
    assert json.loads(keel(url, "jobs", "get", JOB, "--json"))["id"] == JOB
    events = keel(url, "jobs", "events", JOB, "--limit", "3").splitlines()
    # the latest three, oldest of them first
    assert len(events) == 3 and "Checkpoint created at step 1" in events[0]
    assert "Step 2/2: training loss=2.3984" in events[1] and "Job status: succeeded" in events[2]
    assert "ckpt-1" in keel(url, "jobs", "checkpoints", JOB)
    assert f"cancel requested for {JOB} (running)" in keel(url, "jobs", "cancel", JOB)
    assert "error: No fine-tuning job with id 'nope'." in keel(url, "jobs", "get", "nope", code=1)


def test_on_a_terminal_the_bar_is_rich_live(fake: tuple[Fake, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from keel_client.cli import progress as cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=140))
    with GatewayClient(fake[1], "k") as gw:
        assert cli.follow_job(gw, JOB) == 0
    raw = screen.getvalue()
    assert "\x1b[?25l" in raw  # the live display hid the cursor while it redrew the bar
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "2/2 steps" in out and "loss 2.3984  250 tok/s" in out and "Job status: succeeded" in out
    assert f"job {JOB} succeeded" in out and "#####" not in out  # rich's bar, not the plain one


def test_jobs_create_method_dpo_puts_the_hyperparameters_under_the_method(fake: tuple[Fake, str]) -> None:
    """OpenAI's shape: with --method dpo, beta and the other knobs go under method.dpo; a dataset
    version is trained on as it is (no upload)."""
    state, url = fake
    keel(url, "jobs", "create", "--dataset", "ds_abc@2", "--method", "dpo", "--beta", "0.2", "--epochs", "2")
    (create,) = state.requests
    assert create["body"] == {
        "model": "smollm2-135m-instruct", "training_file": "ds_abc@2",
        "method": {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2, "beta": 0.2}}},
    }  # fmt: skip
    out = keel(url, "jobs", "create", "--dataset", "ds_abc@2", "--beta", "0.2", code=2)
    assert "--beta is a DPO hyperparameter" in out
