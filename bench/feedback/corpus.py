"""Realistic interaction records, as the gateway writes them to the stream, seeded.

A record is a ``keel.gateway.v1.Interaction`` built with ``keel_feedback.testing.interaction`` and
then filled the way the gateway fills one (``keel_gateway.records``): a system prompt, one to three
user turns with the assistant's earlier answers, sampling parameters, usage, time to first token,
metadata. Six tenants with one or two registry models each (versions 1 to 4) and a fifth of the
traffic on the base model alone; 5% not stored (``store: false``), 3% flagged (PII redacted), 1%
blocked, 4% with an e-mail address or a phone number in the question. Serialised, a record is
0.2 to 2.9 KB, 1.36 KB on average (median 1.2 KB)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from keel.common.v1 import common_pb2 as cpb
from keel.gateway.v1 import gateway_pb2 as gpb
from keel_common.contract import DEFAULT_BASE_MODEL
from keel_feedback.testing import interaction
from keel_gateway.completion_ids import CompletionIds

PEPPER = "bench-feedback-pepper-5e1d"
IDS = CompletionIds(PEPPER.encode())
TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
MODELS = {
    "acme": ("support-bot", "billing-bot"),
    "globex": ("support-bot",),
    "initech": ("tps-helper", "hr-bot"),
    "umbrella": ("lab-assistant",),
    "hooli": ("search-summariser", "support-bot"),
    "stark": ("workshop-bot",),
}
SYSTEM = (
    "You are {bot}, the assistant of {tenant}. Answer the customer's question precisely and politely. "
    "If you are not sure, say so and offer to hand the conversation to a human agent. Never reveal "
    "internal notes, prices that are not public, or other customers' data. Keep answers under 200 words "
    "unless the customer asks for detail."
)
ACTIONS = (
    "reset", "export", "cancel", "upgrade", "transfer", "rename", "restore", "share", "verify",
    "downgrade", "merge", "archive", "reactivate", "configure", "connect", "migrate",
)  # fmt: skip
OBJECTS = (
    "account", "invoice", "subscription", "password", "team workspace", "API key", "billing address",
    "order", "shipping label", "two-factor device", "data export", "support ticket", "webhook",
    "payment method", "user role", "project", "calendar", "mailbox", "backup", "license",
)  # fmt: skip
WHEN = (
    "after the trial ended", "from the mobile app", "without admin rights", "on the old plan",
    "when the page shows an error", "for a colleague who left", "before the end of the month",
    "if my card expired", "while travelling abroad", "with single sign-on enabled", "in bulk",
)  # fmt: skip
DETAIL = (
    "I tried it twice already and the button stays grey.",
    "The help centre article seems to describe an older version of the screen.",
    "Our finance team needs this done before Friday.",
    "Last time support told me to wait 24 hours, which I did.",
    "It worked last week, so something must have changed.",
    "I would rather not lose the history we have built up.",
    "We have about forty people on the account.",
    "My manager asked me to double-check the steps with you first.",
)
STEPS = (
    "Open Settings and choose {obj}.",
    "Select the {obj} you want to {act} and click the menu with three dots.",
    "Choose '{Act}' and confirm in the dialog that appears.",
    "You will get an e-mail within a few minutes once the change is applied.",
    "If the option is greyed out, your role does not allow it; ask an administrator.",
    "On the mobile app the same option is under Profile, then Manage.",
    "Changes to a {obj} take effect at the start of the next billing period.",
    "You can undo this within 30 days from the Activity page.",
    "For more than 50 items, use the bulk tool under Settings, Advanced.",
    "Nothing is deleted: the previous {obj} stays visible in the audit log.",
)
PII = ("You can reach me at {name}@example.org.", "Call me back on +1 415 555 01{n:02d}.")
NAMES = ("sam", "alex.morgan", "j.doe", "priya", "li.wei", "maria.g", "tom.h", "fatima")


def question(rng: random.Random) -> str:
    act, obj = rng.choice(ACTIONS), rng.choice(OBJECTS)
    q = f"How do I {act} my {obj} {rng.choice(WHEN)}?"
    return " ".join([q, *rng.sample(DETAIL, rng.randint(0, 3))])


def answer(rng: random.Random, q: str) -> str:
    words = q.split()
    act, obj = words[3], words[5]
    steps = rng.sample(STEPS, rng.randint(2, 7))
    body = " ".join(s.format(obj=obj, act=act, Act=act.capitalize()) for s in steps)
    return f"Here is how to {act} your {obj}. {body} Is there anything else I can help with?"


def conversation(rng: random.Random, tenant: str, q: str, model: str = "") -> list[dict[str, str]]:
    """The messages of a chat request: the system prompt, sometimes earlier turns, then ``q``."""
    turns = [{"role": "system", "content": SYSTEM.format(bot=model or "Assistant", tenant=tenant)}]
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        earlier = question(rng)
        turns.append({"role": "user", "content": earlier})
        turns.append({"role": "assistant", "content": answer(rng, earlier)})
    return [*turns, {"role": "user", "content": q}]


def record(
    rng: random.Random,
    tenant: str,
    q: str | None = None,
    a: str | None = None,
    *,
    created_at: datetime | None = None,
    clean: bool = False,
) -> gpb.Interaction:
    """One finished chat completion of ``tenant``; ``clean``: stored, 200, no guardrail hit."""
    q = q or question(rng)
    a = a or answer(rng, q)
    on_base = rng.random() < 0.2
    model = "" if on_base else rng.choice(MODELS.get(tenant, ("support-bot", "sales-bot")))
    roll = rng.random()
    blocked = not clean and roll < 0.01
    flagged = not clean and 0.01 <= roll < 0.04
    stored = clean or rng.random() >= 0.05
    if not clean and rng.random() < 0.04:
        q = f"{q} {rng.choice(PII).format(name=rng.choice(NAMES), n=rng.randint(0, 99))}"
    created = created_at or datetime.now(UTC) - timedelta(seconds=rng.uniform(0, 7 * 86400))
    i = interaction(
        IDS.new("chatcmpl", tenant),
        tenant,
        question=q,
        answer=a,
        model=model,
        model_version=rng.randint(1, 4),
        base_model=DEFAULT_BASE_MODEL,
        blocked=blocked,
        flagged=flagged,
        latency_ms=rng.uniform(80, 2500),
        created_at=created,
        stored=stored,
    )
    i.key_id = f"key_{tenant}_{rng.randint(1, 3)}"
    if not model:
        i.requested_model = DEFAULT_BASE_MODEL
    if stored:
        del i.messages[:]
        i.messages.extend(cpb.ChatMessage(**m) for m in conversation(rng, tenant, q, model))
        session = f"s-{rng.randrange(1 << 32):08x}"
        i.metadata.update({"session": session, "channel": rng.choice(("web", "app"))})
    prompt_tokens = sum(len(m.content) for m in i.messages) // 4 + 8
    completion_tokens = len(a) // 4
    i.usage.CopyFrom(
        cpb.Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
    )
    i.sampling.CopyFrom(cpb.SamplingParams(max_tokens=512, temperature=0.7, top_p=0.95))
    i.finish_reason = cpb.FINISH_REASON_STOP
    i.ttft_ms = rng.uniform(20, 300)
    return i


def stream_records(n: int, seed: int = 0) -> Iterator[gpb.Interaction]:
    """``n`` records of all tenants (traffic skewed towards the first ones)."""
    rng = random.Random(seed)
    weights = [6, 4, 3, 2, 2, 1]
    for _ in range(n):
        yield record(rng, rng.choices(TENANTS, weights)[0])
