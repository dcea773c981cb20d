from __future__ import annotations

from pathlib import Path

import pytest

from keel_common import pii
from keel_gateway.guardrails.policy import Policy, PolicyError

POLICY = """
default:
  input:
    max_prompt_tokens: 4096
    pii: {action: redact}
    injection: {action: block, threshold: 0.72}
  output:
    banned_phrases: {phrases: ["internal use only"]}
tenants:
  acme:
    default:
      input: {pii: {action: block, actions: {email: flag}}}
    models:
      support-bot:
        input: {injection: {action: flag}}
        output: {banned_phrases: {phrases: ["competitor"]}, max_output_chars: 500}
  globex:
    default: {enabled: false}
"""


def load(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return Policy.load(path)


def test_builtin_default() -> None:
    policy = Policy.load(None)
    rails = policy.rails("anyone", "any-model")
    assert rails is policy.default
    assert rails.enabled
    assert rails.input.pii.action == "redact"
    assert rails.input.pii.types == list(pii.KINDS)
    assert rails.input.injection.action == "block"
    assert rails.input.denied_topics.topics == []
    assert rails.output.banned_phrases.phrases == []
    assert rails.output.max_output_chars == 0
    assert rails.output.holdback_chars > 0


def test_tenant_default_and_model_overrides_are_deep_merged(tmp_path: Path) -> None:
    policy = load(tmp_path, POLICY)

    base = policy.rails("initech", "support-bot")  # no tenant entry: the file's default
    assert base.input.pii.action == "redact"
    assert base.input.injection.threshold == 0.72
    assert base.output.banned_phrases.phrases == ["internal use only"]

    acme = policy.rails("acme", "other-model")  # tenant default over the file default
    assert acme.input.pii.action == "block"
    assert acme.input.pii.action_for("email") == "flag"
    assert acme.input.pii.action_for("phone") == "block"
    assert acme.input.max_prompt_tokens == 4096  # untouched siblings survive the merge
    assert acme.input.injection.threshold == 0.72
    assert acme.input.injection.action == "block"

    bot = policy.rails("acme", "support-bot")  # model over tenant default over file default
    assert bot.input.injection.action == "flag"
    assert bot.input.injection.threshold == 0.72
    assert bot.input.pii.action == "block"  # from the tenant default
    assert bot.output.banned_phrases.phrases == ["competitor"]  # lists are replaced, not merged
    assert bot.output.max_output_chars == 500

    assert not policy.rails("globex", "support-bot").enabled
    # Each combination is built once.
    assert policy.rails("acme", "support-bot") is bot
    assert policy.rails("acme", "another") is acme


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("default: {input: {injection: {threshold: 2}}}", "policy default.input.injection.threshold"),
        (
            "tenants: {acme: {models: {bot: {input: {denied_topics: {threshold: -0.1}}}}}}",
            "policy tenants.acme.models.bot.input.denied_topics.threshold",
        ),
        (
            "tenants: {acme: {default: {output: {pii: {action: shout}}}}}",
            "policy tenants.acme.default.output.pii.action",
        ),
        (
            "tenants: {acme: {default: {output: {pii: {colour: red}}}}}",
            "policy tenants.acme.default.output.pii.colour",
        ),
        ("default: {input: {pii: {types: [email, passport]}}}", "policy default.input.pii.types.1"),
        ("default: {input: {pii: {actions: {email: shout}}}}", "policy default.input.pii.actions.email"),
        (
            "default: {output: {banned_phrases: {phrases: ['  ']}}}",
            "policy default.output.banned_phrases.phrases",
        ),
        ("default: {output: {max_output_chars: -1}}", "policy default.output.max_output_chars"),
        (
            "default: {input: {denied_topics: {topics: [{name: x, examples: []}]}}}",
            "policy default.input.denied_topics",
        ),
        ("tenant: {}", "policy tenant"),
        ("tenants: {acme: {model: {}}}", "policy tenants.acme.model"),
    ],
)
def test_bad_values_name_their_path(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(PolicyError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(path)


def test_a_bad_model_override_fails_at_load_not_on_a_request(tmp_path: Path) -> None:
    text = "tenants: {acme: {models: {bot: {input: {injection: {action: redact}}}}}}"
    with pytest.raises(PolicyError, match=r"tenants\.acme\.models\.bot\.input\.injection\.action"):
        load(tmp_path, text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the guardrail policy"):
        Policy.load(tmp_path / "missing.yaml")
    with pytest.raises(PolicyError, match="cannot read the guardrail policy"):
        load(tmp_path, "default: [unclosed")


def test_empty_file_is_the_builtin_default(tmp_path: Path) -> None:
    assert load(tmp_path, "").rails("acme", "m") == Policy.load(None).default
