"""Small, specific exceptions. Every message names the bucket/key or setting concerned.

Every failure of botocore, urllib3 or the server leaves the library as one of these, with the
original chained (`raise ... from err`): callers catch `StorageError` and nothing else.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error


class StorageError(Exception):
    """Base class of every error raised by storage_runtime."""


class SettingsError(StorageError, ValueError):
    """The environment or stack outputs do not describe a usable store."""


class InvalidKeyError(StorageError, ValueError):
    """An object key that must not be used (empty segment, '..', leading '/', too long)."""


class InvalidBodyError(StorageError, TypeError):
    """A body of a kind the stores do not take (a `str`, which could be text or a path)."""


class InvalidRequestError(StorageError, ValueError):
    """A request botocore refused to send (a parameter of the wrong type or shape)."""


class ObjectNotFoundError(StorageError, KeyError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket, self.key = bucket, key

    def __str__(self) -> str:
        return str(self.args[0])


class BucketNotFoundError(StorageError, LookupError):
    def __init__(self, bucket: str, endpoint: str | None) -> None:
        where = endpoint or "AWS S3"
        super().__init__(
            f"bucket {bucket!r} does not exist at {where}: check the bucket name "
            "(S3_BUCKET, or the s3://bucket/ argument) and the endpoint (S3_ENDPOINT_URL)"
        )
        self.bucket, self.endpoint = bucket, endpoint


class AccessDeniedError(StorageError, PermissionError):
    """The server refused the credentials or their permissions."""


class StorageConnectionError(StorageError, ConnectionError):
    """The endpoint could not be reached, or a connection failed mid-way, after retries."""


class FileChangedError(StorageError):
    """A local file changed while it was being uploaded; nothing torn was stored."""


class TransferCancelledError(StorageError):
    """A transfer stopped because the run was interrupted (SIGINT/SIGTERM)."""


class PresignError(StorageError, ValueError):
    """A presigned URL that cannot be issued (expiry out of bounds, size over the limit...)."""


class UploadTooLargeError(PresignError):
    pass


class StorageUploadError(StorageError):
    """Seed 001's upload failure: `step` is size | presign | upload | complete | delete."""

    def __init__(self, target: str, reason: str, *, step: str, status: int | None = None) -> None:
        super().__init__(f"Storage upload failed for {target!r}: {reason}")
        self.target, self.reason, self.step, self.status = target, reason, step, status


NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden"}
)


def translate(
    err: BaseException, *, op: str, bucket: str, key: str, endpoint: str | None
) -> StorageError:
    """The StorageError for a botocore/urllib3 failure of `op` on s3://bucket/key (chain the
    original with `raise translate(...) from err`)."""
    where = f"s3://{bucket}/{key}"
    if isinstance(err, StorageError):
        return err
    if isinstance(err, ClientError):
        error: dict[str, Any] = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code == "NoSuchBucket":
            return BucketNotFoundError(bucket, endpoint)
        if code in NOT_FOUND_CODES:
            return ObjectNotFoundError(bucket, key)
        message = str(error.get("Message", "") or "")
        if code in DENIED_CODES:
            return AccessDeniedError(
                f"{op} {where} was refused ({code} {message}".rstrip()
                + "): check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or the AWS role) and "
                "the key's permissions on this bucket"
            )
        return StorageError(f"{op} {where} failed: {code} {message}".rstrip())
    if isinstance(err, NoCredentialsError | PartialCredentialsError):
        return AccessDeniedError(
            f"{op} {where}: no credentials ({err}); set S3_ACCESS_KEY_ID and "
            "S3_SECRET_ACCESS_KEY, or run with an AWS role"
        )
    if isinstance(err, ParamValidationError):
        return InvalidRequestError(f"{op} {where}: {err}")
    if isinstance(err, BotoConnectionError | HTTPClientError | Urllib3Error | ConnectionError):
        return StorageConnectionError(
            f"{op} {where}: cannot reach {endpoint or 'AWS S3'} (S3_ENDPOINT_URL): {err}"
        )
    if isinstance(err, BotoCoreError):
        return StorageError(f"{op} {where} failed: {err}")
    return StorageError(f"{op} {where} failed: {type(err).__name__}: {err}")


#: What `translate` turns into a StorageError: catch these around client calls and streams.
CLIENT_FAILURES: tuple[type[BaseException], ...] = (
    ClientError,
    BotoCoreError,
    Urllib3Error,
    ConnectionError,
    TimeoutError,
)
