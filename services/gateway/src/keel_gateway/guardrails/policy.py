"""The guardrail policy: a YAML file with a ``default`` rail set and per-tenant, per-model
overrides, deep-merged in that order (default → tenant default → tenant model).

```yaml
default:
  input:
    max_prompt_tokens: 4096
    pii: {action: redact}
    injection: {action: block, threshold: 0.72}
    denied_topics:
      action: block
      topics: [{name: medical_advice, examples: ["what dose of ibuprofen should I take"]}]
  output:
    pii: {action: redact}
    banned_phrases: {action: block, phrases: ["internal use only"]}
    max_output_chars: 0
tenants:
  acme:
    default: {input: {pii: {action: block}}}
    models:
      support-bot: {output: {banned_phrases: {phrases: ["competitor"]}}}
```
Every combination is validated when the file is loaded, so a bad policy fails at start-up
with the path of the bad field, never on a request."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from keel_common import pii

Action = Literal["block", "redact", "flag"]
PiiKind = Literal["email", "phone", "credit_card", "iban", "national_id", "ip_address", "secret"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiRail(_Strict):
    enabled: bool = True
    action: Action = "redact"
    types: list[PiiKind] = Field(default_factory=lambda: list(pii.KINDS))  # type: ignore[arg-type]
    # Per-type action, e.g. {secret: block} while the rest is redacted.
    actions: dict[PiiKind, Action] = Field(default_factory=dict)

    def action_for(self, kind: str) -> Action:
        return self.actions.get(kind, self.action)  # type: ignore[call-overload, no-any-return]


class InjectionRail(_Strict):
    enabled: bool = True
    action: Literal["block", "flag"] = "block"
    heuristics: bool = True
    heuristic_threshold: float = Field(0.7, ge=0, le=1)
    semantic: bool = True
    threshold: float = Field(0.55, ge=0, le=1, description="cosine similarity to the nearest exemplar")
    exemplars: list[str] | None = Field(None, description="replaces the built-in attack exemplars")


class Topic(_Strict):
    name: str = Field(min_length=1, max_length=64)
    examples: list[str] = Field(min_length=1)


class TopicsRail(_Strict):
    enabled: bool = True
    action: Literal["block", "flag"] = "block"
    threshold: float = Field(0.6, ge=0, le=1)
    topics: list[Topic] = Field(default_factory=list)


class BannedPhrases(_Strict):
    enabled: bool = True
    action: Literal["block", "flag"] = "block"
    phrases: list[str] = Field(default_factory=list)

    @field_validator("phrases")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        if any(not p.strip() for p in v):
            raise ValueError("phrases must not be empty")
        return v


class InputRails(_Strict):
    max_prompt_tokens: int = Field(0, ge=0, description="0 = the model's context length")
    pii: PiiRail = PiiRail()
    injection: InjectionRail = InjectionRail()
    denied_topics: TopicsRail = TopicsRail()


class OutputRails(_Strict):
    pii: PiiRail = PiiRail()
    banned_phrases: BannedPhrases = BannedPhrases()
    max_output_chars: int = Field(0, ge=0, description="0 = no limit")
    max_tokens: int = Field(0, ge=0, description="caps the max_tokens a client may ask for; 0 = no cap")
    # Streaming keeps this many characters unsent so a match can be seen whole before any of it
    # reaches the client; it must be longer than the longest phrase or secret it should catch.
    holdback_chars: int = Field(64, ge=0, le=4096)


class RailSet(_Strict):
    enabled: bool = True
    # Whether interactions are stored when a request does not say (OpenAI's `store` flag); a
    # tenant can default it off: `tenants: {acme: {default: {store: false}}}`.
    store: bool = True
    input: InputRails = InputRails()
    output: OutputRails = OutputRails()


class TenantPolicy(_Strict):
    default: dict[str, Any] = Field(default_factory=dict)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)


class PolicyFile(_Strict):
    default: dict[str, Any] = Field(default_factory=dict)
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict)


class PolicyError(ValueError):
    pass


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _build(raw: dict[str, Any], where: str) -> RailSet:
    try:
        return RailSet.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise PolicyError(f"policy {where}.{loc}: {first['msg']}") from None


class Policy:
    def __init__(self, doc: PolicyFile) -> None:
        self.doc = doc
        self._cache: dict[tuple[str, str], RailSet] = {}
        # Validate every combination now.
        self.default = _build(doc.default, "default")
        for tenant, tp in doc.tenants.items():
            self._rails(tenant, "", f"tenants.{tenant}.default")
            for model in tp.models:
                self._rails(tenant, model, f"tenants.{tenant}.models.{model}")

    @classmethod
    def load(cls, path: Path | None) -> Policy:
        if path is None:
            return cls(PolicyFile())
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read the guardrail policy {path}: {exc}") from None
        try:
            return cls(PolicyFile.model_validate(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise PolicyError(f"policy {loc}: {first['msg']}") from None

    def _rails(self, tenant: str, model: str, where: str) -> RailSet:
        raw = self.doc.default
        tp = self.doc.tenants.get(tenant)
        if tp is not None:
            raw = _merge(raw, tp.default)
            if model in tp.models:
                raw = _merge(raw, tp.models[model])
        rails = _build(raw, where)
        self._cache[(tenant, model)] = rails
        return rails

    def rails(self, tenant: str, model: str) -> RailSet:
        """The rail set for a tenant and model (the registry model name, or the base model)."""
        tp = self.doc.tenants.get(tenant)
        key = (tenant, model if tp is not None and model in tp.models else "")
        if tp is None:
            return self.default
        hit = self._cache.get(key)
        return hit if hit is not None else self._rails(key[0], key[1], f"tenants.{tenant}")
