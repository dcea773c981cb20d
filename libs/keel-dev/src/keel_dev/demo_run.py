"""What every step of the demo shares: the console, the gateway client and the platform, each
step's wall time, and what the steps found (datasets, jobs, versions, scores, answers) for the
summary and the JSON line the demo ends with."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from keel_client.gateway import GatewayClient
from keel_dev.demo_handbook import Fact
from keel_dev.local import LocalPlatform


@dataclass
class Job:
    """A fine-tuning job the demo ran and the registry version it made."""

    id: str
    training_file: str
    starting_model: str
    status: str = ""
    fine_tuned_model: str = ""
    registry_version: str = ""  # name/N
    trained_tokens: int = 0
    seconds: float = 0.0
    auto: str = ""  # the hyperparameters the service chose, and why


@dataclass
class Answer:
    """One chat completion through the gateway, as the openai SDK returned it."""

    question: str
    text: str
    completion_id: str
    request_id: str
    served_by: str  # the x-keel-model header: the registry version (or base model) that answered
    guardrails: str = ""
    fact: Fact | None = None

    @property
    def right(self) -> bool:
        return self.fact is not None and self.fact.known_by(self.text)

    @property
    def complete(self) -> bool:
        """A full sentence, as the support team answers (not a bare "2011")."""
        return len(self.text.split()) >= 4 and self.text.rstrip().endswith((".", "!"))


@dataclass
class Found:
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # file name -> document
    datasets: dict[str, str] = field(default_factory=dict)  # role -> ds_…@N
    dataset_counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # role -> counts
    synthesis_s: float | None = None
    pages: dict[str, int] = field(default_factory=dict)  # a fact's key -> the page an example has it from
    jobs: list[Job] = field(default_factory=list)
    scores: dict[str, dict[str, float] | None] = field(default_factory=dict)  # base/tuned/retrained
    eval_answers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    eval_refs: dict[str, str] = field(default_factory=dict)  # label -> the model ref that answered
    evaluations: list[str] = field(default_factory=list)
    promotions: list[str] = field(default_factory=list)  # what each promotion said
    answers: list[Answer] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[Answer] = field(default_factory=list)  # thumbs-down, with the right answer
    corrected: Answer | None = None  # the correction the demo follows to the end
    final: Answer | None = None  # the same question after the retraining
    corrected_answer_served: bool = False
    model: str = ""  # the registry model the demo promotes (what clients chat with)


class DemoRun:
    """The steps' shared state; ``step()`` times one and prints its heading and its time."""

    def __init__(self, console: Console, root: Path) -> None:
        self.console = console
        self.root = root
        self.work = root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.timings: dict[str, float] = {}
        self.found = Found()
        self.platform: LocalPlatform | None = None
        self._gw: GatewayClient | None = None
        self._number = 0

    @property
    def gw(self) -> GatewayClient:
        assert self._gw is not None, "the platform is not started"
        return self._gw

    def connect(self, platform: LocalPlatform) -> None:
        self.platform = platform
        # Evaluations and builds are polled; chats and job events have their own timeouts.
        self._gw = GatewayClient(platform.gateway_url, platform.admin_key, timeout=120)

    def close(self) -> None:
        if self._gw is not None:
            self._gw.close()
            self._gw = None

    @contextlib.contextmanager
    def step(self, key: str, title: str) -> Iterator[None]:
        """A numbered heading, then the step, then its wall time (kept under ``key``)."""
        self._number += 1
        self.console.rule(f"[bold cyan]{self._number}. {escape(title)}", align="left")
        t0 = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - t0
            self.timings[key] = round(self.timings.get(key, 0.0) + took, 1)
            self.console.print(f"[dim]  ({key}: {took:.1f} s)[/dim]", highlight=False)

    def say(self, text: str) -> None:
        """A line of the story (rich markup)."""
        self.console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A plain line, printed as it is (no markup)."""
        self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.started
