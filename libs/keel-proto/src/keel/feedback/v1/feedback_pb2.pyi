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

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_END_USER: _ClassVar[Source]
    SOURCE_ANNOTATOR: _ClassVar[Source]
    SOURCE_JUDGE: _ClassVar[Source]

class RatedFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RATED_FILTER_UNSPECIFIED: _ClassVar[RatedFilter]
    RATED_FILTER_RATED: _ClassVar[RatedFilter]
    RATED_FILTER_UNRATED: _ClassVar[RatedFilter]
    RATED_FILTER_CORRECTED: _ClassVar[RatedFilter]

class VerdictFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_FILTER_UNSPECIFIED: _ClassVar[VerdictFilter]
    VERDICT_FILTER_BLOCKED: _ClassVar[VerdictFilter]
    VERDICT_FILTER_FLAGGED: _ClassVar[VerdictFilter]
    VERDICT_FILTER_CLEAN: _ClassVar[VerdictFilter]

class ExportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_KIND_UNSPECIFIED: _ClassVar[ExportKind]
    EXPORT_KIND_SFT: _ClassVar[ExportKind]
    EXPORT_KIND_DPO: _ClassVar[ExportKind]
    EXPORT_KIND_KTO: _ClassVar[ExportKind]
THUMB_UNSPECIFIED: Thumb
THUMB_UP: Thumb
THUMB_DOWN: Thumb
SOURCE_UNSPECIFIED: Source
SOURCE_END_USER: Source
SOURCE_ANNOTATOR: Source
SOURCE_JUDGE: Source
RATED_FILTER_UNSPECIFIED: RatedFilter
RATED_FILTER_RATED: RatedFilter
RATED_FILTER_UNRATED: RatedFilter
RATED_FILTER_CORRECTED: RatedFilter
VERDICT_FILTER_UNSPECIFIED: VerdictFilter
VERDICT_FILTER_BLOCKED: VerdictFilter
VERDICT_FILTER_FLAGGED: VerdictFilter
VERDICT_FILTER_CLEAN: VerdictFilter
EXPORT_KIND_UNSPECIFIED: ExportKind
EXPORT_KIND_SFT: ExportKind
EXPORT_KIND_DPO: ExportKind
EXPORT_KIND_KTO: ExportKind

class NumericRating(_message.Message):
    __slots__ = ("value", "min", "max")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    value: float
    min: float
    max: float
    def __init__(self, value: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class Score(_message.Message):
    __slots__ = ("thumb", "rating", "category", "text")
    THUMB_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    thumb: Thumb
    rating: NumericRating
    category: str
    text: str
    def __init__(self, thumb: _Optional[_Union[Thumb, str]] = ..., rating: _Optional[_Union[NumericRating, _Mapping]] = ..., category: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("id", "client_id", "request_id", "tenant", "source", "rater", "score", "normalized", "correction", "comment", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RATER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    client_id: str
    request_id: str
    tenant: str
    source: Source
    rater: str
    score: Score
    normalized: float
    correction: str
    comment: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., client_id: _Optional[str] = ..., request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., rater: _Optional[str] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., normalized: _Optional[float] = ..., correction: _Optional[str] = ..., comment: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("request_id", "tenant", "client_id", "source", "rater", "score", "correction", "comment")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RATER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    client_id: str
    source: Source
    rater: str
    score: Score
    correction: str
    comment: str
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., client_id: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., rater: _Optional[str] = ..., score: _Optional[_Union[Score, _Mapping]] = ..., correction: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("feedback", "created", "interaction_received")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    feedback: Feedback
    created: bool
    interaction_received: bool
    def __init__(self, feedback: _Optional[_Union[Feedback, _Mapping]] = ..., created: _Optional[bool] = ..., interaction_received: _Optional[bool] = ...) -> None: ...

class SubmitFeedbackBatchRequest(_message.Message):
    __slots__ = ("submissions",)
    SUBMISSIONS_FIELD_NUMBER: _ClassVar[int]
    submissions: _containers.RepeatedCompositeFieldContainer[SubmitFeedbackRequest]
    def __init__(self, submissions: _Optional[_Iterable[_Union[SubmitFeedbackRequest, _Mapping]]] = ...) -> None: ...

class SubmitFeedbackError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResult(_message.Message):
    __slots__ = ("submitted", "error")
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    submitted: SubmitFeedbackResponse
    error: SubmitFeedbackError
    def __init__(self, submitted: _Optional[_Union[SubmitFeedbackResponse, _Mapping]] = ..., error: _Optional[_Union[SubmitFeedbackError, _Mapping]] = ...) -> None: ...

class SubmitFeedbackBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitFeedbackResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitFeedbackResult, _Mapping]]] = ...) -> None: ...

class InteractionFilter(_message.Message):
    __slots__ = ("tenant", "model", "model_version", "base_model", "rated", "thumb", "verdict", "start_time", "end_time")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    RATED_FIELD_NUMBER: _ClassVar[int]
    THUMB_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    model: str
    model_version: int
    base_model: str
    rated: RatedFilter
    thumb: Thumb
    verdict: VerdictFilter
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[int] = ..., base_model: _Optional[str] = ..., rated: _Optional[_Union[RatedFilter, str]] = ..., thumb: _Optional[_Union[Thumb, str]] = ..., verdict: _Optional[_Union[VerdictFilter, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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

class GetQualityMetricsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: InteractionFilter
    def __init__(self, filter: _Optional[_Union[InteractionFilter, _Mapping]] = ...) -> None: ...

class VersionQuality(_message.Message):
    __slots__ = ("model", "model_version", "base_model", "adapter_ref", "interactions", "rated", "thumbs_up", "thumbs_down", "mean_rating", "thumbs_up_rate", "corrections", "correction_rate", "guardrail_blocks", "guardrail_block_rate", "mean_latency_ms", "first_seen", "last_seen")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_REF_FIELD_NUMBER: _ClassVar[int]
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    RATED_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_FIELD_NUMBER: _ClassVar[int]
    THUMBS_DOWN_FIELD_NUMBER: _ClassVar[int]
    MEAN_RATING_FIELD_NUMBER: _ClassVar[int]
    THUMBS_UP_RATE_FIELD_NUMBER: _ClassVar[int]
    CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_RATE_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_BLOCK_RATE_FIELD_NUMBER: _ClassVar[int]
    MEAN_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
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
    thumbs_up_rate: float
    corrections: int
    correction_rate: float
    guardrail_blocks: int
    guardrail_block_rate: float
    mean_latency_ms: float
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[str] = ..., model_version: _Optional[int] = ..., base_model: _Optional[str] = ..., adapter_ref: _Optional[str] = ..., interactions: _Optional[int] = ..., rated: _Optional[int] = ..., thumbs_up: _Optional[int] = ..., thumbs_down: _Optional[int] = ..., mean_rating: _Optional[float] = ..., thumbs_up_rate: _Optional[float] = ..., corrections: _Optional[int] = ..., correction_rate: _Optional[float] = ..., guardrail_blocks: _Optional[int] = ..., guardrail_block_rate: _Optional[float] = ..., mean_latency_ms: _Optional[float] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetQualityMetricsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[VersionQuality]
    def __init__(self, versions: _Optional[_Iterable[_Union[VersionQuality, _Mapping]]] = ...) -> None: ...

class ExportDatasetRequest(_message.Message):
    __slots__ = ("kind", "filter", "min_rating", "min_ratings", "include_corrections", "exclude_guardrail_hits", "exclude_dataset", "validation_fraction", "seed", "max_examples", "dataset_id", "dataset_name", "creator", "dry_run")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MIN_RATING_FIELD_NUMBER: _ClassVar[int]
    MIN_RATINGS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CORRECTIONS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_GUARDRAIL_HITS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_DATASET_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    kind: ExportKind
    filter: InteractionFilter
    min_rating: float
    min_ratings: int
    include_corrections: bool
    exclude_guardrail_hits: bool
    exclude_dataset: str
    validation_fraction: float
    seed: int
    max_examples: int
    dataset_id: str
    dataset_name: str
    creator: str
    dry_run: bool
    def __init__(self, kind: _Optional[_Union[ExportKind, str]] = ..., filter: _Optional[_Union[InteractionFilter, _Mapping]] = ..., min_rating: _Optional[float] = ..., min_ratings: _Optional[int] = ..., include_corrections: _Optional[bool] = ..., exclude_guardrail_hits: _Optional[bool] = ..., exclude_dataset: _Optional[str] = ..., validation_fraction: _Optional[float] = ..., seed: _Optional[int] = ..., max_examples: _Optional[int] = ..., dataset_id: _Optional[str] = ..., dataset_name: _Optional[str] = ..., creator: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class ExportDatasetResponse(_message.Message):
    __slots__ = ("dataset_id", "dataset_version", "train_examples", "validation_examples", "counts_json", "model_versions")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAIN_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_JSON_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    dataset_version: int
    train_examples: int
    validation_examples: int
    counts_json: str
    model_versions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., train_examples: _Optional[int] = ..., validation_examples: _Optional[int] = ..., counts_json: _Optional[str] = ..., model_versions: _Optional[_Iterable[str]] = ...) -> None: ...
