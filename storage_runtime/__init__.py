"""The runtime side of the storage platform: what applications import.

    from storage_runtime import Settings, open_store
    store = open_store(Settings.from_env())          # or Settings.from_stack_outputs(...)
    store.put("results/job-1/report.pdf", data, content_type="application/pdf")
    url = store.presign_get("results/job-1/report.pdf", filename="report.pdf")

boto3 only; it never imports pulumi.
"""

from storage_runtime import keys, urls
from storage_runtime.backend_presigned import BackendPresignedUploader, StorageResult, presign_put
from storage_runtime.client import client_config, make_client
from storage_runtime.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    FileChangedError,
    InvalidBodyError,
    InvalidKeyError,
    InvalidRequestError,
    ObjectNotFoundError,
    PresignError,
    SettingsError,
    StorageConnectionError,
    StorageError,
    StorageUploadError,
    TransferCancelledError,
    UploadTooLargeError,
)
from storage_runtime.settings import Settings
from storage_runtime.store import (
    LocalStore,
    ObjectInfo,
    ObjectStore,
    PresignedPut,
    PutResult,
    open_store,
)

__all__ = [
    "AccessDeniedError",
    "BackendPresignedUploader",
    "BucketNotFoundError",
    "FileChangedError",
    "InvalidBodyError",
    "InvalidKeyError",
    "InvalidRequestError",
    "LocalStore",
    "ObjectInfo",
    "ObjectNotFoundError",
    "ObjectStore",
    "PresignError",
    "PresignedPut",
    "PutResult",
    "Settings",
    "SettingsError",
    "StorageConnectionError",
    "StorageError",
    "StorageResult",
    "StorageUploadError",
    "TransferCancelledError",
    "UploadTooLargeError",
    "client_config",
    "keys",
    "make_client",
    "open_store",
    "presign_put",
    "urls",
]
