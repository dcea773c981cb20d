"""Request and response bodies of the registry routes (Keel's own API: unknown request fields
are refused, so a typo never moves an alias somewhere else)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from keel_gateway.evaluation_schemas import Evaluation, PromotionGate

MAX_VERSION = 2**63 - 1
PRODUCTION = "production"  # the alias a bare model name is served from (the registry's default)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


# --- requests -------------------------------------------------------------------------------------
class SetAliasRequest(_Strict):
    version: int = Field(ge=1, le=MAX_VERSION, description="the version the alias points at from now on")
    reason: str | None = Field(None, max_length=2000, description="recorded in the alias history")


class RollbackAliasRequest(_Strict):
    reason: str | None = Field(None, max_length=2000, description="recorded in the alias history")


class PromoteRequest(_Strict):
    version: int = Field(ge=1, le=MAX_VERSION, description="the version to promote")
    alias: str = Field(PRODUCTION, min_length=1, max_length=128, description="the alias to move")
    reason: str | None = Field(None, max_length=2000, description="recorded in the alias history")
    gate: PromotionGate | None = Field(
        None,
        description="promote only if the version scores at least as well as what the alias serves "
        "now, on the same questions: the answer is 202 with the evaluation to poll",
    )


# --- responses ------------------------------------------------------------------------------------
class Lineage(_Out):
    training_job_id: str | None = Field(description="the fine-tuning job that trained it")
    dataset: str | None = Field(description="the dataset version it was trained on (ds_…@N)")
    dataset_id: str | None
    dataset_version: str | None
    source: str | None = Field(description="where it came from, e.g. keel-training, upload")
    parent_version: str | None = Field(description="the version it was derived from (name/N)")


class Artifact(_Out):
    sha256: str
    bytes: int


class RegistryVersion(_Out):
    object: Literal["registry.version"] = "registry.version"
    id: str = Field(description="name/N, usable as a chat completion's model")
    model: str
    version: int
    status: str = Field(description="pending, ready, failed or archived")
    status_details: str | None
    base_model: str
    aliases: list[str] = Field(description="the aliases pointing at this version")
    metrics: dict[str, float]
    params: dict[str, str]
    lineage: Lineage
    tags: list[str]
    description: str
    artifact: Artifact | None
    created_by: str
    created_at: int
    updated_at: int


class RegistryModel(_Out):
    object: Literal["registry.model"] = "registry.model"
    id: str
    name: str
    owned_by: str = Field(description="the tenant")
    description: str
    latest_version: int
    aliases: dict[str, int] = Field(description="alias → version")
    created_by: str
    created_at: int
    updated_at: int


class RegistryAlias(_Out):
    object: Literal["registry.alias"] = "registry.alias"
    model: str
    alias: str
    version: int
    updated_by: str
    updated_at: int


class DeletedAlias(_Out):
    object: Literal["registry.alias"] = "registry.alias"
    model: str
    alias: str
    deleted: Literal[True] = True
    previous_version: int


class AliasEvent(_Out):
    object: Literal["registry.alias_event"] = "registry.alias_event"
    id: str = Field(description="pass as `after` to read older events")
    model: str
    alias: str
    action: Literal["set", "delete", "rollback"]
    from_version: int | None = Field(description="null when the alias did not exist before")
    to_version: int | None = Field(description="null when the alias was deleted")
    actor: str
    reason: str
    created_at: int


class Promotion(_Out):
    object: Literal["registry.promotion"] = "registry.promotion"
    model: str
    alias: str
    version: int
    previous_version: int | None = Field(description="where the alias pointed before (null: nowhere)")
    moved: bool = Field(description="false when the alias already pointed at the version")
    reason: str
    updated_by: str
    updated_at: int
    evaluation: Evaluation | None = Field(
        None, description="a gated promotion's evaluation (poll GET /v1/evaluations/{id}); null: ungated"
    )


class Resolution(_Out):
    object: Literal["registry.resolution"] = "registry.resolution"
    ref: str
    resolved_via: Literal["alias", "version", "latest"]
    alias: str | None
    version: RegistryVersion


class _Page(_Out):
    object: Literal["list"] = "list"
    has_more: bool
    first_id: str | None
    last_id: str | None


class ModelPage(_Page):
    data: list[RegistryModel]


class VersionPage(_Page):
    data: list[RegistryVersion]


class AliasEventPage(_Page):
    data: list[AliasEvent]


class AliasList(_Out):
    object: Literal["list"] = "list"
    data: list[RegistryAlias]
