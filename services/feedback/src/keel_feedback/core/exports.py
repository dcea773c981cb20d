"""The next training set from what users said: SFT chat examples, DPO preference pairs in
OpenAI's preference shape, or KTO rows, with PII scrubbed, one example per normalised prompt,
a train/validation split grouped by prompt, and the lineage of every row.

Which answer wins, per prompt:
- SFT: the latest correction (when corrections are used), else the best answer rated at least
  ``min_rating``;
- DPO: a correction beats the answer it corrects; else the best answer rated at least
  ``min_rating`` beats the worst one rated below it;
- KTO: a correction is desirable; a rated answer is desirable when rated at least ``min_rating``
  (at most one desirable and one undesirable row per prompt).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import exists, select

from keel_common import pii
from keel_common.errors import FailedPrecondition, InvalidArgument
from keel_common.sql import SqlCore, as_utc
from keel_feedback.core.filters import Filter, apply, joined
from keel_feedback.core.prompts import last_user, normalise
from keel_feedback.db import Feedback, Interaction

Kind = Literal["sft", "dpo", "kto"]
KINDS: tuple[Kind, ...] = ("sft", "dpo", "kto")
FORMAT = {"sft": "chat", "dpo": "preference", "kto": "kto"}  # ingestion's dataset formats
_CHUNK = 1000


@dataclass(frozen=True)
class Turns:
    """What an interaction's record holds for an export."""

    messages: list[tuple[str, str]]
    prompt: str  # a completions request's raw prompt (no messages)
    completion: str
    flagged: bool  # a guardrail flagged it for review


@dataclass(frozen=True)
class ExportSpec:
    kind: Kind
    filter: Filter
    min_rating: float = 0.5
    min_ratings: int = 1
    include_corrections: bool = True
    exclude_guardrail_hits: bool = True
    exclude_prompts: frozenset[str] = frozenset()  # normalised last user turns of an evaluation set
    validation_fraction: float = 0.1
    seed: int = 0
    max_examples: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise InvalidArgument(f"must be one of {', '.join(KINDS)}", field="kind")
        if not self.filter.tenant:
            raise InvalidArgument("an export is of one tenant's interactions", field="filter.tenant")
        if not 0.0 <= self.min_rating <= 1.0:
            raise InvalidArgument("is on the normalised 0..1 scale", field="min_rating")
        if self.min_ratings < 1:
            raise InvalidArgument("must be at least 1", field="min_ratings")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise InvalidArgument("must be in [0, 1)", field="validation_fraction")
        if self.max_examples < 0:
            raise InvalidArgument("must not be negative", field="max_examples")


@dataclass
class _Answer:
    request_id: str
    prompt_key: str
    messages: list[dict[str, str]]
    completion: str
    correction: str
    score: float | None  # mean normalised rating, None below min_ratings
    model_ref: str
    order: float  # created_at, for "latest"


@dataclass
class Export:
    files: dict[str, bytes]
    counts: dict[str, Any]
    lineage: dict[str, Any]
    examples: dict[str, int] = field(default_factory=dict)


def _scrub(text: str, counts: dict[str, Any]) -> str:
    spans = pii.find(text)
    if not spans:
        return text
    counts["pii_redacted"] += len(spans)
    return pii.redact(text, spans)


def _answers(
    core: SqlCore, spec: ExportSpec, turns: Callable[[bytes], Turns], counts: dict[str, Any]
) -> list[_Answer]:
    i = Interaction
    stmt = apply(
        select(
            i.request_id,
            i.record,
            i.prompt_key,
            i.model,
            i.model_version,
            i.base_model,
            i.blocked,
            i.created_at,
        ),
        spec.filter,
    ).where(i.stored.is_(True), i.status_code == 200, exists().where(joined()))
    out: list[_Answer] = []
    with core._read() as s:
        rows = list(s.execute(stmt.order_by(i.created_at, i.request_id)))
        counts["interactions"] = len(rows)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            fb: dict[str, list[Feedback]] = defaultdict(list)
            ids = [r.request_id for r in chunk]
            for f in s.scalars(
                select(Feedback)
                .where(Feedback.request_id.in_(ids), Feedback.tenant == spec.filter.tenant)
                .order_by(Feedback.created_at, Feedback.id)
            ):
                fb[f.request_id].append(f)
            for r in chunk:
                t = turns(r.record)
                if spec.exclude_guardrail_hits and (r.blocked or t.flagged):
                    counts["skipped"]["guardrail"] += 1
                    continue
                if spec.exclude_prompts and last_user(t.messages) in spec.exclude_prompts:
                    counts["skipped"]["in_evaluation_set"] += 1
                    continue
                scores = [f.normalized for f in fb[r.request_id] if f.normalized is not None]
                corrections = [f.correction for f in fb[r.request_id] if f.correction]
                score = sum(scores) / len(scores) if len(scores) >= spec.min_ratings else None
                correction = corrections[-1] if corrections and spec.include_corrections else ""
                if score is None and not correction:
                    counts["skipped"]["too_few_ratings"] += 1
                    continue
                msgs = [{"role": role, "content": _scrub(c, counts)} for role, c in t.messages]
                if not msgs:  # a completions request: its prompt as the user turn
                    msgs = [{"role": "user", "content": _scrub(t.prompt, counts)}]
                ref = f"{r.model}/{r.model_version}" if r.model else r.base_model
                out.append(
                    _Answer(
                        r.request_id,
                        r.prompt_key,
                        msgs,
                        _scrub(t.completion, counts),
                        _scrub(correction, counts),
                        score,
                        ref,
                        as_utc(r.created_at).timestamp(),
                    )
                )
    return out


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _pick(kind: Kind, group: Sequence[_Answer], min_rating: float) -> list[tuple[dict[str, Any], list[str]]]:
    """The rows one prompt gives, each with the interactions it came from."""
    latest = sorted(group, key=lambda a: a.order)
    corrected = [a for a in latest if a.correction]
    rated = [a for a in latest if a.score is not None and a.completion]
    good = sorted((a for a in rated if a.score >= min_rating), key=lambda a: (a.score, a.order))  # type: ignore[operator]
    bad = sorted((a for a in rated if a.score < min_rating), key=lambda a: (a.score, -a.order))  # type: ignore[operator]
    prompt = latest[-1].messages
    if kind == "sft":
        if corrected:
            a = corrected[-1]
            return [({"messages": a.messages + _assistant(a.correction)}, [a.request_id])]
        if good:
            return [
                ({"messages": good[-1].messages + _assistant(good[-1].completion)}, [good[-1].request_id])
            ]
        return []
    if kind == "dpo":
        for a in reversed(corrected):
            if a.completion and normalise(a.completion) != normalise(a.correction):
                return [
                    (
                        {
                            "input": {"messages": a.messages},
                            "preferred_output": _assistant(a.correction),
                            "non_preferred_output": _assistant(a.completion),
                        },
                        [a.request_id],
                    )
                ]
        if good and bad and normalise(good[-1].completion) != normalise(bad[0].completion):
            win, lose = good[-1], bad[0]
            return [
                (
                    {
                        "input": {"messages": win.messages},
                        "preferred_output": _assistant(win.completion),
                        "non_preferred_output": _assistant(lose.completion),
                    },
                    [win.request_id, lose.request_id],
                )
            ]
        return []
    rows: list[tuple[dict[str, Any], list[str]]] = []
    if corrected:
        a = corrected[-1]
        rows.append(
            ({"prompt": a.messages, "completion": _assistant(a.correction), "label": True}, [a.request_id])
        )
    elif good:
        a = good[-1]
        rows.append(
            ({"prompt": a.messages, "completion": _assistant(a.completion), "label": True}, [a.request_id])
        )
    if bad:
        a = bad[0]
        rows.append(
            ({"prompt": prompt, "completion": _assistant(a.completion), "label": False}, [a.request_id])
        )
    return rows


def _split(prompt_key: str, fraction: float, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{prompt_key}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    return "validation" if h < fraction else "train"


def export(core: SqlCore, spec: ExportSpec, turns: Callable[[bytes], Turns]) -> Export:
    spec.validate()
    counts: dict[str, Any] = {
        "interactions": 0,
        "pii_redacted": 0,
        "skipped": {
            "guardrail": 0,
            "in_evaluation_set": 0,
            "too_few_ratings": 0,
            "no_winner": 0,
            "duplicate_prompt": 0,
        },
    }
    groups: dict[str, list[_Answer]] = defaultdict(list)
    for a in _answers(core, spec, turns, counts):
        groups[a.prompt_key].append(a)
    # Newest prompts first, so max_examples keeps the freshest signal.
    ordered = sorted(groups.items(), key=lambda kv: -max(a.order for a in kv[1]))
    picked: list[tuple[str, dict[str, Any], list[str]]] = []
    for key, group in ordered:
        rows = _pick(spec.kind, group, spec.min_rating)
        used = {rid for _, ids in rows for rid in ids}
        counts["skipped"]["duplicate_prompt"] += (
            sum(1 for a in group if a.request_id not in used) if rows else 0
        )
        if not rows:
            counts["skipped"]["no_winner"] += len(group)
        picked.extend((key, row, ids) for row, ids in rows)
        if spec.max_examples and len(picked) >= spec.max_examples:
            picked = picked[: spec.max_examples]
            break
    if not picked:
        raise FailedPrecondition(
            f"no interaction qualifies for a {spec.kind} export: {json.dumps(counts, sort_keys=True)}",
            field="filter",
        )
    splits: dict[str, list[str]] = {"train": [], "validation": []}
    used_ids: dict[str, list[str]] = {"train": [], "validation": []}
    versions: set[str] = set()
    by_id = {a.request_id: a for g in groups.values() for a in g}
    keys = {key for key, _, _ in picked}
    only_one = len(keys) == 1
    for key, row, ids in picked:
        split = "train" if only_one else _split(key, spec.validation_fraction, spec.seed)
        splits[split].append(json.dumps(row, ensure_ascii=False))
        used_ids[split].extend(ids)
        versions.update(by_id[i].model_ref for i in ids)
    if not splits["train"]:  # every prompt hashed to validation: move one group back
        splits["train"], splits["validation"] = splits["validation"][:1], splits["validation"][1:]
        used_ids["train"], used_ids["validation"] = used_ids["validation"][:1], used_ids["validation"][1:]
    files = {f"{s}.jsonl": ("\n".join(lines) + "\n").encode() for s, lines in splits.items() if lines}
    examples = {s: len(lines) for s, lines in splits.items()}
    counts["examples"] = examples
    f = spec.filter
    lineage = {
        "source": "feedback",
        "kind": spec.kind,
        "filter": {
            "tenant": f.tenant,
            "model": f.model,
            "model_version": f.model_version,
            "base_model": f.base_model,
            "start": f.start.isoformat() if f.start else None,
            "end": f.end.isoformat() if f.end else None,
        },
        "min_rating": spec.min_rating,
        "min_ratings": spec.min_ratings,
        "include_corrections": spec.include_corrections,
        "exclude_guardrail_hits": spec.exclude_guardrail_hits,
        "excluded_evaluation_prompts": len(spec.exclude_prompts),
        "seed": spec.seed,
        "model_versions": sorted(versions),
        "interactions": used_ids,
        "counts": counts,
    }
    return Export(files, counts, lineage, examples)


def eval_prompts(rows: Iterable[Sequence[tuple[str, str]]]) -> frozenset[str]:
    """The normalised last user turns of an evaluation set's examples."""
    return frozenset(k for k in (last_user(r) for r in rows) if k)
