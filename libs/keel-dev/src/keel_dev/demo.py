"""``make demo``: Keel's whole loop on the embedded defaults, narrated, in minutes on a laptop CPU.

The local platform (``keel up`` underneath: embedded Valkey, registry, inference, ingestion API +
build worker, training API + CPU worker, feedback, gateway) turns an invented product handbook
into a fine-tuned model and improves it from user feedback:

1. upload the handbook (a four-page PDF) and the support team's question sheet;
2. build the training set with grounded QA synthesis, and the held-out evaluation set;
3. evaluate the base model; 4. fine-tune with the service's auto hyperparameters, live;
5. evaluate the candidate and promote it through the gate;
6. ask through the guarded gateway with the openai SDK (an answer, an injection, a redaction);
7. rate answers (thumbs-up, thumbs-down with corrections), export SFT + DPO sets, train again on
   top of the fine-tuned model, promote through the gate, ask the corrected question again;
8. a one-page summary; 9. stop everything.

Every step prints its wall time; the last line is one JSON object with the timings and scores.
The steps live in ``demo_documents``, ``demo_eval``, ``demo_training``, ``demo_gateway``,
``demo_feedback`` and ``demo_summary``; ``demo_run`` holds what they share.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from keel_common.contract import DEFAULT_BASE_MODEL
from keel_dev import demo_documents, demo_feedback, demo_gateway, demo_summary, demo_training
from keel_dev.demo_eval import evaluate, show_answers, show_scores
from keel_dev.demo_handbook import facts
from keel_dev.demo_run import DemoRun
from keel_dev.local import LocalPlatform

BUDGET_S = 600  # the demo's promise on a 2-core machine without a GPU


def start(run: DemoRun) -> LocalPlatform:
    """Every service, on free ports, with its data under the demo's folder."""
    platform = LocalPlatform(
        run.root / "platform",
        registry_port=0,
        registry_http_port=0,
        startup_timeout=180,
        inference=True,
        inference_port=0,
        inference_http_port=0,
        gateway=True,
        gateway_port=0,
        training=True,
        training_port=0,
        training_http_port=0,
        training_worker_metrics_port=0,
        ingestion=True,
        ingestion_port=0,
        ingestion_http_port=0,
        ingestion_worker_metrics_port=0,
        feedback=True,
        feedback_port=0,
        feedback_http_port=0,
    )
    run.platform = platform
    with run.console.status("starting Keel (the first start converts the model once) ..."):
        platform.start()
    for comp in platform.state.components.values():
        where = comp.grpc or comp.url or (f"queue {comp.queues}" if comp.queues else comp.http)
        run.note(f"  {comp.name:17} {where}")
    run.connect(platform)
    run.note(f"  gateway: {platform.gateway_url}/v1 (OpenAI-compatible), admin key of tenant keel")
    return platform


def story(run: DemoRun) -> None:
    sheet = facts()
    everything = "Valkey, registry, inference, ingestion, training, feedback, gateway"
    with run.step("start", f"start the local platform: {everything}"):
        start(run)
    with run.step("upload", "upload the handbook and the support team's question sheet"):
        demo_documents.upload(run, sheet)
    with run.step("dataset", "build the datasets: grounded QA synthesis, examples with their page"):
        demo_documents.datasets(run, sheet)
    held_out = run.found.datasets["eval"]
    with run.step("evaluate_base", f"evaluate the base model {DEFAULT_BASE_MODEL} on the held-out questions"):
        evaluate(run, "base", DEFAULT_BASE_MODEL, held_out)
    with run.step("finetune", "fine-tune on the handbook, every hyperparameter auto, followed live"):
        tuned = demo_training.fine_tune(run, run.found.datasets["train"])
    with run.step("promote", "evaluate the candidate and promote it to production through the gate"):
        demo_training.promote(run, tuned, held_out, "tuned", "base")
        show_scores(run, [(k, run.found.scores.get(k)) for k in ("base", "tuned")], held_out)
        show_answers(run, "base", "tuned")
    with run.step("gateway", "ask through the guarded gateway with the openai SDK"):
        demo_gateway.guarded_gateway(run, sheet)
    with run.step("feedback", "users ask; a reviewer gives thumbs-up and corrections"):
        demo_feedback.review(run, sheet)
    with run.step("export", "export SFT and DPO datasets from the feedback; the evaluation set grows"):
        sft, _dpo = demo_feedback.export(run)
        grown = demo_documents.grow_eval_set(run, sheet, run.found.corrections)
    with run.step("retrain", "train again on the feedback, on top of the fine-tuned model"):
        retrained = demo_training.fine_tune(run, sft, model=tuned.registry_version, suffix="corvane-fb")
    with run.step("repromote", "evaluate the retrained model and promote it through the gate"):
        moved = demo_training.promote(run, retrained, grown, "retrained@grown", "tuned@grown")
        show_scores(run, [(k, run.found.scores.get(k)) for k in ("tuned@grown", "retrained@grown")], grown)
        # the same held-out questions as before, for the before/after comparison
        evaluate(run, "retrained", retrained.registry_version, held_out, show=False)
        show_scores(run, [(k, run.found.scores.get(k)) for k in ("base", "tuned", "retrained")], held_out)
    with run.step("corrected", "ask the corrected question again"):
        demo_feedback.ask_again(run)
        c = run.found.corrected
        if not moved and c is not None:
            candidate = demo_gateway.ask(
                demo_gateway.client(run), retrained.registry_version, c.question, c.fact
            )
            run.say(
                f"the retrained version itself ({escape(retrained.registry_version)}), not promoted, answers:"
            )
            demo_gateway.show(run, candidate)
    with run.step("summary", "summary"):
        demo_summary.summary(run)


def f1(run: DemoRun, label: str) -> float | None:
    scores = run.found.scores.get(label)
    return None if not scores or "eval_f1" not in scores else round(scores["eval_f1"], 4)


def result_line(run: DemoRun, code: int) -> dict[str, Any]:
    f = run.found
    counts = f.dataset_counts.get("train", {})
    return {
        "total_s": round(run.elapsed(), 1),
        "base_f1": f1(run, "base"),
        "tuned_f1": f1(run, "tuned"),
        "retrained_f1": f1(run, "retrained"),
        "corrected_answer_served": f.corrected_answer_served,
        "steps": run.timings,
        "exit_code": code,
        "qa_kept": counts.get("qa_kept"),
        "qa_proposed": counts.get("qa_proposed"),
        "qa_passages": counts.get("qa_passages"),
        "dataset_build_s": f.synthesis_s,
        "jobs": [
            {
                "id": j.id,
                "status": j.status,
                "version": j.registry_version,
                "tokens": j.trained_tokens,
                "seconds": j.seconds,
            }
            for j in f.jobs
        ],
        "promotions": f.promotions,
        "datasets": f.datasets,
        "evaluations": f.evaluations,
    }


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: the platform is stopped first


def run_demo(console: Console, data_dir: Path | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate)
    tmp = tempfile.TemporaryDirectory(prefix="keel-demo-") if data_dir is None else None
    root = Path(tmp.name) if tmp else Path(data_dir)  # type: ignore[arg-type]
    run = DemoRun(console, root)
    code = 0
    try:
        story(run)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        code = 130
    except Exception as exc:  # any failure: say which step and why, then stop everything
        console.print(
            f"[red]the demo stopped: {escape(f'{type(exc).__name__}: {exc}')}[/red]", soft_wrap=True
        )
        if run.platform is not None:
            console.print(f"logs: {run.platform.data_dir / 'logs'}", highlight=False, soft_wrap=True)
        code = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop short
        run.close()
        if run.platform is not None:
            with run.step("stop", "stop everything"):
                for name in run.platform.stop():
                    console.print(f"[yellow]{name} did not stop in time and was killed[/yellow]")
                console.print("every component stopped", highlight=False)
        total = run.elapsed()
        within = "within" if total <= BUDGET_S else "over"
        console.print(
            f"[bold]{'demo finished' if code == 0 else 'demo failed'}[/bold] in {total:.0f} s "
            f"({total / 60:.1f} min, {within} the {BUDGET_S // 60}-minute budget)",
            highlight=False,
        )
        if tmp:
            tmp.cleanup()
        signal.signal(signal.SIGTERM, previous)
    sys.stdout.flush()
    print(json.dumps(result_line(run, code)), flush=True)
    return code
