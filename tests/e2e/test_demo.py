"""`keel demo` (what `make demo` runs) end to end, as a user would run it: the whole loop on the
embedded defaults (every service, the real SmolLM2), checked on what the user sees at each step
and on the JSON line it ends with."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# The demo promises 10 minutes on an idle 2-core machine; tests running beside it slow it down.
DEMO_TIMEOUT_S = 1200
STEPS = (
    "start",
    "upload",
    "dataset",
    "evaluate_base",
    "finetune",
    "promote",
    "gateway",
    "feedback",
    "export",
    "retrain",
    "repromote",
    "corrected",
    "summary",
    "stop",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    data = tmp_path_factory.mktemp("demo")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KEEL_REDIS_URL", "KEEL_REGISTRY_DATABASE_URL", "KEEL_ARTIFACT_ROOT")
    }
    keel = str(Path(sys.executable).with_name("keel"))
    argv = [keel, "demo", "--data-dir", str(data)]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the demo stops its platform on SIGTERM, so nothing is left running
            out, err = proc.communicate(timeout=180)
            pytest.fail(f"the demo took over {DEMO_TIMEOUT_S} s:\n{out[-6000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), data


def last_json(out: str) -> dict[str, Any]:
    line = out.rstrip().splitlines()[-1]
    parsed: dict[str, Any] = json.loads(line)
    return parsed


@pytest.mark.slow
@pytest.mark.timeout(DEMO_TIMEOUT_S + 240)
def test_demo_runs_the_whole_loop(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, data = demo
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr[-3000:]

    # 1. the handbook and the question sheet are uploaded
    assert re.search(r"uploaded corvane-handbook\.pdf\s+→ doc_\w+\s+ready, 4 pages", out)
    assert "uploaded corvane-qa-train.jsonl" in out and "uploaded corvane-qa-eval.jsonl" in out
    # 2. grounded QA synthesis, with the page each example comes from
    kept = re.search(r"synthesis kept (\d+) of (\d+) proposed pairs from (\d+) passages", out)
    assert kept and 0 < int(kept[1]) <= int(kept[2]), out
    assert "synthesized examples with their source" in out
    # 3-5. evaluation, live training with the auto hyperparameters, the gate
    assert "hyperparameters chosen: epochs" in out
    assert re.search(r"\d+/\d+ steps", out)  # the progress bar (plain when not on a terminal)
    assert re.search(r"job ftjob_\w+ succeeded", out)
    assert "gate passed: eval_f1" in out
    # 6. the guarded gateway through the openai SDK
    assert "request id" in out and "answered by" in out
    assert "refused: HTTP 400 content_filter" in out
    assert "anna.berg@example.com" not in out.split("what the model was sent")[1].splitlines()[0]
    # 7. feedback, exports, the second training on top of the first
    assert re.search(r"feedback recorded: \d+ thumbs-up, [1-9]\d* thumbs-down with a correction", out)
    assert re.search(r"SFT export → ds_\w+@\d+", out) and re.search(r"DPO export → ds_\w+@\d+", out)
    # 8. the summary traces the last answer back to a page of the handbook
    assert "lineage of the last answer" in out
    assert re.search(r"corvane-handbook\.pdf \(doc_\w+\) page [1-4]", out)
    assert "/metrics" in out
    # 9. everything stopped; the data stayed where the user asked
    assert "every component stopped" in out and "demo finished in" in out
    assert not (data / "platform" / "platform.json").exists()
    assert (data / "platform" / "registry.db").exists()

    summary = last_json(out)
    for key in ("total_s", "base_f1", "tuned_f1", "retrained_f1", "corrected_answer_served", "steps"):
        assert key in summary, key
    assert list(summary["steps"]) == list(STEPS)
    assert all(isinstance(s, float | int) and s >= 0 for s in summary["steps"].values())
    assert summary["total_s"] >= sum(summary["steps"].values()) - 1
    # the fine-tune measurably beats the base model on questions it never trained on
    assert summary["tuned_f1"] > summary["base_f1"] + 0.1, summary
    assert summary["corrected_answer_served"] is True, summary
    assert [j["status"] for j in summary["jobs"]] == ["succeeded", "succeeded"]


def test_the_shipped_handbook_pdf_is_made_from_its_markdown() -> None:
    """The committed PDF is what `python -m keel_dev.demo_handbook` writes (run it after editing
    the Markdown), and every fact of the question sheet is stated in the handbook."""
    pytest.importorskip("fpdf")
    from keel_dev.demo_handbook import MARKDOWN, PDF, data_path, facts, render_pdf

    markdown = data_path(MARKDOWN).read_text()
    assert render_pdf(markdown) == data_path(PDF).read_bytes()
    text = " ".join(markdown.split())
    sheet = facts()
    assert 15 <= len(sheet) <= 25
    for fact in sheet:
        assert fact.key in text and fact.key in fact.answer, fact
        assert fact.eval not in fact.train  # the held-out phrasing is never trained on
        assert len(fact.users) == 2 and not set(fact.users) & {*fact.train, fact.eval}
