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

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_TEXT: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_QA_WITH_CONTEXT: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_QA_CLOSED_BOOK: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_CHAT: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_PREFERENCE: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_KTO: _ClassVar[OutputFormat]

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
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_TEXT: OutputFormat
OUTPUT_FORMAT_QA_WITH_CONTEXT: OutputFormat
OUTPUT_FORMAT_QA_CLOSED_BOOK: OutputFormat
OUTPUT_FORMAT_CHAT: OutputFormat
OUTPUT_FORMAT_PREFERENCE: OutputFormat
OUTPUT_FORMAT_KTO: OutputFormat
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
    __slots__ = ("id", "tenant", "filename", "content_type", "size_bytes", "sha256", "uri", "extracted_uri", "text_chars", "status", "status_message", "metadata", "creator", "created_at", "pages")
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
    EXTRACTED_URI_FIELD_NUMBER: _ClassVar[int]
    TEXT_CHARS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uri: str
    extracted_uri: str
    text_chars: int
    status: DocumentStatus
    status_message: str
    metadata: _containers.ScalarMap[str, str]
    creator: str
    created_at: _timestamp_pb2.Timestamp
    pages: int
    def __init__(self, id: _Optional[str] = ..., tenant: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., uri: _Optional[str] = ..., extracted_uri: _Optional[str] = ..., text_chars: _Optional[int] = ..., status: _Optional[_Union[DocumentStatus, str]] = ..., status_message: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., creator: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pages: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("document_id", "tenant")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    tenant: str
    def __init__(self, document_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("document_id", "tenant")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    tenant: str
    def __init__(self, document_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

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

class Chunking(_message.Message):
    __slots__ = ("max_tokens", "overlap_tokens")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    overlap_tokens: int
    def __init__(self, max_tokens: _Optional[int] = ..., overlap_tokens: _Optional[int] = ...) -> None: ...

class QualityFilters(_message.Message):
    __slots__ = ("min_words", "max_symbol_ratio", "min_alpha_word_ratio", "max_dup_line_ratio", "max_dup_ngram_ratio", "max_boilerplate_ratio")
    MIN_WORDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SYMBOL_RATIO_FIELD_NUMBER: _ClassVar[int]
    MIN_ALPHA_WORD_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_DUP_LINE_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_DUP_NGRAM_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_BOILERPLATE_RATIO_FIELD_NUMBER: _ClassVar[int]
    min_words: int
    max_symbol_ratio: float
    min_alpha_word_ratio: float
    max_dup_line_ratio: float
    max_dup_ngram_ratio: float
    max_boilerplate_ratio: float
    def __init__(self, min_words: _Optional[int] = ..., max_symbol_ratio: _Optional[float] = ..., min_alpha_word_ratio: _Optional[float] = ..., max_dup_line_ratio: _Optional[float] = ..., max_dup_ngram_ratio: _Optional[float] = ..., max_boilerplate_ratio: _Optional[float] = ...) -> None: ...

class Dedup(_message.Message):
    __slots__ = ("enabled", "near_threshold")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    NEAR_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    near_threshold: float
    def __init__(self, enabled: _Optional[bool] = ..., near_threshold: _Optional[float] = ...) -> None: ...

class PiiPolicy(_message.Message):
    __slots__ = ("actions",)
    class ActionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.ScalarMap[str, str]
    def __init__(self, actions: _Optional[_Mapping[str, str]] = ...) -> None: ...

class QaSynthesis(_message.Message):
    __slots__ = ("model", "pairs_per_chunk", "max_tokens", "temperature", "min_support")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PAIRS_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MIN_SUPPORT_FIELD_NUMBER: _ClassVar[int]
    model: str
    pairs_per_chunk: int
    max_tokens: int
    temperature: float
    min_support: float
    def __init__(self, model: _Optional[str] = ..., pairs_per_chunk: _Optional[int] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., min_support: _Optional[float] = ...) -> None: ...

class Split(_message.Message):
    __slots__ = ("validation_fraction", "seed")
    VALIDATION_FRACTION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    validation_fraction: float
    seed: int
    def __init__(self, validation_fraction: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class BuildSpec(_message.Message):
    __slots__ = ("document_ids", "base_model", "chunking", "quality", "dedup", "pii", "format", "qa_synthesis", "split")
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    BASE_MODEL_FIELD_NUMBER: _ClassVar[int]
    CHUNKING_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DEDUP_FIELD_NUMBER: _ClassVar[int]
    PII_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QA_SYNTHESIS_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    document_ids: _containers.RepeatedScalarFieldContainer[str]
    base_model: str
    chunking: Chunking
    quality: QualityFilters
    dedup: Dedup
    pii: PiiPolicy
    format: OutputFormat
    qa_synthesis: QaSynthesis
    split: Split
    def __init__(self, document_ids: _Optional[_Iterable[str]] = ..., base_model: _Optional[str] = ..., chunking: _Optional[_Union[Chunking, _Mapping]] = ..., quality: _Optional[_Union[QualityFilters, _Mapping]] = ..., dedup: _Optional[_Union[Dedup, _Mapping]] = ..., pii: _Optional[_Union[PiiPolicy, _Mapping]] = ..., format: _Optional[_Union[OutputFormat, str]] = ..., qa_synthesis: _Optional[_Union[QaSynthesis, _Mapping]] = ..., split: _Optional[_Union[Split, _Mapping]] = ...) -> None: ...

class DatasetStats(_message.Message):
    __slots__ = ("documents", "chunks", "dropped", "pii", "duplicates_exact", "duplicates_near", "qa_passages", "qa_proposed", "qa_kept", "question_duplicates", "examples_train", "examples_validation")
    class DroppedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class PiiEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    PII_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_EXACT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_NEAR_FIELD_NUMBER: _ClassVar[int]
    QA_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    QA_PROPOSED_FIELD_NUMBER: _ClassVar[int]
    QA_KEPT_FIELD_NUMBER: _ClassVar[int]
    QUESTION_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_TRAIN_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_VALIDATION_FIELD_NUMBER: _ClassVar[int]
    documents: int
    chunks: int
    dropped: _containers.ScalarMap[str, int]
    pii: _containers.ScalarMap[str, int]
    duplicates_exact: int
    duplicates_near: int
    qa_passages: int
    qa_proposed: int
    qa_kept: int
    question_duplicates: int
    examples_train: int
    examples_validation: int
    def __init__(self, documents: _Optional[int] = ..., chunks: _Optional[int] = ..., dropped: _Optional[_Mapping[str, int]] = ..., pii: _Optional[_Mapping[str, int]] = ..., duplicates_exact: _Optional[int] = ..., duplicates_near: _Optional[int] = ..., qa_passages: _Optional[int] = ..., qa_proposed: _Optional[int] = ..., qa_kept: _Optional[int] = ..., question_duplicates: _Optional[int] = ..., examples_train: _Optional[int] = ..., examples_validation: _Optional[int] = ...) -> None: ...

class DatasetFile(_message.Message):
    __slots__ = ("split", "uri", "sha256", "size_bytes", "examples")
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    split: str
    uri: str
    sha256: str
    size_bytes: int
    examples: int
    def __init__(self, split: _Optional[str] = ..., uri: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., examples: _Optional[int] = ...) -> None: ...

class DatasetVersion(_message.Message):
    __slots__ = ("dataset_id", "version", "status", "status_message", "format", "build_spec", "stats", "files", "fingerprint", "manifest_json", "operation_id", "creator", "created_at", "updated_at")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BUILD_SPEC_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_JSON_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    status: DatasetVersionStatus
    status_message: str
    format: OutputFormat
    build_spec: BuildSpec
    stats: DatasetStats
    files: _containers.RepeatedCompositeFieldContainer[DatasetFile]
    fingerprint: str
    manifest_json: str
    operation_id: str
    creator: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[DatasetVersionStatus, str]] = ..., status_message: _Optional[str] = ..., format: _Optional[_Union[OutputFormat, str]] = ..., build_spec: _Optional[_Union[BuildSpec, _Mapping]] = ..., stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., files: _Optional[_Iterable[_Union[DatasetFile, _Mapping]]] = ..., fingerprint: _Optional[str] = ..., manifest_json: _Optional[str] = ..., operation_id: _Optional[str] = ..., creator: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("dataset_id", "tenant", "creator", "build_spec")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    BUILD_SPEC_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    tenant: str
    creator: str
    build_spec: BuildSpec
    def __init__(self, dataset_id: _Optional[str] = ..., tenant: _Optional[str] = ..., creator: _Optional[str] = ..., build_spec: _Optional[_Union[BuildSpec, _Mapping]] = ...) -> None: ...

class ImportedFile(_message.Message):
    __slots__ = ("split", "content")
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    split: str
    content: bytes
    def __init__(self, split: _Optional[str] = ..., content: _Optional[bytes] = ...) -> None: ...

class ImportDatasetVersionRequest(_message.Message):
    __slots__ = ("tenant", "creator", "dataset_id", "dataset_name", "description", "format", "files", "lineage_json")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_JSON_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    creator: str
    dataset_id: str
    dataset_name: str
    description: str
    format: OutputFormat
    files: _containers.RepeatedCompositeFieldContainer[ImportedFile]
    lineage_json: str
    def __init__(self, tenant: _Optional[str] = ..., creator: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_name: _Optional[str] = ..., description: _Optional[str] = ..., format: _Optional[_Union[OutputFormat, str]] = ..., files: _Optional[_Iterable[_Union[ImportedFile, _Mapping]]] = ..., lineage_json: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("dataset_id", "tenant")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    tenant: str
    def __init__(self, dataset_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("dataset_id", "tenant", "status", "page_size", "page_token")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    tenant: str
    status: DatasetVersionStatus
    page_size: int
    page_token: str
    def __init__(self, dataset_id: _Optional[str] = ..., tenant: _Optional[str] = ..., status: _Optional[_Union[DatasetVersionStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[DatasetVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[DatasetVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "version", "tenant")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    tenant: str
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., tenant: _Optional[str] = ...) -> None: ...

class Example(_message.Message):
    __slots__ = ("id", "document_id", "filename", "page", "page_end", "char_start", "char_end", "heading", "text", "messages", "quality_json", "split")
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_END_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    HEADING_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_JSON_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    document_id: str
    filename: str
    page: int
    page_end: int
    char_start: int
    char_end: int
    heading: str
    text: str
    messages: _containers.RepeatedCompositeFieldContainer[_common_pb2.ChatMessage]
    quality_json: str
    split: str
    def __init__(self, id: _Optional[str] = ..., document_id: _Optional[str] = ..., filename: _Optional[str] = ..., page: _Optional[int] = ..., page_end: _Optional[int] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., heading: _Optional[str] = ..., text: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[_common_pb2.ChatMessage, _Mapping]]] = ..., quality_json: _Optional[str] = ..., split: _Optional[str] = ...) -> None: ...

class PreviewDatasetVersionRequest(_message.Message):
    __slots__ = ("dataset_id", "version", "tenant", "split", "limit", "offset")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    version: int
    tenant: str
    split: str
    limit: int
    offset: int
    def __init__(self, dataset_id: _Optional[str] = ..., version: _Optional[int] = ..., tenant: _Optional[str] = ..., split: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class PreviewDatasetVersionResponse(_message.Message):
    __slots__ = ("examples", "total")
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    examples: _containers.RepeatedCompositeFieldContainer[Example]
    total: int
    def __init__(self, examples: _Optional[_Iterable[_Union[Example, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class DiffDatasetVersionsRequest(_message.Message):
    __slots__ = ("dataset_id", "tenant", "from_version", "to_version")
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    dataset_id: str
    tenant: str
    from_version: int
    to_version: int
    def __init__(self, dataset_id: _Optional[str] = ..., tenant: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ...) -> None: ...

class DiffDatasetVersionsResponse(_message.Message):
    __slots__ = ("documents_added", "documents_removed", "examples_added", "examples_removed", "examples_unchanged", "from_stats", "to_stats", "recipe_changes")
    DOCUMENTS_ADDED_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_ADDED_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    FROM_STATS_FIELD_NUMBER: _ClassVar[int]
    TO_STATS_FIELD_NUMBER: _ClassVar[int]
    RECIPE_CHANGES_FIELD_NUMBER: _ClassVar[int]
    documents_added: _containers.RepeatedScalarFieldContainer[str]
    documents_removed: _containers.RepeatedScalarFieldContainer[str]
    examples_added: int
    examples_removed: int
    examples_unchanged: int
    from_stats: DatasetStats
    to_stats: DatasetStats
    recipe_changes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, documents_added: _Optional[_Iterable[str]] = ..., documents_removed: _Optional[_Iterable[str]] = ..., examples_added: _Optional[int] = ..., examples_removed: _Optional[int] = ..., examples_unchanged: _Optional[int] = ..., from_stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., to_stats: _Optional[_Union[DatasetStats, _Mapping]] = ..., recipe_changes: _Optional[_Iterable[str]] = ...) -> None: ...

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

class OperationEvent(_message.Message):
    __slots__ = ("at", "stage", "message")
    AT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    stage: str
    message: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stage: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("id", "kind", "tenant", "status", "progress", "error", "dataset_id", "dataset_version", "result", "created_at", "updated_at", "finished_at", "events")
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
    EVENTS_FIELD_NUMBER: _ClassVar[int]
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
    events: _containers.RepeatedCompositeFieldContainer[OperationEvent]
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., tenant: _Optional[str] = ..., status: _Optional[_Union[OperationStatus, str]] = ..., progress: _Optional[_Union[OperationProgress, _Mapping]] = ..., error: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_version: _Optional[int] = ..., result: _Optional[_Union[DatasetVersion, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[_Iterable[_Union[OperationEvent, _Mapping]]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("operation_id", "tenant", "include_events")
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    tenant: str
    include_events: bool
    def __init__(self, operation_id: _Optional[str] = ..., tenant: _Optional[str] = ..., include_events: _Optional[bool] = ...) -> None: ...

class CancelOperationRequest(_message.Message):
    __slots__ = ("operation_id", "tenant")
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    operation_id: str
    tenant: str
    def __init__(self, operation_id: _Optional[str] = ..., tenant: _Optional[str] = ...) -> None: ...
