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

class DocumentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_STATUS_UNSPECIFIED: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_READY: _ClassVar[DocumentStatus]
    DOCUMENT_STATUS_FAILED: _ClassVar[DocumentStatus]

class ChunkUnit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHUNK_UNIT_UNSPECIFIED: _ClassVar[ChunkUnit]
    CHUNK_UNIT_CHARACTERS: _ClassVar[ChunkUnit]
    CHUNK_UNIT_TOKENS: _ClassVar[ChunkUnit]

class DatasetFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_FORMAT_UNSPECIFIED: _ClassVar[DatasetFormat]
    DATASET_FORMAT_TEXT: _ClassVar[DatasetFormat]
    DATASET_FORMAT_SFT: _ClassVar[DatasetFormat]
    DATASET_FORMAT_DPO: _ClassVar[DatasetFormat]

class DatasetVersionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_VERSION_STATUS_UNSPECIFIED: _ClassVar[DatasetVersionStatus]
    DATASET_VERSION_STATUS_BUILDING: _ClassVar[DatasetVersionStatus]
    DATASET_VERSION_STATUS_READY: _ClassVar[DatasetVersionStatus]
    DATASET_VERSION_STATUS_FAILED: _ClassVar[DatasetVersionStatus]

class OperationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_STATUS_UNSPECIFIED: _ClassVar[OperationStatus]
    OPERATION_STATUS_PENDING: _ClassVar[OperationStatus]
    OPERATION_STATUS_RUNNING: _ClassVar[OperationStatus]
    OPERATION_STATUS_SUCCEEDED: _ClassVar[OperationStatus]
    OPERATION_STATUS_FAILED: _ClassVar[OperationStatus]
    OPERATION_STATUS_CANCELLED: _ClassVar[OperationStatus]
DOCUMENT_STATUS_UNSPECIFIED: DocumentStatus
DOCUMENT_STATUS_READY: DocumentStatus
DOCUMENT_STATUS_FAILED: DocumentStatus
CHUNK_UNIT_UNSPECIFIED: ChunkUnit
CHUNK_UNIT_CHARACTERS: ChunkUnit
CHUNK_UNIT_TOKENS: ChunkUnit
DATASET_FORMAT_UNSPECIFIED: DatasetFormat
DATASET_FORMAT_TEXT: DatasetFormat
DATASET_FORMAT_SFT: DatasetFormat
DATASET_FORMAT_DPO: DatasetFormat
DATASET_VERSION_STATUS_UNSPECIFIED: DatasetVersionStatus
DATASET_VERSION_STATUS_BUILDING: DatasetVersionStatus
DATASET_VERSION_STATUS_READY: DatasetVersionStatus
DATASET_VERSION_STATUS_FAILED: DatasetVersionStatus
OPERATION_STATUS_UNSPECIFIED: OperationStatus
OPERATION_STATUS_PENDING: OperationStatus
OPERATION_STATUS_RUNNING: OperationStatus
OPERATION_STATUS_SUCCEEDED: OperationStatus
OPERATION_STATUS_FAILED: OperationStatus
OPERATION_STATUS_CANCELLED: OperationStatus

class Document(_message.Message):
    __slots__ = ("id", "tenant", "filename", "content_type", "size_bytes", "sha256", "uri", "text_uri", "text_chars", "status", "status_message", "metadata", "creator", "created_at")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    TEXT_URI_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uri: str
    text_uri: str
    text_chars: int
    status: DocumentStatus
    status_message: str
    metadata: _containers.ScalarMap[str, str]
    creator: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., uri: _Optional[str] = ..., text_uri: _Optional[str] = ..., text_chars: _Optional[int] = ..., status: _Optional[_Union[DocumentStatus, str]] = ..., status_message: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadDocumentHeader(_message.Message):
    __slots__ = ("tenant", "filename", "content_type", "sha256", "metadata", "creator")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    filename: str
    content_type: str
    sha256: str
    metadata: _containers.ScalarMap[str, str]
    creator: str
    def __init__(self, tenant: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ...) -> None: ...

class UploadDocumentRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadDocumentHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadDocumentHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadDocumentResponse(_message.Message):
    __slots__ = ("document", "already_existed")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_EXISTED_FIELD_NUMBER: _ClassVar[int]
    document: Document
    already_existed: bool
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., already_existed: _Optional[bool] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("document_id",)
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    def __init__(self, document_id: _Optional[str] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("tenant", "query", "status", "page_size", "page_token")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    query: str
    status: DocumentStatus
    page_size: int
    page_token: str
    def __init__(self, tenant: _Optional[str] = ..., query: _Optional[str] = ..., status: _Optional[_Union[DocumentStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    next_page_token: str
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ChunkingParams(_message.Message):
    __slots__ = ("size", "overlap", "unit", "tokenizer_model")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_MODEL_FIELD_NUMBER: _ClassVar[int]
    size: int
    overlap: int
    unit: ChunkUnit
    tokenizer_model: str
    def __init__(self, size: _Optional[int] = ..., overlap: _Optional[int] = ..., unit: _Optional[_Union[ChunkUnit, str]] = ..., tokenizer_model: _Optional[str] = ...) -> None: ...

class QaSynthesis(_message.Message):
    __slots__ = ("model", "pairs_per_chunk", "sampling", "instructions", "keep_chunks")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    KEEP_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs_per_chunk: int
    sampling: _common_pb2.SamplingParams
    instructions: str
    keep_chunks: bool
    def __init__(self, model: _Optional[str] = ..., pairs_per_chunk: _Optional[int] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ..., instructions: _Optional[str] = ..., keep_chunks: _Optional[bool] = ...) -> None: ...

class BuildSpec(_message.Message):
    __slots__ = ("document_ids", "chunking", "dedup", "pii_scrub", "qa_synthesis", "seed")
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CHUNKING_FIELD_NUMBER: _ClassVar[int]
    DEDUP_FIELD_NUMBER: _ClassVar[int]
    PII_SCRUB_FIELD_NUMBER: _ClassVar[int]
    QA_SYNTHESIS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    chunking: ChunkingParams
    dedup: bool
    pii_scrub: bool
    qa_synthesis: QaSynthesis
    seed: int
    def __init__(self, document_ids: _Optional[_Iterable[str]] = ..., chunking: _Optional[_Union[ChunkingParams, _Mapping]] = ..., dedup: _Optional[bool] = ..., pii_scrub: _Optional[bool] = ..., qa_synthesis: _Optional[_Union[QaSynthesis, _Mapping]] = ..., seed: _Optional[int] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("documents", "chunks", "examples", "dropped_duplicates", "pii_redactions", "qa_pairs", "qa_failures")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    PII_REDACTIONS_FIELD_NUMBER: _ClassVar[int]
    QA_PAIRS_FIELD_NUMBER: _ClassVar[int]
    QA_FAILURES_FIELD_NUMBER: _ClassVar[int]
    documents: int
    chunks: int
    examples: int
    dropped_duplicates: int
    pii_redactions: int
    qa_pairs: int
    qa_failures: int
    def __init__(self, documents: _Optional[int] = ..., chunks: _Optional[int] = ..., examples: _Optional[int] = ..., dropped_duplicates: _Optional[int] = ..., pii_redactions: _Optional[int] = ..., qa_pairs: _Optional[int] = ..., qa_failures: _Optional[int] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("dataset_id", "version", "status", "status_message", "format", "build_spec", "stats", "artifact_uri", "artifact_sha256", "artifact_size_bytes", "source", "operation_id", "creator", "created_at", "updated_at")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BUILD_SPEC_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    status: DatasetVersionStatus
    status_message: str
    format: DatasetFormat
    build_spec: BuildSpec
    stats: DatasetStats
    artifact_uri: str
    artifact_sha256: str
    artifact_size_bytes: int
    source: str
    operation_id: str
    creator: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[DatasetVersionStatus, str]] = ..., status_message: _Optional[str] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., build_spec: _Optional[_Union[BuildSpec, _Mapping]] = ..., stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., artifact_uri: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., artifact_size_bytes: _Optional[int] = ..., source: _Optional[str] = ..., operation_id: _Optional[str] = ..., creator: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("id", "name", "description", "tenant", "creator", "latest_version", "latest_ready_version", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    LATEST_READY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    tenant: str
    creator: str
    latest_version: int
    latest_ready_version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., tenant: _Optional[str] = ..., creator: _Optional[str] = ..., latest_version: _Optional[int] = ..., latest_ready_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateDatasetRequest(_message.Message):
    __slots__ = ("name", "description", "tenant", "creator", "build_spec")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    BUILD_SPEC_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    tenant: str
    creator: str
    build_spec: BuildSpec
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., tenant: _Optional[str] = ..., creator: _Optional[str] = ..., build_spec: _Optional[_Union[BuildSpec, _Mapping]] = ...) -> None: ...

class CreateDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "creator", "build_spec")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    BUILD_SPEC_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    creator: str
    build_spec: BuildSpec
    def __init__(self, dataset_id: _Optional[str] = ..., creator: _Optional[str] = ..., build_spec: _Optional[_Union[BuildSpec, _Mapping]] = ...) -> None: ...

class ImportDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "name", "tenant", "creator", "format", "artifact_uri", "artifact_sha256", "source", "stats", "description")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_URI_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_SHA256_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    name: str
    tenant: str
    creator: str
    format: DatasetFormat
    artifact_uri: str
    artifact_sha256: str
    source: str
    stats: DatasetStats
    description: str
    def __init__(self, dataset_id: _Optional[str] = ..., name: _Optional[str] = ..., tenant: _Optional[str] = ..., creator: _Optional[str] = ..., format: _Optional[_Union[DatasetFormat, str]] = ..., artifact_uri: _Optional[str] = ..., artifact_sha256: _Optional[str] = ..., source: _Optional[str] = ..., stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id",)
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    def __init__(self, dataset_id: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("tenant", "query", "page_size", "page_token")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    query: str
    page_size: int
    page_token: str
    def __init__(self, tenant: _Optional[str] = ..., query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsRequest(_message.Message):
    __slots__ = ("dataset_id", "status", "page_size", "page_token")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    status: DatasetVersionStatus
    page_size: int
    page_token: str
    def __init__(self, dataset_id: _Optional[str] = ..., status: _Optional[_Union[DatasetVersionStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "version")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class OperationProgress(_message.Message):
    __slots__ = ("stage", "done", "total", "fraction")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    fraction: float
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., fraction: _Optional[float] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("id", "kind", "tenant", "status", "progress", "error", "dataset_id", "dataset_version", "result", "created_at", "updated_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    tenant: str
    status: OperationStatus
    progress: OperationProgress
    error: str
    dataset_id: str
    dataset_version: int
    result: DatasetVersion
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., tenant: _Optional[str] = ..., status: _Optional[_Union[OperationStatus, str]] = ..., progress: _Optional[_Union[OperationProgress, _Mapping]] = ..., error: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., result: _Optional[_Union[DatasetVersion, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...

class CancelOperationRequest(_message.Message):
    __slots__ = ("operation_id",)
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    def __init__(self, operation_id: _Optional[str] = ...) -> None: ...
