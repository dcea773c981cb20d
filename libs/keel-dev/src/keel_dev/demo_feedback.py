"""Step 7 of the demo: users ask the production model, a reviewer checks every answer against the
handbook — a thumbs-up when it is right and a full sentence, a thumbs-down with the handbook's
answer when it is wrong or a bare fragment — then the rated answers become the next training sets
(SFT and DPO, registered as dataset versions), the model is trained again on top of itself,
promoted through the gate, and the corrected question is asked once more."""

from __future__ import annotations

import time

from rich.markup import escape
from rich.table import Table

from keel_client.errors import GatewayError
from keel_dev.demo_gateway import ask, ask_many, client, show
from keel_dev.demo_handbook import Fact
from keel_dev.demo_run import Answer, DemoRun

SFT_SET = "corvane-feedback-sft"
DPO_SET = "corvane-feedback-dpo"
# Also asked: a fact the handbook leaves out, which only a correction can teach.
MISSING = Fact(
    page=0,
    key="fjord blue",
    answer="The Lumen Q7 comes in one colour: fjord blue.",
    train=("Which colour is the Lumen Q7?",),
    eval="What colour does the Lumen Q7 come in?",
)


def review(run: DemoRun, sheet: list[Fact]) -> None:
    """Users ask about every fact in their own words (two phrasings each, neither trained on nor
    held out for evaluation); every answer is rated against the handbook. (Thirty-odd rated answers
    also make the retraining set large enough for 3 auto epochs instead of 6 on a handful, which
    keeps the second training from drifting away from what the first one learned.)"""
    oa = client(run)
    questions: list[tuple[str, Fact | None]] = [(q, f) for f in sheet for q in f.users]
    questions.append((MISSING.train[0], MISSING))
    t0 = time.monotonic()
    answers = ask_many(oa, run.found.model, questions)
    right = sum(a.right for a in answers)
    terse = sum(a.right and not a.complete for a in answers)
    run.say(
        f"users asked {len(answers)} questions in {time.monotonic() - t0:.1f} s (concurrent requests, "
        f"batched by the inference service); a reviewer with the handbook finds {right - terse} right, "
        f"{terse} right but terse, {len(answers) - right} wrong"
    )
    table = Table(
        title="the reviewer's verdicts (the wrong answers, and a few right ones)", title_justify="left"
    )
    for col in ("question", "answer", "verdict", "completion id"):
        table.add_column(col, overflow="fold")
    shown = sorted(answers, key=lambda a: (a.right and a.complete, a.right))
    for a in shown[: max(8, len(answers) - right + terse)]:
        table.add_row(escape(a.question), escape(a.text), verdict(a), a.completion_id)
    run.console.print(table)
    rated = [a for a in run.found.answers if a.fact is not None and "e-mail" not in a.question] + answers
    for a in rated:
        if a.right and a.complete:
            fb = run.gw.submit_feedback(a.completion_id, thumbs="up", client_id=f"demo-{a.completion_id}")
        else:
            assert a.fact is not None
            where = f"the handbook, page {a.fact.page}" if a.fact.page else "a fact the handbook lacks"
            fb = run.gw.submit_feedback(
                a.completion_id,
                thumbs="down",
                correction=a.fact.answer,
                comment=where,
                client_id=f"demo-{a.completion_id}",
            )
            run.found.corrections.append(a)
        run.found.feedback.append(fb)
    # The correction followed to the end: a wrong answer about the handbook if there is one.
    ranked = sorted(run.found.corrections, key=lambda a: (a.right, a.fact is MISSING))
    run.found.corrected = ranked[0] if ranked else None
    downs = len(run.found.corrections)
    run.say(f"feedback recorded: {len(rated) - downs} thumbs-up, {downs} thumbs-down with a correction")
    if run.found.corrected is not None:
        c = run.found.corrected
        assert c.fact is not None
        run.say(f"  e.g. [bold]{escape(c.question)}[/bold]")
        run.say(f"       answered  [red]{escape(c.text)}[/red]")
        run.say(f"       corrected [green]{escape(c.fact.answer)}[/green]")
    wait_stored(run, [a.completion_id for a in rated])


def verdict(a: Answer) -> str:
    if a.right and a.complete:
        return "[green]👍[/green]"
    return "[red]👎 " + ("terse" if a.right else "wrong") + " → correction[/red]"


def wait_stored(run: DemoRun, completion_ids: list[str], wait_s: float = 20.0) -> None:
    """The feedback service stores interactions from the gateway's stream a moment after each
    answer; an export only sees stored ones."""
    deadline = time.monotonic() + wait_s
    pending = list(completion_ids)
    while pending and time.monotonic() < deadline:
        try:
            if run.gw.get_interaction(pending[-1]).get("received"):
                pending.pop()
                continue
        except GatewayError as exc:
            if exc.status != 404:
                raise
        time.sleep(0.2)


def export(run: DemoRun) -> tuple[str, str]:
    """The SFT and DPO sets from the rated answers (the evaluation questions left out)."""
    refs = []
    for kind, name in (("sft", SFT_SET), ("dpo", DPO_SET)):
        out = run.gw.export_feedback(
            kind,  # type: ignore[arg-type]
            name,
            model=run.found.model,
            exclude_dataset=run.found.datasets["eval"],
            validation_fraction=0.0,
        )
        ref = str(out["training_file"])
        refs.append(ref)
        run.found.datasets[f"feedback_{kind}"] = ref
        ex = out.get("examples") or {}
        run.found.dataset_counts[f"feedback_{kind}"] = {"examples": ex}
        run.say(
            f"{kind.upper()} export → [bold]{ref}[/bold] ({name}): {ex.get('train', 0)} examples from the "
            f"answers of {', '.join(out.get('model_versions') or []) or '?'}"
        )
    c = run.found.corrected
    if c is not None and c.fact is not None:
        run.note(f"  e.g. SFT:  {c.question!r} → {c.fact.answer!r}")
        run.note(f"       DPO:  {c.question!r}: {c.fact.answer!r} preferred over {c.text!r}")
    sft, dpo = refs
    return sft, dpo


def ask_again(run: DemoRun) -> None:
    """The corrected question, to what production serves now."""
    c = run.found.corrected
    if c is None or c.fact is None:
        run.say("[yellow]nothing was corrected, so there is nothing to ask again[/yellow]")
        return
    oa = client(run)
    final = ask(oa, run.found.model, c.question, c.fact)
    run.found.final = final
    show(run, final)
    run.found.corrected_answer_served = final.right
    if final.right:
        run.say(f"[green]the corrected answer is served[/green] (by {escape(final.served_by)})")
    else:
        served = escape(final.served_by)
        run.say(f"[yellow]production still does not give the corrected answer[/yellow] ({served})")
