"""Training-file checks in the style of OpenAI's fine-tuning validator.

A file is JSONL in one of two shapes, one example per line:

- ``chat`` (SFT): ``{"messages": [{"role": ..., "content": ...}, ...]}``;
- ``preference`` (DPO), OpenAI's preference fine-tuning shape: ``{"input": {"messages": [...]},
  "preferred_output": [assistant message], "non_preferred_output": [assistant message]}``.

Every line is checked and every fault is reported with its line number, so a trainer fixes
the file in one pass instead of one error per upload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from keel_common.errors import InvalidArgument

ROLES = ("system", "user", "assistant")
CHAT = "chat"
PREFERENCE = "preference"
KTO_REFUSAL = "KTO training is not supported yet; export DPO pairs instead"

Message = dict[str, Any]


@dataclass(frozen=True)
class PreferencePair:
    """One DPO example: TRL's prompt (``input.messages``), chosen (``preferred_output``) and
    rejected (``non_preferred_output``); ``line`` is where it stood in its file."""

    prompt: list[Message]
    chosen: str
    rejected: str
    line: int = 0


@dataclass
class ParsedFile:
    examples: list[Any]  # list[list[Message]] for chat files, list[PreferencePair] for preference
    errors: list[str] = field(default_factory=list)
    kind: str = CHAT


def _check_messages(messages: Any, where: str) -> tuple[list[Message] | None, str | None]:
    if not isinstance(messages, list) or not messages:
        return None, f"'{where}' must be a non-empty list"
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return None, f"{where}[{i}] is not an object"
        role = msg.get("role")
        if role not in ROLES:
            return None, f"{where}[{i}].role {role!r} is not one of {', '.join(ROLES)}"
        content = msg.get("content")
        if not isinstance(content, str) or not content.strip():
            return None, f"{where}[{i}] ({role}) has no content"
        weight = {"weight": msg["weight"]} if "weight" in msg else {}
        out.append({"role": role, "content": content, **weight})
    return out, None


def _check_example(obj: dict[str, Any]) -> tuple[list[Message] | None, str | None]:
    messages = obj.get("messages")
    if messages is None:
        return None, "has no 'messages' list"
    checked, reason = _check_messages(messages, "messages")
    if checked is None:
        return None, reason
    has_assistant = False
    out: list[Message] = []
    for i, msg in enumerate(checked):
        weight = msg.pop("weight", 1)
        if msg["role"] == "assistant":
            if weight not in (0, 1):
                return None, f"messages[{i}].weight must be 0 or 1"
            has_assistant = has_assistant or weight == 1
            msg["weight"] = weight
        out.append(msg)
    if not has_assistant:
        return None, "has no assistant message to learn from"
    return out, None


def _answer(obj: dict[str, Any], key: str) -> tuple[str | None, str | None]:
    output = obj.get(key)
    if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict):
        return None, f"'{key}' must be a list of exactly one assistant message"
    if output[0].get("role") != "assistant":
        return None, f"{key}[0].role must be 'assistant', got {output[0].get('role')!r}"
    content = output[0].get("content")
    if not isinstance(content, str) or not content.strip():
        return None, f"{key}[0] (assistant) has no content"
    return content, None


def _check_pair(obj: dict[str, Any], line: int) -> tuple[PreferencePair | None, str | None]:
    given = obj.get("input")
    if not isinstance(given, dict):
        return None, "has no 'input' object"
    prompt, reason = _check_messages(given.get("messages"), "input.messages")
    if prompt is None:
        return None, reason
    if prompt[-1]["role"] != "user":
        return None, "input.messages must end with a user turn"
    for msg in prompt:  # a prompt is context only: weights mean nothing here
        msg.pop("weight", None)
    chosen, reason = _answer(obj, "preferred_output")
    if chosen is None:
        return None, reason
    rejected, reason = _answer(obj, "non_preferred_output")
    if rejected is None:
        return None, reason
    if chosen == rejected:
        return None, "preferred_output and non_preferred_output are the same answer"
    return PreferencePair(prompt, chosen, rejected, line), None


def _shape(obj: Any) -> str:
    """The format a JSON object looks like it was written in ("" when none)."""
    if not isinstance(obj, dict):
        return ""
    if "messages" in obj:
        return CHAT
    if {"input", "preferred_output", "non_preferred_output"} & obj.keys():
        return PREFERENCE
    if {"prompt", "completion", "label"} <= obj.keys():
        return "kto"
    return ""


def _check_line(obj: Any, kind: str, line: int) -> tuple[Any, str | None]:
    if not isinstance(obj, dict):
        return None, "is not a JSON object"
    shape = _shape(obj)
    if shape == "kto":
        return None, f"is a KTO example: {KTO_REFUSAL}"
    if kind == PREFERENCE:
        if shape == CHAT:
            return None, (
                "is a chat example, not a preference pair "
                "(DPO needs 'input', 'preferred_output' and 'non_preferred_output')"
            )
        return _check_pair(obj, line)
    if shape == PREFERENCE:
        return None, "is a preference pair, not a chat example (preference pairs train with method dpo)"
    return _check_example(obj)


def _lines(text: str) -> list[tuple[int, str]]:
    # Only "\n" ends a line: JSON strings may hold U+2028, U+0085 and the like raw.
    lines = enumerate((raw.removesuffix("\r") for raw in text.split("\n")), start=1)
    return [(n, line) for n, line in lines if line.strip()]


def _detect(lines: list[tuple[int, str]]) -> str:
    """The file's format: that of its first line in a known shape (chat when none is)."""
    for _, line in lines:
        try:
            shape = _shape(json.loads(line))
        except json.JSONDecodeError:
            continue
        if shape in (CHAT, PREFERENCE):
            return shape
    return CHAT


def parse_jsonl(content: bytes, *, max_errors: int = 20, kind: str | None = None) -> ParsedFile:
    """Every valid example and up to ``max_errors`` faults, each ``line N: …``. ``kind`` is the
    format the file must hold; None takes it from the file (an upload may hold either)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedFile([], [f"the file is not UTF-8 text (byte {exc.start})"], kind or CHAT)
    lines = _lines(text)
    parsed = ParsedFile([], kind=kind or _detect(lines))
    faults = 0
    for number, line in lines:
        example: Any = None
        reason: str | None
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"is not valid JSON ({exc.msg} at column {exc.colno})"
        else:
            example, reason = _check_line(obj, parsed.kind, number)
        if reason is not None:
            faults += 1
            if faults <= max_errors:
                parsed.errors.append(f"line {number}: {reason}")
        elif example is not None:
            parsed.examples.append(example)
    if faults > max_errors:
        parsed.errors.append(f"… and {faults - max_errors} more faulty lines")
    return parsed


def validate_training_file(
    content: bytes,
    *,
    min_examples: int,
    max_errors: int = 20,
    field_name: str = "file",
    kind: str | None = None,
) -> list[Any]:
    """The examples of a valid file (chat message lists, or ``PreferencePair``s when the file
    holds preference data); else one InvalidArgument that lists every fault."""
    parsed = parse_jsonl(content, max_errors=max_errors, kind=kind)
    errors = list(parsed.errors)
    if not errors and len(parsed.examples) < min_examples:
        errors.append(f"the file has {len(parsed.examples)} example(s); at least {min_examples} are required")
    if errors:
        raise InvalidArgument("invalid training file: " + "; ".join(errors), field=field_name)
    return parsed.examples
