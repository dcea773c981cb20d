import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from keel.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GuardrailStage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_STAGE_UNSPECIFIED: _ClassVar[GuardrailStage]
    GUARDRAIL_STAGE_INPUT: _ClassVar[GuardrailStage]
    GUARDRAIL_STAGE_OUTPUT: _ClassVar[GuardrailStage]

class GuardrailAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_ACTION_UNSPECIFIED: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_ALLOW: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_FLAG: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_REDACT: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_BLOCK: _ClassVar[GuardrailAction]
GUARDRAIL_STAGE_UNSPECIFIED: GuardrailStage
GUARDRAIL_STAGE_INPUT: GuardrailStage
GUARDRAIL_STAGE_OUTPUT: GuardrailStage
GUARDRAIL_ACTION_UNSPECIFIED: GuardrailAction
GUARDRAIL_ACTION_ALLOW: GuardrailAction
GUARDRAIL_ACTION_FLAG: GuardrailAction
GUARDRAIL_ACTION_REDACT: GuardrailAction
GUARDRAIL_ACTION_BLOCK: GuardrailAction

class GuardrailVerdict(_message.Message):
    __slots__ = ("rail", "stage", "action", "reason", "score", "latency_ms")
    RAIL_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    rail: str
    stage: GuardrailStage
    action: GuardrailAction
    reason: str
    score: float
    latency_ms: float
    def __init__(self, rail: _Optional[str] = ..., stage: _Optional[_Union[GuardrailStage, str]] = ..., action: _Optional[_Union[GuardrailAction, str]] = ..., reason: _Optional[str] = ..., score: _Optional[float] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("request_id", "tenant", "key_id", "endpoint", "stream", "requested_model", "model", "model_version", "base_model", "adapter_ref", "messages", "prompt", "sampling", "completion", "usage", "finish_reason", "guardrail_verdicts", "status_code", "error_type", "latency_ms", "ttft_ms", "created_at", "stored", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    ADAPTER_REF_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_VERDICTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    key_id: str
    endpoint: str
    stream: bool
    requested_model: str
    model: str
    model_version: int
    base_model: str
    adapter_ref: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    prompt: str
    sampling: _common_pb2.SamplingParams
    completion: str
    usage: _common_pb2.Usage
    finish_reason: _common_pb2.FinishReason
    guardrail_verdicts: _containers.RepeatedCompositeFieldContainer[GuardrailVerdict]
    status_code: int
    error_type: str
    latency_ms: float
    ttft_ms: float
    created_at: _timestamp_pb2.Timestamp
    stored: bool
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., key_id: _Optional[str] = ..., endpoint: _Optional[str] = ..., stream: _Optional[bool] = ..., requested_model: _Optional[str] = ..., model: _Optional[str] = ..., model_version: _Optional[int] = ..., base_model: _Optional[str] = ..., adapter_ref: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., prompt: _Optional[str] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ..., completion: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., finish_reason: _Optional[_Union[_common_pb2.FinishReason, str]] = ..., guardrail_verdicts: _Optional[_Iterable[_Union[GuardrailVerdict, _Mapping]]] = ..., status_code: _Optional[int] = ..., error_type: _Optional[str] = ..., latency_ms: _Optional[float] = ..., ttft_ms: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stored: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...
