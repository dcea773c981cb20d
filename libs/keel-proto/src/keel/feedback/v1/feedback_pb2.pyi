import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from keel.gateway.v1 import gateway_pb2 as _gateway_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Thumb(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THUMB_UNSPECIFIED: _ClassVar[Thumb]
    THUMB_UP: _ClassVar[Thumb]
    THUMB_DOWN: _ClassVar[Thumb]

class RatedFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATED_FILTER_UNSPECIFIED: _ClassVar[RatedFilter]
    RATED_FILTER_RATED: _ClassVar[RatedFilter]
    RATED_FILTER_UNRATED: _ClassVar[RatedFilter]
    RATED_FILTER_CORRECTED: _ClassVar[RatedFilter]

class ExportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_KIND_UNSPECIFIED: _ClassVar[ExportKind]
    EXPORT_KIND_SFT: _ClassVar[ExportKind]
    EXPORT_KIND_DPO: _ClassVar[ExportKind]
THUMB_UNSPECIFIED: Thumb
THUMB_UP: Thumb
THUMB_DOWN: Thumb
RATED_FILTER_UNSPECIFIED: RatedFilter
RATED_FILTER_RATED: RatedFilter
RATED_FILTER_UNRATED: RatedFilter
RATED_FILTER_CORRECTED: RatedFilter
EXPORT_KIND_UNSPECIFIED: ExportKind
EXPORT_KIND_SFT: ExportKind
EXPORT_KIND_DPO: ExportKind

class Rating(_message.Message):
    __slots__ = ("thumb", "score")
    THUMB_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    thumb: Thumb
    score: float
    def __init__(self, thumb: _Optional[_Union[Thumb, str]] = ..., score: _Optional[float] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("id", "request_id", "tenant", "rater", "rating", "correction", "comment", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    RATER_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    tenant: str
    rater: str
    rating: Rating
    correction: str
    comment: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., rater: _Optional[str] = ..., rating: _Optional[_Union[Rating, _Mapping]] = ..., correction: _Optional[str] = ..., comment: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StoredInteraction(_message.Message):
    __slots__ = ("interaction", "feedback", "interaction_received")
    INTERACTION_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    interaction: _gateway_pb2.Interaction
    feedback: _containers.RepeatedCompositeFieldContainer[Feedback]
    interaction_received: bool
    def __init__(self, interaction: _Optional[_Union[_gateway_pb2.Interaction, _Mapping]] = ..., feedback: _Optional[_Iterable[_Union[Feedback, _Mapping]]] = ..., interaction_received: _Optional[bool] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "tenant", "rater", "rating", "correction", "comment")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    RATER_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    rater: str
    rating: Rating
    correction: str
    comment: str
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., rater: _Optional[str] = ..., rating: _Optional[_Union[Rating, _Mapping]] = ..., correction: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class InteractionFilter(_message.Message):
    __slots__ = ("tenant", "model", "model_version", "base_model", "rated", "start_time", "end_time")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    RATED_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    model: str
    model_version: int
    base_model: str
    rated: RatedFilter
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[int] = ..., base_model: _Optional[str] = ..., rated: _Optional[_Union[RatedFilter, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetInteractionRequest(_message.Message):
    __slots__ = ("request_id", "tenant")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class ListInteractionsRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: InteractionFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[InteractionFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInteractionsResponse(_message.Message):
    __slots__ = ("interactions", "next_page_token")
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[StoredInteraction]
    next_page_token: str
    def __init__(self, interactions: _Optional[_Iterable[_Union[StoredInteraction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportDatasetRequest(_message.Message):
    __slots__ = ("kind", "filter", "min_rating", "include_corrections", "exclude_guardrail_hits", "max_examples", "dataset_id", "dataset_name", "creator", "seed")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MIN_RATING_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_GUARDRAIL_HITS_FIELD_NUMBER: _ClassVar[int]
    MAX_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    kind: ExportKind
    filter: InteractionFilter
    min_rating: float
    include_corrections: bool
    exclude_guardrail_hits: bool
    max_examples: int
    dataset_id: str
    dataset_name: str
    creator: str
    seed: int
    def __init__(self, kind: _Optional[_Union[ExportKind, str]] = ..., filter: _Optional[_Union[InteractionFilter, _Mapping]] = ..., min_rating: _Optional[float] = ..., include_corrections: _Optional[bool] = ..., exclude_guardrail_hits: _Optional[bool] = ..., max_examples: _Optional[int] = ..., dataset_id: _Optional[str] = ..., dataset_name: _Optional[str] = ..., creator: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class ExportDatasetResponse(_message.Message):
    __slots__ = ("dataset_id", "dataset_version", "artifact_uri", "artifact_sha256", "examples", "skipped")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    dataset_version: int
    artifact_uri: str
    artifact_sha256: str
    examples: int
    skipped: int
    def __init__(self, dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., artifact_uri: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., examples: _Optional[int] = ..., skipped: _Optional[int] = ...) -> None: ...

class GetQualityMetricsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: InteractionFilter
    def __init__(self, filter: _Optional[_Union[InteractionFilter, _Mapping]] = ...) -> None: ...

class VersionQuality(_message.Message):
    __slots__ = ("model", "model_version", "base_model", "adapter_ref", "interactions", "rated", "thumbs_up", "thumbs_down", "mean_rating", "thumbs_up_ratio", "corrections", "correction_rate", "guardrail_blocks", "mean_latency_ms", "mean_ttft_ms", "first_seen", "last_seen")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_REF_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    RATED_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_FIELD_NUMBER: _ClassVar[int]
    THUMBS_DOWN_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_RATIO_FIELD_NUMBER: _ClassVar[int]
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_RATE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    model: str
    model_version: int
    base_model: str
    adapter_ref: str
    interactions: int
    rated: int
    thumbs_up: int
    thumbs_down: int
    mean_rating: float
    thumbs_up_ratio: float
    corrections: int
    correction_rate: float
    guardrail_blocks: int
    mean_latency_ms: float
    mean_ttft_ms: float
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[str] = ..., model_version: _Optional[int] = ..., base_model: _Optional[str] = ..., adapter_ref: _Optional[str] = ..., interactions: _Optional[int] = ..., rated: _Optional[int] = ..., thumbs_up: _Optional[int] = ..., thumbs_down: _Optional[int] = ..., mean_rating: _Optional[float] = ..., thumbs_up_ratio: _Optional[float] = ..., corrections: _Optional[int] = ..., correction_rate: _Optional[float] = ..., guardrail_blocks: _Optional[int] = ..., mean_latency_ms: _Optional[float] = ..., mean_ttft_ms: _Optional[float] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetQualityMetricsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VersionQuality]
    def __init__(self, versions: _Optional[_Iterable[_Union[VersionQuality, _Mapping]]] = ...) -> None: ...
