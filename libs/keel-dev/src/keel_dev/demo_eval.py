"""Evaluation by generation in the demo: models answer the held-out questions of the evaluation set
(``POST /v1/evaluations``, run on a training worker, scored by exact match, token F1 and MiniLM
similarity), and the promotion gate (``promote(..., gate=...)``) that moves ``production`` only
when the candidate scores at least what production serves now.

Both degrade honestly on a gateway without the evaluation API: ``evaluate`` returns None and the
step prints "evaluation: not available yet"; ``gate`` returns None and the caller promotes
without a gate, saying so."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from keel_client.errors import GatewayError
from keel_client.evaluations import gate_of
from keel_dev.demo_run import DemoRun

GATE_METRIC = "eval_f1"
SPLIT = "train"  # the evaluation set is a dataset of its own: every row is a held-out question
NOT_AVAILABLE = "evaluation: not available yet (this gateway has no /v1/evaluations)"
_SHOWN = (("eval_f1", "F1"), ("eval_exact_match", "exact match"), ("eval_similarity", "similarity"))


def _unavailable(exc: GatewayError, field: str | None = None) -> bool:
    """A gateway from before the evaluation API: the route is missing, or (for promotion) the
    ``gate`` field is refused as unknown."""
    if field is not None:
        return exc.status == 400 and exc.param == field
    return exc.status in (404, 405) and exc.code not in ("model_not_found", "not_found_error")


def _wait(run: DemoRun, evaluation: dict[str, Any], what: str) -> dict[str, Any]:
    run.found.evaluations.append(evaluation["id"])
    run.say(f"evaluation [bold]{evaluation['id']}[/bold]: {escape(what)}")

    def changed(ev: dict[str, Any]) -> None:
        run.note(f"  {ev.get('status')}: {ev.get('status_message') or ''}".rstrip(": "))

    with run.console.status(f"{what} ..."):
        done = run.gw.wait_evaluation(evaluation["id"], timeout=900, poll=1.0, on_update=changed)
    if done.get("status") != "succeeded":
        raise RuntimeError(f"evaluation {done['id']} {done.get('status')}: {done.get('status_message')}")
    return done


def evaluate(
    run: DemoRun, label: str, model: str, questions: str, show: bool = True
) -> dict[str, float] | None:
    """``model``'s scores on the held-out questions of ``questions`` (ds_…@N), kept under
    ``label`` with its first answers; None when the gateway cannot evaluate."""
    try:
        created = run.gw.create_evaluation([model], questions, split=SPLIT)
    except GatewayError as exc:
        if _unavailable(exc):
            run.say(f"[yellow]{NOT_AVAILABLE}[/yellow]")
            run.found.scores[label] = None
            return None
        raise
    done = _wait(run, created, f"{model} answers the {questions} questions")
    result = done["results"][0]
    _keep(run, label, result)
    if show:
        show_scores(run, [(label, run.found.scores[label])], questions)
    return run.found.scores[label]


def _keep(run: DemoRun, label: str, result: dict[str, Any]) -> None:
    run.found.scores[label] = {k: float(v) for k, v in (result.get("metrics") or {}).items()}
    run.found.eval_answers[label] = list(result.get("answers") or [])
    run.found.eval_refs[label] = str(result.get("ref") or result.get("model") or "")


def gate(
    run: DemoRun, name: str, version: int, questions: str, label: str, current_label: str
) -> tuple[bool, str] | None:
    """Promote ``name/version`` to production through the gate, on the questions of ``questions``;
    (whether the alias moved, the gate's verdict), or None when the gateway has no gate. The
    candidate's scores are kept under ``label``, those of what production served before under
    ``current_label``, as the gate measured them on the same questions."""
    spec = gate_of(metric=GATE_METRIC, dataset=questions, split=SPLIT, min_examples=10)
    try:
        answer = run.gw.promote(name, version, gate=spec)
    except GatewayError as exc:
        if _unavailable(exc, "gate"):
            run.say(f"[yellow]{NOT_AVAILABLE}; no gate[/yellow]")
            run.found.scores.setdefault(label, None)
            return None
        raise
    evaluation = answer.get("evaluation")
    if not evaluation:
        return None
    done = _wait(run, evaluation, f"the gate: {name}/{version} against what {answer.get('alias')} serves now")
    results = done.get("results") or []
    if results:
        _keep(run, label, results[0])
    if len(results) > 1:
        _keep(run, current_label, results[1])
    outcome = done.get("gate_outcome") or {}
    message = str(outcome.get("message") or done.get("status_message") or "")
    return bool(outcome.get("promoted")), message


def fmt(score: float | None) -> str:
    return "—" if score is None else f"{score:.3f}"


def show_scores(run: DemoRun, rows: list[tuple[str, dict[str, float] | None]], questions: str) -> None:
    """Scores side by side on the questions of ``questions``, one row per model."""
    what = (
        "held-out + reported questions"
        if questions == run.found.datasets.get("eval_grown")
        else "held-out questions"
    )
    table = Table(title=f"{questions}: {what}, asked closed book", title_justify="left")
    table.add_column("model")
    table.add_column("answered by")
    for _, title in _SHOWN:
        table.add_column(title + (" (gate)" if _ == GATE_METRIC else ""), justify="right")
    table.add_column("questions", justify="right")
    for label, scores in rows:
        s = scores or {}
        table.add_row(
            label.split("@")[0],
            escape(run.found.eval_refs.get(label, "")),
            *(fmt(s.get(k)) for k, _ in _SHOWN),
            str(int(s.get("eval_generations") or 0) or "—"),
        )
    run.console.print(table)


def show_answers(run: DemoRun, before: str, after: str, limit: int = 4) -> None:
    """The first held-out questions with the reference and both models' answers."""
    a, b = run.found.eval_answers.get(before) or [], run.found.eval_answers.get(after) or []
    if not a or not b:
        return
    table = Table(title=f"answers before ({before}) and after ({after})", title_justify="left")
    for col in ("question", "reference", before, after):
        table.add_column(col, overflow="fold")
    for x, y in list(zip(a, b, strict=False))[:limit]:
        table.add_row(
            escape(x["question"]),
            escape(x["reference"]),
            escape(_short(x["answer"])),
            escape(_short(y["answer"])),
        )
    run.console.print(table)


def _short(text: str, n: int = 90) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"
