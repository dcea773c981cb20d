"""`keel docs`, `keel datasets` and `keel jobs create --dataset` against a real HTTP server on
localhost that plays the gateway (real sockets, real multipart bodies; a build's operation
answers each poll with the next state of a script). The real gateway and ingestion service are
exercised in tests/integration; here each wire case and what the CLI makes of it is pinned."""

from __future__ import annotations

import copy
import email.message
import email.parser
import importlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from rich.console import Console

from keel_client.cli import main
from keel_client.gateway import GatewayClient

# the modules (keel_client.cli's attributes of these names are the command groups)
cli_live = importlib.import_module("keel_client.cli.live")
cli_datasets = importlib.import_module("keel_client.cli.datasets")
DS, OP, T = "ds_abc", "op_1", 1_700_000_000
RECIPE = {
    "base_model": "smollm2-135m-instruct", "chunk_tokens": 256, "overlap_tokens": 32,
    "format": "qa_with_context", "quality": {"min_words": 8, "max_symbol_ratio": 0.25}, "dedup": True,
    "near_dup_threshold": 0.8, "pii": {"email": "drop"}, "validation_fraction": 0.1, "seed": 0,
    "synthesis": {"model": "smollm2-135m-instruct", "pairs_per_chunk": 2, "max_tokens": 160,
                  "temperature": 0.0, "min_support": 0.8},
}  # fmt: skip
COUNTS = {
    "documents": 2, "chunks": 150, "dropped": {"too_short": 10, "duplicate": 5}, "pii": {"email": 4},
    "duplicates": {"exact": 3, "near": 2}, "qa_passages": 80, "qa_proposed": 160, "qa_kept": 133,
    "question_duplicates": 0, "examples": {"train": 120, "validation": 13},
}  # fmt: skip
FILES = {
    "train": {"uri": f"s3://keel/datasets/{DS}/1/train.parquet", "sha256": "ab" * 32, "bytes": 48_000,
              "examples": 120},
    "validation": {"uri": f"s3://keel/datasets/{DS}/1/validation.parquet", "sha256": "cd" * 32,
                   "bytes": 5_100, "examples": 13},
}  # fmt: skip


def version(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "object": "dataset.version", "id": f"{DS}@{n}", "dataset_id": DS, "version": n, "status": "ready",
        "status_details": None, "format": "qa_with_context", "documents": ["doc_1", "doc_2"],
        "recipe": RECIPE, "counts": COUNTS, "files": FILES, "fingerprint": "f" * 64, "operation_id": OP,
        "created_at": T, "updated_at": T, **extra,
    }  # fmt: skip


EVENTS = [
    {"at": T, "stage": "queued", "message": "version 1 queued"},
    {"at": T + 1, "stage": "prepare", "message": "extracting and chunking 2 documents"},
    {"at": T + 9, "stage": "synthesize", "message": "writing QA pairs for 80 passages"},
    {"at": T + 30, "stage": "finalize", "message": "version 1 ready: 133 examples"},
]


def operation(
    status: str, stage: str, done: int = 0, total: int = 0, events: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "object": "dataset.operation", "id": OP, "status": status, "stage": stage,
        "progress": {"done": done, "total": total, "fraction": round(done / total, 4) if total else 0.0},
        "error": None, "dataset_id": DS, "version": 1, "result": None, "created_at": T, "finished_at": None,
        "events": EVENTS[:events], **extra,
    }  # fmt: skip


SUCCESS = [
    operation("pending", "queued"),
    operation("running", "prepare", 1, 2, 2),
    operation("running", "prepare", 1, 2, 2),  # no change: shown once
    operation("running", "synthesize", 40, 80, 3),
    operation("succeeded", "finalize", 1, 1, 4, result=version(), finished_at=T + 30),
]
FAILURE = [
    operation("pending", "queued"),
    operation("running", "synthesize", 0, 80, 3),
    operation("failed", "synthesize", 0, 80, 3, error="synthesis: model 'nope' is not served"),
]


def example(n: int, page: int, page_end: int | None, **body: Any) -> dict[str, Any]:
    return {
        "id": f"ex_{n}", "split": "validation",
        "source": {"document_id": "doc_1", "filename": "handbook.pdf", "page": page, "page_end": page_end,
                   "char_start": 120 * n, "char_end": 120 * n + 860, "heading": "Refunds"},
        "text": None, "messages": None, "quality": {}, **body,
    }  # fmt: skip


EXAMPLES = [
    example(1, 3, 4, messages=[
        {"role": "system", "content": "Answer from the passage."},
        {"role": "user", "content": "How long do refunds take?"},
        {"role": "assistant", "content": "Refunds take 14 days."},
    ]),
    example(2, 7, 7, text="Refunds are paid to the original card.\nAsk support for exceptions."),
]  # fmt: skip
DIFF = {
    "object": "dataset.diff", "dataset_id": DS, "from": 1, "to": 0,
    "documents_added": ["doc_3"], "documents_removed": [], "examples_added": 30, "examples_removed": 12,
    "examples_unchanged": 108, "recipe_changes": ["chunk_tokens: 256 -> 512"],
    "from_counts": {"documents": 2, "chunks": 150, "dropped": {"too_short": 10}, "pii": {},
                    "duplicates": {"exact": 3, "near": 0}, "examples": {"train": 120, "validation": 13}},
    "to_counts": {"documents": 3, "chunks": 180, "dropped": {"too_short": 4}, "pii": {"email": 2},
                  "duplicates": {"exact": 3, "near": 0}, "examples": {"train": 126, "validation": 14}},
}  # fmt: skip


@dataclass
class Fake:
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[dict[str, Any]] = field(default_factory=lambda: list(SUCCESS))
    documents: int = 3  # ready documents listed, two a page
    examples: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(EXAMPLES))
    newest: int = 2  # the dataset's newest version (a 3 is building)


def error(status: int, message: str, param: str | None = None) -> tuple[int, Any]:
    code = "not_found" if status == 404 else "invalid_value"
    return status, {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def document(doc_id: str, name: str, size: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": doc_id, "object": "document", "filename": name, "bytes": size, "content_type": "text/plain",
        "sha256": "0" * 64, "pages": 0, "text_chars": 300, "status": "ready", "status_details": None,
        "created_at": T, "metadata": {}, **extra,
    }  # fmt: skip


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Fake

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        for name, value in (("content-type", "application/json"), ("content-length", str(len(raw)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _record(self, body: Any = None) -> tuple[str, dict[str, list[str]]]:
        url, query = urlsplit(self.path), parse_qs(urlsplit(self.path).query)
        self.fake.requests.append({"method": self.command, "path": url.path, "query": query, "body": body})
        return url.path, query

    def _multipart(self, raw: bytes) -> dict[str, tuple[str | None, str | None, bytes]]:
        head = b"content-type: " + self.headers["content-type"].encode() + b"\r\n\r\n"
        message = email.parser.BytesParser().parsebytes(head + raw)
        parts = [p for p in message.get_payload() if isinstance(p, email.message.Message)]
        return {
            str(p.get_param("name", header="content-disposition")):
                (p.get_filename(), p.get_content_type(), bytes(p.get_payload(decode=True)))
            for p in parts
        }  # fmt: skip

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/v1/documents":
            parts = self._multipart(raw)
            self._record(parts)
            name, _, content = parts["file"]
            failed = {"status": "failed", "status_details": "no text layer (scanned?)", "pages": 3}
            if name == "slides.rtf":
                self._reply(*error(400, "unsupported document type .rtf", "file"))
            elif name == "scan.pdf":
                self._reply(
                    200, {**document("doc_2", name, len(content), **failed), "already_existed": False}
                )
            else:
                doc = document(f"doc_{name}", str(name), len(content))
                self._reply(200, {**doc, "already_existed": name == "notes.txt"})
            return
        path, _ = self._record(json.loads(raw) if raw else None)
        body = self.fake.requests[-1]["body"]
        if path == "/v1/datasets":
            self._reply(200, self.fake.script[0])
        elif path == f"/v1/datasets/{DS}/versions":
            if body["chunking"]["max_tokens"] == 256:  # the newest version's recipe: that version
                self._reply(200, operation("succeeded", "finalize", 1, 1, 4, version=2, result=version(2)))
            else:
                self._reply(200, operation("pending", "queued", version=3))
        elif path == f"/v1/dataset_operations/{OP}/cancel":
            self._reply(200, operation("running", "synthesize", 3, 80, 3))
        elif path == "/v1/fine_tuning/jobs":
            self._reply(200, {"id": "ftjob_1", "status": "queued", "model": body["model"]})
        else:
            self._reply(*error(404, f"nothing at {path}"))

    def do_GET(self) -> None:
        path, query = self._record()
        if path == f"/v1/dataset_operations/{OP}":
            self._reply(200, self.fake.script.pop(0) if len(self.fake.script) > 1 else self.fake.script[0])
        elif path == "/v1/documents":
            ids = [f"doc_{i}" for i in range(self.fake.documents, 0, -1)]
            start = ids.index(query["after"][0]) + 1 if "after" in query else 0
            page = [document(i, f"{i}.md", 10) for i in ids[start : start + 2]]
            more = start + 2 < len(ids)
            self._reply(200, {"object": "list", "data": page, "has_more": more, "last_id": page[-1]["id"]})
        elif path == "/v1/datasets":
            found = [{"id": "ds_old", "name": "faq-old", "latest_version": 1, "latest_ready_version": 0},
                     {"id": DS, "name": "faq", "description": "support answers", "latest_version": 2,
                      "latest_ready_version": 2, "updated_at": T}]  # fmt: skip
            self._reply(200, {"object": "list", "data": found, "has_more": False})
        elif path == f"/v1/datasets/{DS}":
            self._reply(200, {"id": DS, "object": "dataset", "name": "faq", "latest_ready_version": 2,
                              "latest_version": self.fake.newest, "created_at": T})  # fmt: skip
        elif path == f"/v1/datasets/{DS}/versions/2" or path == f"/v1/datasets/{DS}/versions/latest":
            self._reply(200, version(2))
        elif path == f"/v1/datasets/{DS}/versions/3":
            self._reply(200, version(3, status="building", recipe={}, counts={}, files={}))
        elif path == f"/v1/datasets/{DS}/versions":
            failed = version(3, status="failed", status_details="document doc_9 is gone", counts={}, files={})
            self._reply(200, {"object": "list", "data": [failed, version(2)], "has_more": False})
        elif path == f"/v1/datasets/{DS}/versions/2/examples":
            self._reply(200, {"object": "list", "data": self.fake.examples, "total": 13})
        elif path == f"/v1/datasets/{DS}/diff":
            self._reply(200, DIFF)
        else:
            self._reply(*error(404, f"nothing at {path}"))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, http_server: Callable[[type[Handler]], str]) -> tuple[Fake, str]:
    monkeypatch.setattr(cli_live, "POLL_S", 0.0)  # the script answers each poll with its next state
    state = Fake()
    return state, http_server(type("H", (Handler,), {"fake": state}))


def keel(url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--gateway-url", url, "--api-key", "sk-keel-x"])
    assert result.exit_code == code, result.output
    return result.output


def row(out: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{out}")


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for folder in ("docs/deep", "docs/.cache", "extra"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "docs" / "guide.md").write_text("# Guide\nRefunds take 14 days.\n")
    (tmp_path / "docs" / "deep" / "scan.pdf").write_bytes(b"%PDF-1.4 scanned")
    (tmp_path / "docs" / "notes.txt").write_text("notes\n")
    (tmp_path / "docs" / "photo.png").write_bytes(b"\x89PNG")  # not a supported type: a folder skips it
    (tmp_path / "docs" / ".cache" / "old.md").write_text("hidden")  # hidden: skipped
    (tmp_path / "extra" / "slides.rtf").write_text("{\\rtf1}")
    return tmp_path


def test_docs_upload_reports_each_file_and_exits_1_when_any_failed(
    fake: tuple[Fake, str], corpus: Path
) -> None:
    state, url = fake
    # the glob is quoted (no shell expanded it); guide.md named twice is uploaded once
    out = keel(
        url, "docs", "upload", "docs", "extra/*.rtf", "docs/guide.md", "--metadata", "source=wiki", code=1
    )
    uploads = [r["body"] for r in state.requests if r["path"] == "/v1/documents"]
    assert [u["file"][0] for u in uploads] == ["scan.pdf", "guide.md", "notes.txt", "slides.rtf"]
    assert uploads[1]["file"][1:] == ("text/markdown", (corpus / "docs" / "guide.md").read_bytes())
    assert all(json.loads(u["metadata"][2]) == {"source": "wiki"} for u in uploads)
    assert "\r" in out and "uploading  [##############################] 4/4" in out  # the plain bar
    guide = (corpus / "docs" / "guide.md").stat().st_size
    assert row(out, "docs/guide.md")[1:] == ["doc_guide.md", "ready", "-", f"{guide} B"]
    assert row(out, "docs/deep/scan.pdf")[1:] == ["doc_2", "failed: no text layer (scanned?)", "3", "16 B"]
    assert row(out, "docs/notes.txt")[1:3] == ["doc_notes.txt", "already uploaded"]
    assert row(out, "extra/slides.rtf")[1:3] == ["-", "refused (400): unsupported document type .rtf"]
    assert "2 of 4 uploaded, 2 failed" in out

    lines = keel(url, "docs", "upload", "docs/notes.txt", "extra", "docs/deep", "--json", code=1).splitlines()
    assert [json.loads(line)["file"] for line in lines] == ["docs/notes.txt", "docs/deep/scan.pdf"]  # no .rtf
    assert json.loads(lines[0])["already_existed"] is True and json.loads(lines[1])["status"] == "failed"
    out = keel(url, "docs", "upload", "docs/guide.md", "docs/notes.txt")
    assert "2 of 2 uploaded" in out and "failed" not in out


def test_docs_upload_refuses_what_matches_nothing_before_sending(
    fake: tuple[Fake, str], corpus: Path
) -> None:
    state, url = fake
    assert "no file matches 'extra/*.doc'" in keel(url, "docs", "upload", "docs", "extra/*.doc", code=2)
    assert "'missing.md': no such file or folder" in keel(url, "docs", "upload", "missing.md", code=2)
    assert "no documents to upload" in keel(url, "docs", "upload", "extra", code=2)
    assert "'oops' is not KEY=VALUE" in keel(url, "docs", "upload", "docs", "--metadata", "oops", code=2)
    assert state.requests == []


def test_datasets_create_follow_shows_the_build_and_its_summary(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "datasets", "create", "faq", "--doc", "doc_1", "--doc", "doc_2",
               "--format", "qa_with_context", "--synthesis-model", "smollm2-1.7b", "--pairs", "3",
               "--chunk-tokens", "512", "--overlap", "64", "--no-dedup", "--pii", "email=drop",
               "--quality", "min_words=5", "--validation-fraction", "0.2", "--description", "support answers",
               "--follow")  # fmt: skip
    create = state.requests[0]
    assert create["path"] == "/v1/datasets"
    assert create["body"] == {
        "name": "faq", "description": "support answers", "documents": ["doc_1", "doc_2"],
        "format": "qa_with_context", "qa_synthesis": {"model": "smollm2-1.7b", "pairs_per_chunk": 3},
        "chunking": {"max_tokens": 512, "overlap_tokens": 64}, "dedup": {"enabled": False},
        "pii": {"email": "drop"}, "quality": {"min_words": 5}, "split": {"validation_fraction": 0.2},
    }  # fmt: skip
    polls = [r for r in state.requests if r["path"] == f"/v1/dataset_operations/{OP}"]
    assert len(polls) == len(SUCCESS) and all(p["query"] == {"events": ["true"]} for p in polls)
    for ev in EVENTS:  # each event once, in order, though every poll returns all of them
        assert out.count(ev["message"]) == 1
    assert [out.index(ev["message"]) for ev in EVENTS] == sorted(out.index(ev["message"]) for ev in EVENTS)
    assert "prepare    [###############---------------]  50%  1/2" in out
    assert "synthesize [###############---------------]  50%  40/80" in out
    summary = out[out.index(f"{DS}@1 is ready") :]
    assert summary.splitlines() == [
        f"{DS}@1 is ready (operation {OP})",
        "  120 train + 13 validation examples, from 150 chunks of 2 documents",
        "  dropped: duplicate 5, too_short 10",
        "  duplicates: 3 exact, 2 near",
        "  PII found: email 4",
        "  QA pairs: 133 kept of 160 proposed from 80 passages",
        f"train on it: keel jobs create --dataset {DS}@1",
    ]


def test_a_build_that_fails_exits_1_with_its_error(fake: tuple[Fake, str]) -> None:
    state, url = fake
    state.script = list(FAILURE)
    out = keel(url, "datasets", "follow", OP, code=1)
    assert f"{DS}@1 failed (operation {OP}): synthesis: model 'nope' is not served" in out
    assert "is ready" not in out and "writing QA pairs for 80 passages" in out


def test_without_follow_it_says_how_to_follow(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "datasets", "create", "faq", "--all-docs")
    assert out == f"building {DS}@1 (operation {OP}, pending)\nfollow it: keel datasets follow {OP}\n"
    assert state.requests[-1]["body"] == {"name": "faq", "documents": ["doc_3", "doc_2", "doc_1"]}
    pages = [r["query"] for r in state.requests if r["path"] == "/v1/documents"]  # every ready one
    assert [p.pop("after", None) for p in pages] == [None, ["doc_2"]]
    assert pages == [{"status": ["ready"], "limit": ["100"]}] * 2
    assert "--synthesis-model and --pairs need --format" in keel(url, "datasets", "create", "x", "--doc", "d",
                                                                  "--pairs", "2", code=2)  # fmt: skip
    assert "name the documents" in keel(url, "datasets", "create", "x", code=2)


def test_a_next_version_changes_the_newest_recipe(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "datasets", "version", "faq", "--chunk-tokens", "512", "--format", "text", "--seed", "7")
    assert out.startswith(f"building {DS}@3 (operation {OP}, pending)")
    build = state.requests[-1]
    paths = [r["path"] for r in state.requests[:3]]  # its id, the dataset, its newest version
    assert paths == ["/v1/datasets", f"/v1/datasets/{DS}", f"/v1/datasets/{DS}/versions/2"]
    assert build["path"] == f"/v1/datasets/{DS}/versions"
    assert build["body"] == {
        "documents": ["doc_1", "doc_2"], "base_model": "smollm2-135m-instruct", "format": "text",
        "chunking": {"max_tokens": 512, "overlap_tokens": 32}, "quality": RECIPE["quality"],
        "dedup": {"enabled": True, "near_threshold": 0.8}, "pii": {"email": "drop"},
        "split": {"validation_fraction": 0.1, "seed": 7},
    }  # fmt: skip
    state.newest = 3  # building: no recipe yet, so the latest ready version's, over v3's documents
    out = keel(url, "datasets", "version", DS)  # nothing changed: the latest ready version is the answer
    assert [r["path"] for r in state.requests[-3:-1]] == [f"/v1/datasets/{DS}/versions/{n}" for n in (3, 2)]
    assert state.requests[-1]["body"]["qa_synthesis"] == RECIPE["synthesis"]
    assert out.startswith(f"{DS}@2 already has this recipe over these documents ({OP}, succeeded)\n")
    assert f"{DS}@2 is ready" in out and "120 train + 13 validation examples" in out
    assert "error: no dataset named 'nope'" in keel(url, "datasets", "version", "nope", code=1)


def test_preview_shows_each_example_with_its_source(
    fake: tuple[Fake, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = fake
    out = keel(url, "datasets", "preview", "faq@2", "--split", "validation", "--limit", "2")
    assert state.requests[-1]["query"] == {"split": ["validation"], "limit": ["2"], "offset": ["0"]}
    assert out.splitlines() == [
        f"{DS}@2: validation examples 1-2 of 13",
        "",
        "#1 handbook.pdf · pages 3-4 · characters 120-980 · “Refunds”",
        "  system", "    Answer from the passage.",
        "  user", "    How long do refunds take?",
        "  assistant", "    Refunds take 14 days.",
        "",
        "#2 handbook.pdf · page 7 · characters 240-1100 · “Refunds”",
        "    Refunds are paid to the original card.", "    Ask support for exceptions.",
    ]  # fmt: skip
    # on a terminal a long text is cut, and says so
    screen = io.StringIO()
    monkeypatch.setattr(cli_datasets, "console", Console(file=screen, force_terminal=True, width=200))
    state.examples[1]["text"] = "word " * 300
    keel(url, "datasets", "preview", DS + "@2")
    plain = " ".join(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).split())
    assert "word word … (+900 characters; --full shows all)" in plain
    assert "Refunds take 14 days." in plain  # short texts whole
    assert "is not a version number" in keel(url, "datasets", "preview", "faq@two", code=2)


def test_diff_shows_documents_examples_counts_and_recipe(fake: tuple[Fake, str]) -> None:
    state, url = fake
    out = keel(url, "datasets", "diff", DS, "1")
    assert state.requests[-1]["query"] == {"from": ["1"], "to": ["latest"]}
    assert f"{DS}: v1 → latest" in out
    assert "documents: +1 doc_3\n           -0\n" in out
    assert "examples: +30 added, -12 removed, 108 unchanged" in out
    assert row(out, "chunks")[1:] == ["150", "180", "+30"]
    assert row(out, "dropped: too_short")[1:] == ["10", "4", "-6"]
    assert row(out, "pii: email")[1:] == ["0", "2", "+2"]
    assert row(out, "duplicates: exact")[1:] == ["3", "3", ""]
    assert row(out, "examples: train")[1:] == ["120", "126", "+6"]
    assert out.endswith("recipe changes:\n  chunk_tokens: 256 -> 512\n")


def test_show_versions_list_and_cancel(fake: tuple[Fake, str]) -> None:
    _, url = fake
    shown = keel(url, "datasets", "show", "faq")
    assert row(shown, "latest ready")[1] == f"{DS}@2 (qa_with_context, 2 documents)"
    assert "dropped: duplicate 5, too_short 10" in shown
    assert row(shown, "train")[1:4] == ["120", "48.0 kB", "ab" * 8]
    assert row(keel(url, "datasets", "list"), DS)[1:5] == ["faq", "2", f"{DS}@2", "support answers"]
    assert f"cancel requested for {OP} ({DS}@1, running)" in keel(url, "datasets", "cancel", OP)
    versions = keel(url, "datasets", "versions", DS)
    failed = row(versions, f"{DS}@3")[1:7]
    assert failed == ["failed: document doc_9 is gone", "qa_with_context", "2", "-", "-", "-"]
    assert row(versions, f"{DS}@2")[1:7] == ["ready", "qa_with_context", "2", "120", "13", "150"]


def test_on_a_terminal_the_bars_are_rich_live_ones(
    fake: tuple[Fake, str], corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=140)
    for module in (cli_live, importlib.import_module("keel_client.cli.docs")):  # bars and tables
        monkeypatch.setattr(module, "console", terminal)
    with GatewayClient(fake[1], "k") as gw:
        assert cli_live.follow(gw, OP) == 0
    raw = screen.getvalue()
    assert "\x1b[?25l" in raw  # the live display hid the cursor while it redrew the bar
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    assert "synthesize" in out and "40/80" in out and "writing QA pairs for 80 passages" in out
    assert f"{DS}@1 is ready" in out and "#####" not in out  # rich's bar, not the plain one
    screen.truncate(0)
    keel(fake[1], "docs", "upload", "docs/guide.md", "docs/notes.txt")
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "uploading" in out and "1/2 notes.txt" in out and "#####" not in out
    assert row(out, "docs/notes.txt")[1:3] == ["doc_notes.txt", "already uploaded"]


def test_jobs_create_on_a_dataset_uploads_nothing(fake: tuple[Fake, str], tmp_path: Path) -> None:
    state, url = fake
    out = keel(url, "jobs", "create", "--dataset", f"{DS}@2", "--epochs", "2")
    assert f"training on dataset {DS}@2" in out and "created job ftjob_1 (queued)" in out
    assert [r["path"] for r in state.requests] == ["/v1/fine_tuning/jobs"]
    assert state.requests[0]["body"]["training_file"] == f"{DS}@2"
    (tmp_path / "data.jsonl").write_text("{}\n")
    both = keel(url, "jobs", "create", "--dataset", f"{DS}@2", "--file", str(tmp_path / "data.jsonl"), code=2)
    assert "give exactly one of --file and --dataset" in both
    assert "give exactly one of --file and --dataset" in keel(url, "jobs", "create", code=2)
    assert "is not a dataset version" in keel(url, "jobs", "create", "--dataset", "faq@2", code=2)
    assert len(state.requests) == 1


def test_follow_operation_yields_each_change_once(fake: tuple[Fake, str]) -> None:
    _, url = fake
    with GatewayClient(url, "k") as gw:
        seen = list(gw.follow_operation(OP, poll_s=0))
    assert [(o["status"], o["stage"]) for o in seen] == [
        ("pending", "queued"), ("running", "prepare"), ("running", "synthesize"), ("succeeded", "finalize"),
    ]  # fmt: skip
    assert seen[-1]["result"]["id"] == f"{DS}@1"
