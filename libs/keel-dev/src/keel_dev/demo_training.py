"""Fine-tuning in the demo: a job with every hyperparameter left to the service ("auto"), followed
live under a progress bar (the CLI's own view of job events), then its registry version; and
promotion of that version to ``production`` through the evaluation gate."""

from __future__ import annotations

import time

from rich.markup import escape

from keel_client.cli.progress import JobView, final_line, follow_events
from keel_client.cli.render import console as cli_console
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_dev.demo_eval import gate
from keel_dev.demo_run import DemoRun, Job

PRODUCTION = "production"


def fine_tune(
    run: DemoRun, training_file: str, model: str = DEFAULT_BASE_MODEL, suffix: str = "corvane"
) -> Job:
    """Create the job with no hyperparameters and follow it to its end; raises when it fails."""
    t0 = time.monotonic()
    created = run.gw.create_job(model, training_file, suffix=suffix, metadata={"source": "keel-demo"})
    job = Job(created["id"], training_file, model)
    run.found.jobs.append(job)
    run.say(
        f"job [bold]{job.id}[/bold]: {escape(model)} on {training_file}, hyperparameters omitted "
        "(the service chooses them from the data)"
    )
    live = cli_console.is_terminal and not cli_console.is_dumb_terminal
    with JobView(job.id, live) as view:
        for ev in follow_events(run.gw, job.id):
            message = str(ev.get("message") or "")
            if message.startswith("hyperparameters chosen"):
                job.auto = message.partition(":")[2].strip()
            view.event(ev)
    final = run.gw.get_job(job.id)
    job.seconds = round(time.monotonic() - t0, 1)
    job.status = final["status"]
    job.fine_tuned_model = final.get("fine_tuned_model") or ""
    job.registry_version = (final.get("keel") or {}).get("registry_version") or ""
    job.trained_tokens = int(final.get("trained_tokens") or 0)
    text, ok = final_line(final)
    run.say(text)
    if not ok:
        raise RuntimeError(f"fine-tuning job {job.id} did not succeed ({job.status})")
    if job.trained_tokens and job.seconds:
        run.say(
            f"{job.trained_tokens:,} tokens trained; {job.seconds:.0f} s from request to registered version"
        )
    return job


def split_ref(ref: str) -> tuple[str, int]:
    name, _, number = ref.rpartition("/")
    return name, int(number)


def promote(run: DemoRun, job: Job, questions: str, label: str, current_label: str) -> bool:
    """Move ``production`` to the job's version through the evaluation gate (the candidate must
    score at least what production serves now on the questions of ``questions``); without the
    evaluation API, promote directly. Whether the alias moved."""
    name, version = split_ref(job.registry_version)
    run.found.model = name
    outcome = gate(run, name, version, questions, label, current_label)
    if outcome is None:  # no evaluation API on this gateway: an ungated promotion, said as such
        moved = run.gw.promote(name, version, reason=f"keel demo: {label} (no evaluation gate available)")
        message = (
            f"promoted {name}/{version} to {PRODUCTION} without a gate (was {moved.get('previous_version')})"
        )
        run.found.promotions.append(message)
        run.say(f"[yellow]{escape(message)}[/yellow]")
        return True
    passed, message = outcome
    run.found.promotions.append(message)
    colour = "green" if passed else "yellow"
    run.say(f"[{colour}]{escape(message)}[/{colour}]")
    return passed
