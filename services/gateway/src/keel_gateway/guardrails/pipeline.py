"""Running the rails: input checks before inference, an output filter on the answer.

The output filter is the same for streaming and non-streaming answers: text is fed as it
arrives and only what is safe leaves it. It holds back ``holdback_chars`` at the end (and any
PII match that reaches into that window) so a banned phrase or a secret is seen whole before
any of it is sent; a blocked answer stops at the last safe character."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from keel_common import pii
from keel_gateway.guardrails import exemplars, heuristics
from keel_gateway.guardrails.policy import Policy, RailSet
from keel_gateway.guardrails.semantic import Embedder, Matcher, chunks


@dataclass(frozen=True)
class Verdict:
    rail: str
    stage: str  # input | output
    action: str  # allow | flag | redact | block
    reason: str = ""
    score: float = 0.0
    latency_ms: float = 0.0

    def header(self) -> str:
        return f"{self.stage}:{self.rail}:{self.action}" + (f":{self.reason}" if self.reason else "")

    def public(self) -> dict[str, object]:
        return {
            "rail": self.rail,
            "stage": self.stage,
            "action": self.action,
            "reason": self.reason,
            "score": round(self.score, 4),
        }


@dataclass
class InputOutcome:
    contents: list[str]
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def blocked(self) -> Verdict | None:
        return next((v for v in self.verdicts if v.action == "block"), None)


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class Rails:
    """One tenant/model's compiled rails."""

    def __init__(self, rails: RailSet, embedder: Embedder | None, default_injection: Matcher | None) -> None:
        self.set = rails
        self.embedder = embedder
        inj = rails.input.injection
        self.injection: Matcher | None = None
        if embedder is not None and inj.enabled and inj.semantic:
            self.injection = (
                default_injection
                if inj.exemplars is None
                else Matcher(embedder, inj.exemplars, exemplars.BENIGN)
            )
        self.topics: list[tuple[str, Matcher]] = []
        if embedder is not None and rails.input.denied_topics.enabled:
            self.topics = [(t.name, Matcher(embedder, t.examples)) for t in rails.input.denied_topics.topics]
        phrases = rails.output.banned_phrases.phrases if rails.output.banned_phrases.enabled else []
        self.banned: re.Pattern[str] | None = None
        if phrases:
            alt = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
            self.banned = re.compile(rf"(?i)(?<!\w)(?:{alt})(?!\w)")
        self.longest_phrase = max((len(p) for p in phrases), default=0)

    @property
    def semantic(self) -> bool:
        return self.injection is not None or bool(self.topics)

    async def check_input(self, roles: list[str], contents: list[str]) -> InputOutcome:
        out = InputOutcome(list(contents))
        if not self.set.enabled:
            return out
        rails = self.set.input
        if rails.pii.enabled:
            start = time.perf_counter()
            found: dict[str, str] = {}  # kind -> strongest action seen
            for i, text in enumerate(out.contents):
                spans = pii.find(text, rails.pii.types)
                if not spans:
                    continue
                redact = [s for s in spans if rails.pii.action_for(s.kind) == "redact"]
                for s in spans:
                    act = rails.pii.action_for(s.kind)
                    if found.get(s.kind) != "block":
                        found[s.kind] = act
                if redact:
                    out.contents[i] = pii.redact(text, redact)
            for kind, action in found.items():
                out.verdicts.append(Verdict("pii", "input", action, kind, 1.0, _ms(start)))
        user = [c for r, c in zip(roles, out.contents, strict=True) if r == "user"]
        if not user:
            return out
        inj = rails.injection
        h_score, h_reason = 0.0, ""
        if inj.enabled and inj.heuristics:
            start = time.perf_counter()
            for text in user:
                score, reason = heuristics.scan(text)
                if score > h_score:
                    h_score, h_reason = score, reason
            if h_score >= inj.heuristic_threshold:
                out.verdicts.append(
                    Verdict("prompt_injection", "input", inj.action, h_reason, h_score, _ms(start))
                )
                return (
                    out if inj.action == "block" else await self._semantic(user[-1], out, skip_injection=True)
                )
        return await self._semantic(user[-1], out, skip_injection=False)

    async def _semantic(self, text: str, out: InputOutcome, skip_injection: bool) -> InputOutcome:
        if self.embedder is None or not self.semantic or not text.strip():
            return out
        start = time.perf_counter()
        vecs = await self.embedder.encode(chunks(text))
        rails = self.set.input
        if self.injection is not None and not skip_injection:
            score, _ = self.injection.best(vecs)
            if score >= rails.injection.threshold:
                out.verdicts.append(
                    Verdict(
                        "prompt_injection", "input", rails.injection.action, "semantic", score, _ms(start)
                    )
                )
        for name, matcher in self.topics:
            score, _ = matcher.best(vecs)
            if score >= rails.denied_topics.threshold:
                out.verdicts.append(
                    Verdict("denied_topic", "input", rails.denied_topics.action, name, score, _ms(start))
                )
                break
        return out

    def output_filter(self) -> OutputFilter:
        return OutputFilter(self)


class OutputFilter:
    def __init__(self, rails: Rails) -> None:
        self.rails = rails
        out = rails.set.output
        self.enabled = rails.set.enabled
        self.pii = out.pii if out.pii.enabled else None
        self.holdback = max(out.holdback_chars, rails.longest_phrase)
        self.max_chars = out.max_output_chars
        self.raw = ""
        self.sent = 0  # chars of raw already released
        self.delivered = 0  # chars released after redaction
        self.verdicts: list[Verdict] = []
        self._flagged: set[tuple[str, str]] = set()
        self.blocked: Verdict | None = None

    def _note(self, v: Verdict) -> None:
        if (v.rail, v.reason) not in self._flagged:
            self._flagged.add((v.rail, v.reason))
            self.verdicts.append(v)

    def feed(self, delta: str) -> str:
        """Text that may be sent now (possibly empty)."""
        self.raw += delta
        return self._drain(final=False)

    def finish(self) -> str:
        """Everything still held back, once the answer is complete."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        if self.blocked is not None:
            return ""
        if not self.enabled:
            chunk, self.sent = self.raw[self.sent :], len(self.raw)
            return chunk
        start = time.perf_counter()
        raw = self.raw
        end = len(raw) if final else max(self.sent, len(raw) - self.holdback)
        stop_at: int | None = None
        banned = self.rails.banned
        if banned is not None:
            m = banned.search(raw, max(0, self.sent - self.rails.longest_phrase))
            if m is not None and m.end() == len(raw) and not final:
                m = None  # the next delta may continue the word ("only" + "ness"): not a match yet
            if m is not None:
                action = self.rails.set.output.banned_phrases.action
                v = Verdict("banned_phrase", "output", action, "phrase", 1.0, _ms(start))
                if action == "block":
                    stop_at = m.start()
                    self.blocked = v
                    self.verdicts.append(v)
                else:
                    self._note(v)
        if stop_at is not None:
            # Nothing follows a block, so everything before the phrase goes out now (PII in it
            # redacted as at the end of an answer), not only what lies outside the holdback window;
            # otherwise the text held back just before the phrase would never be delivered.
            end = max(stop_at, self.sent)
            final = True
        spans: list[pii.Span] = []
        if self.pii is not None:
            for sp in pii.find(raw[self.sent :], self.pii.types):
                s, e = sp.start + self.sent, sp.end + self.sent
                if s >= end:
                    break
                if e > end and not final:
                    end = s  # wait until the whole match is visible
                    break
                act = self.pii.action_for(sp.kind)
                if act == "block":
                    self.blocked = Verdict("pii", "output", "block", sp.kind, 1.0, _ms(start))
                    self.verdicts.append(self.blocked)
                    end = s
                    break
                self._note(Verdict("pii", "output", act, sp.kind, 1.0, _ms(start)))
                if act == "redact":
                    spans.append(pii.Span(sp.kind, s - self.sent, min(e, end) - self.sent))
        chunk = pii.redact(raw[self.sent : end], spans)
        self.sent = end
        if self.max_chars and self.delivered + len(chunk) > self.max_chars:
            chunk = chunk[: self.max_chars - self.delivered]
            if self.blocked is None:
                self.blocked = Verdict("max_output_chars", "output", "block", "length", 1.0, _ms(start))
                self.verdicts.append(self.blocked)
        self.delivered += len(chunk)
        return chunk


class Guard:
    """Policy + shared embedder; hands out compiled rails per tenant and model."""

    def __init__(self, policy: Policy, embedder: Embedder | None) -> None:
        self.policy = policy
        self.embedder = embedder
        self.default_injection = (
            Matcher(embedder, exemplars.INJECTION, exemplars.BENIGN) if embedder is not None else None
        )
        self._compiled: dict[int, Rails] = {}

    def rails(self, tenant: str, model: str) -> Rails:
        rs = self.policy.rails(tenant, model)
        hit = self._compiled.get(id(rs))
        if hit is None:
            hit = self._compiled[id(rs)] = Rails(rs, self.embedder, self.default_injection)
        return hit
