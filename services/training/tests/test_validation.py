"""The JSONL training-file validator: every faulty line named with its number, in one pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keel_common.errors import InvalidArgument
from keel_training.validation import parse_jsonl, validate_training_file

USER = {"role": "user", "content": "Hi"}
ANSWER = {"role": "assistant", "content": "Hello!"}
GOOD = {"messages": [USER, ANSWER]}


def lines(*rows: Any) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('{"messages": [', "is not valid JSON (Expecting value at column 15)"),
        ("not json at all", "is not valid JSON (Expecting value at column 1)"),
        ("[1, 2]", "is not a JSON object"),
        ('"a string"', "is not a JSON object"),
        ({"prompt": "x", "completion": "y"}, "has no 'messages' list"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": "Hi"}, "'messages' must be a non-empty list"),
        ({"messages": [USER, "Hello"]}, "messages[1] is not an object"),
        (
            {"messages": [{"role": "tool", "content": "x"}, ANSWER]},
            "messages[0].role 'tool' is not one of system, user, assistant",
        ),
        (
            {"messages": [{"content": "x"}, ANSWER]},
            "messages[0].role None is not one of system, user, assistant",
        ),
        ({"messages": [USER, {"role": "assistant"}]}, "messages[1] (assistant) has no content"),
        (
            {"messages": [USER, {"role": "assistant", "content": "  \n"}]},
            "messages[1] (assistant) has no content",
        ),
        ({"messages": [{"role": "user", "content": ""}, ANSWER]}, "messages[0] (user) has no content"),
        (
            {"messages": [USER, {"role": "assistant", "content": ["x"]}]},
            "messages[1] (assistant) has no content",
        ),
        (
            {"messages": [{"role": "system", "content": "Be brief"}, USER]},
            "has no assistant message to learn from",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": "x", "weight": 0}]},
            "has no assistant message to learn from",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": "x", "weight": 2}]},
            "messages[1].weight must be 0 or 1",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": "x", "weight": 0.5}]},
            "messages[1].weight must be 0 or 1",
        ),
        (
            {"messages": [USER, {"role": "assistant", "content": "x", "weight": "1"}]},
            "messages[1].weight must be 0 or 1",
        ),
    ],
)
def test_each_fault_is_named_with_its_line(row: Any, reason: str) -> None:
    parsed = parse_jsonl(lines(GOOD, row, GOOD))
    assert parsed.errors == [f"line 2: {reason}"]
    assert len(parsed.examples) == 2


def test_line_numbers_count_blank_lines_which_are_skipped() -> None:
    content = lines(GOOD, "", "   ", "oops", GOOD, "\t", {"messages": []}) + b"\n\n"
    parsed = parse_jsonl(content)
    assert parsed.errors == [
        "line 4: is not valid JSON (Expecting value at column 1)",
        "line 7: 'messages' must be a non-empty list",
    ]
    assert len(parsed.examples) == 2


def test_crlf_line_endings_are_accepted() -> None:
    parsed = parse_jsonl(lines(GOOD, GOOD).replace(b"\n", b"\r\n") + b"\r\n")
    assert parsed.errors == []
    assert len(parsed.examples) == 2


def test_not_utf8_is_one_error_naming_the_byte() -> None:
    content = lines(GOOD) + b"\n" + b'{"messages": "\xff"}'
    bad_at = content.index(b"\xff")
    parsed = parse_jsonl(content)
    assert parsed.examples == []
    assert parsed.errors == [f"the file is not UTF-8 text (byte {bad_at})"]
    with pytest.raises(InvalidArgument, match="not UTF-8") as err:
        validate_training_file(content, min_examples=1)
    assert err.value.field == "file"


def test_error_cap_ends_with_the_count_of_the_rest() -> None:
    rows = [GOOD] + ["bad"] * 7 + [GOOD]
    parsed = parse_jsonl(lines(*rows), max_errors=3)
    assert parsed.errors == [
        "line 2: is not valid JSON (Expecting value at column 1)",
        "line 3: is not valid JSON (Expecting value at column 1)",
        "line 4: is not valid JSON (Expecting value at column 1)",
        "… and 4 more faulty lines",
    ]
    assert len(parsed.examples) == 2
    # Exactly at the cap: no "more" line.
    assert len(parse_jsonl(lines(*["bad"] * 3), max_errors=3).errors) == 3


def test_valid_file_returns_normalised_examples() -> None:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief", "name": "sys", "weight": 0},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Draft", "weight": 0},
                {"role": "user", "content": "Again"},
                {"role": "assistant", "content": "Final"},
            ],
            "extra": "ignored",
        },
        GOOD,
    ]
    examples = validate_training_file(lines(*rows), min_examples=2)
    assert examples == [
        [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Draft", "weight": 0},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Final", "weight": 1},
        ],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "weight": 1}],
    ]


def test_fewer_than_min_examples_is_refused() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_training_file(lines(GOOD, "", GOOD), min_examples=3, field_name="validation_file")
    assert err.value.field == "validation_file"
    assert "the file has 2 example(s); at least 3 are required" in err.value.message
    assert len(validate_training_file(lines(GOOD, "", GOOD), min_examples=2)) == 2


def test_empty_file_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="has 0 example"):
        validate_training_file(b"", min_examples=1)


def test_refusal_lists_every_fault_in_one_message() -> None:
    content = lines(GOOD, "bad", {"messages": []}, GOOD)
    with pytest.raises(InvalidArgument) as err:
        validate_training_file(content, min_examples=1)
    assert err.value.field == "file"
    assert err.value.message == (
        "invalid training file: line 2: is not valid JSON (Expecting value at column 1); "
        "line 3: 'messages' must be a non-empty list"
    )


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_inside_strings_are_content(sep: str) -> None:
    row = {"messages": [{"role": "user", "content": f"one{sep}two"}, ANSWER]}
    content = (json.dumps(row, ensure_ascii=False) + "\nbad\n").encode()
    parsed = parse_jsonl(content)
    assert parsed.errors == ["line 2: is not valid JSON (Expecting value at column 1)"]
    assert parsed.examples[0][0]["content"] == f"one{sep}two"
