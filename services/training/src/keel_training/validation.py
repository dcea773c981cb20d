"""Training-file checks in the style of OpenAI's fine-tuning validator.

A file is JSONL, one chat example per line: ``{"messages": [{"role": ..., "content": ...}]}``.
Every line is checked and every fault is reported with its line number, so a trainer fixes
the file in one pass instead of one error per upload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from keel_common.errors import InvalidArgument

ROLES = ("system", "user", "assistant")

Message = dict[str, Any]


@dataclass
class ParsedFile:
    examples: list[list[Message]]
    errors: list[str] = field(default_factory=list)


def _check_example(obj: Any) -> tuple[list[Message] | None, str | None]:
    if not isinstance(obj, dict):
        return None, "is not a JSON object"
    messages = obj.get("messages")
    if messages is None:
        return None, "has no 'messages' list"
    if not isinstance(messages, list) or not messages:
        return None, "'messages' must be a non-empty list"
    has_assistant = False
    out: list[Message] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            return None, f"messages[{i}] is not an object"
        role = msg.get("role")
        if role not in ROLES:
            return None, f"messages[{i}].role {role!r} is not one of {', '.join(ROLES)}"
        content = msg.get("content")
        if not isinstance(content, str) or not content.strip():
            return None, f"messages[{i}] ({role}) has no content"
        weight = msg.get("weight", 1)
        if role == "assistant":
            if weight not in (0, 1):
                return None, f"messages[{i}].weight must be 0 or 1"
            has_assistant = has_assistant or weight == 1
        out.append(
            {"role": role, "content": content, "weight": weight}
            if role == "assistant"
            else {"role": role, "content": content}
        )
    if not has_assistant:
        return None, "has no assistant message to learn from"
    return out, None


def parse_jsonl(content: bytes, *, max_errors: int = 20) -> ParsedFile:
    """Every valid example and up to ``max_errors`` faults, each ``line N: …``."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return ParsedFile([], [f"the file is not UTF-8 text (byte {exc.start})"])
    parsed = ParsedFile([])
    faults = 0
    # Only "\n" ends a line: JSON strings may hold U+2028, U+0085 and the like raw.
    for number, line in enumerate((raw.removesuffix("\r") for raw in text.split("\n")), start=1):
        if not line.strip():
            continue
        example: list[Message] | None = None
        reason: str | None
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"is not valid JSON ({exc.msg} at column {exc.colno})"
        else:
            example, reason = _check_example(obj)
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
    content: bytes, *, min_examples: int, max_errors: int = 20, field_name: str = "file"
) -> list[list[Message]]:
    """The examples of a valid file; else one InvalidArgument that lists every fault."""
    parsed = parse_jsonl(content, max_errors=max_errors)
    errors = list(parsed.errors)
    if not errors and len(parsed.examples) < min_examples:
        errors.append(f"the file has {len(parsed.examples)} example(s); at least {min_examples} are required")
    if errors:
        raise InvalidArgument("invalid training file: " + "; ".join(errors), field=field_name)
    return parsed.examples
