from __future__ import annotations

import pytest

from keel_common.errors import InvalidArgument
from keel_registry.refs import Ref, check_alias, check_model_name, check_tag, parse_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("support-bot", Ref("support-bot")),
        ("support-bot@production", Ref("support-bot", alias="production")),
        ("support-bot/12", Ref("support-bot", version=12)),
        ("  m.v2_x@canary-1 ", Ref("m.v2_x", alias="canary-1")),
    ],
)
def test_parse_ref(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected
    assert str(parse_ref(str(expected))) == str(expected)


@pytest.mark.parametrize(
    "bad", ["", "Bad", "m/", "m/0", "m/x", "m@", "m@Prod", "m@1st", "-m", "m-", "a b", "m/1/2"]
)
def test_bad_refs_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_ref(bad, field="model")
    assert info.value.field == "model"


def test_name_alias_tag_rules() -> None:
    assert check_model_name("a") == "a" and check_model_name("a" * 128)
    with pytest.raises(InvalidArgument):
        check_model_name("a" * 129)
    assert check_alias("production") == "production"
    for bad in ("42", "Prod", "x" * 64, "a.b"):
        with pytest.raises(InvalidArgument):
            check_alias(bad)
    assert check_tag("team=search") and check_tag("v1.2")
    with pytest.raises(InvalidArgument):
        check_tag("has space")
