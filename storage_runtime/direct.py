"""Single-request PUTs and GETs without the botocore client's per-call machinery.

A `put_object` through the boto3 client costs about 2 ms of CPU (parameter validation, event
handlers, serialization, response parsing); for thousands of small files that, not the
network, is the bottleneck. `DirectPut` signs with botocore's own S3 SigV4 signer (payload
hash included, so the server verifies the bytes) and sends through a urllib3 pool: about half
the CPU. It addresses buckets the way the store's client does (path or virtual-host), retries
throttling, 5xx and connection failures with exponential backoff and jitter, and raises
`StorageError` naming the bucket and key otherwise.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpsession import get_cert_path
from botocore.session import get_session

from storage_runtime.client import addressing_style
from storage_runtime.errors import (
    DENIED_CODES,
    AccessDeniedError,
    BucketNotFoundError,
    ObjectNotFoundError,
    StorageConnectionError,
    StorageError,
    TransferCancelledError,
)
from storage_runtime.files import write_chunks
from storage_runtime.settings import Settings

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
GET_CHUNK = 256 * 1024


class TransientPutError(StorageConnectionError):
    """A PUT that kept failing transiently; the caller may retry the whole file."""


class DirectPut:
    def __init__(self, settings: Settings, endpoint_url: str, pool_size: int) -> None:
        self.settings = settings
        self.region = settings.region
        self.path_style = addressing_style(settings) == "path"
        parts = urlsplit(endpoint_url)
        self.scheme, self.host = parts.scheme, parts.netloc
        if settings.access_key_id and settings.secret_access_key:
            self._static: Credentials | None = Credentials(
                settings.access_key_id, settings.secret_access_key
            )
            self._chain: Any = None
        else:  # the default chain (instance/pod role, profile), refreshed as it expires
            self._static, self._chain = None, get_session().get_credentials()
            if self._chain is None:
                raise StorageError("no AWS credentials found for direct uploads")
        self.pool = urllib3.PoolManager(
            maxsize=pool_size,
            block=True,
            cert_reqs="CERT_REQUIRED",
            ca_certs=get_cert_path(True),
            timeout=urllib3.Timeout(
                connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds
            ),
            retries=False,
        )

    def close(self) -> None:
        self.pool.clear()

    def url(self, bucket: str, key: str) -> str:
        path = quote(key, safe="/~")
        if self.path_style:
            return f"{self.scheme}://{self.host}/{bucket}/{path}"
        return f"{self.scheme}://{bucket}.{self.host}/{path}"

    def _credentials(self) -> Credentials:
        if self._static is not None:
            return self._static
        frozen = self._chain.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> tuple[str, int]:
        """Upload `data`; returns (ETag, retries used). `cancelled` is asked before each
        attempt: an interrupted run does not sleep through its backoff."""
        url = self.url(bucket, key)
        retries = 0
        attempts = self.settings.max_attempts
        problem = ""
        for attempt in range(1, attempts + 1):
            if cancelled():
                raise TransferCancelledError(f"put s3://{bucket}/{key}: interrupted")
            headers = {"Content-Length": str(len(data))}
            if content_type:
                headers["Content-Type"] = content_type
            request = AWSRequest(method="PUT", url=url, data=data, headers=headers)
            S3SigV4Auth(self._credentials(), "s3", self.region).add_auth(request)
            try:
                response = self.pool.request(
                    "PUT",
                    url,
                    body=data,
                    headers=dict(request.headers.items()),
                    preload_content=True,
                )
            except urllib3.exceptions.HTTPError as err:
                problem = f"{type(err).__name__}: {err}"
            else:
                if response.status == 200:
                    return str(response.headers.get("ETag", "")), retries
                code = _error_code(response.data)
                if response.status not in RETRY_STATUS and code != "SlowDown":
                    raise _refusal(bucket, key, response.status, code, self.settings)
                problem = f"HTTP {response.status} {code}"
            if attempt < attempts:
                retries += 1
                _backoff(attempt)
        raise TransientPutError(f"put s3://{bucket}/{key} failed {attempts} times: {problem}")

    def get_into(
        self,
        bucket: str,
        key: str,
        out: IO[bytes],
        cancelled: Callable[[], bool] = lambda: False,
    ) -> tuple[int, int]:
        """Stream s3://bucket/key into `out` (a file opened for writing; rewound on a retry);
        returns (bytes, retries used). A body shorter than its Content-Length is retried."""
        url = self.url(bucket, key)
        retries, problem = 0, ""
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            if cancelled():
                raise TransferCancelledError(f"get s3://{bucket}/{key}: interrupted")
            request = AWSRequest(method="GET", url=url, data=b"", headers={})
            S3SigV4Auth(self._credentials(), "s3", self.region).add_auth(request)
            try:
                response = self.pool.request(
                    "GET", url, headers=dict(request.headers.items()), preload_content=False
                )
                try:
                    if response.status == 200:
                        out.seek(0)
                        out.truncate()
                        chunks = response.stream(GET_CHUNK)
                        moved = write_chunks(
                            chunks, out.write, cancelled, f"get s3://{bucket}/{key}"
                        )
                        expected = int(response.headers.get("Content-Length", moved))
                        if moved == expected:
                            return moved, retries
                        problem = f"got {moved} of {expected} bytes"
                    else:
                        code = _error_code(response.read())
                        if response.status not in RETRY_STATUS and code != "SlowDown":
                            if response.status == 404 and code != "NoSuchBucket":
                                raise ObjectNotFoundError(bucket, key)
                            raise _refusal(bucket, key, response.status, code, self.settings, "get")
                        problem = f"HTTP {response.status} {code}"
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as err:
                problem = f"{type(err).__name__}: {err}"
            if attempt < attempts:
                retries += 1
                _backoff(attempt)
        raise TransientPutError(f"get s3://{bucket}/{key} failed {attempts} times: {problem}")


def _backoff(attempt: int) -> None:
    """Full jitter, like botocore's standard mode."""
    time.sleep(random.uniform(0, min(20.0, 0.1 * 2**attempt)))


def _refusal(
    bucket: str, key: str, status: int, code: str, settings: Settings, op: str = "put"
) -> StorageError:
    if code == "NoSuchBucket":
        return BucketNotFoundError(bucket, settings.endpoint_url)
    text = f"{op} s3://{bucket}/{key} failed: HTTP {status} {code}".rstrip()
    if code in DENIED_CODES or status == 403:
        return AccessDeniedError(
            f"{text}: check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or the AWS role) and "
            "the key's permissions on this bucket"
        )
    return StorageError(text)


def _error_code(body: bytes) -> str:
    match = re.search(rb"<Code>([^<]+)</Code>", body or b"")
    return match.group(1).decode() if match else ""
