"""Seed 001's backend-presigned uploads: a service without storage credentials asks a
backend for a presigned PUT, uploads, then reports completion.

Server side (the backend holds the credentials): `presign_put(store, ...)` answers
`POST /internal/storage/presign-put`. Client side (the AI server): `BackendPresignedUploader`
runs presign -> PUT -> complete with a bearer token and raises `StorageUploadError` naming the
failed step and HTTP status:

    size:     Storage upload failed for '<key>': File size 150.5MB exceeds limit 100.0MB
    presign:  Storage upload failed for '<key>': Presign request failed: HTTP 500
    upload:   Storage upload failed for '<upload url>': Upload to presigned URL failed: HTTP 403
    complete: Storage upload failed for '<key>': Complete notification failed: HTTP 500
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from storage_runtime.errors import StorageUploadError, UploadTooLargeError
from storage_runtime.keys import validate_key
from storage_runtime.settings import Settings
from storage_runtime.store import MiB, ObjectStore
from storage_runtime.urls import public_url

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 30


def presign_put(
    store: ObjectStore, object_key: str, content_type: str, content_length: int
) -> dict[str, Any]:
    """The backend's answer to presign-put: upload_url, public_url, headers, expires_sec.
    Enforces the store's max_upload_bytes (VIDEO_MAX_UPLOAD_BYTES)."""
    presigned = store.presign_put(
        object_key, content_type=content_type, content_length=content_length
    )
    base = store.settings.public_base_url
    return {
        "upload_url": presigned.url,
        "public_url": public_url(base, object_key) if base else None,
        "headers": {"Content-Type": content_type},
        "expires_sec": presigned.expires_in,
    }


@dataclass(frozen=True)
class StorageResult:
    key: str
    url: str | None
    size_bytes: int
    content_type: str
    etag: str


class BackendPresignedUploader:
    """Uploads through a backend's presign/complete API; holds no storage credentials."""

    def __init__(self, settings: Settings, timeout: float = TIMEOUT_SECONDS) -> None:
        if not settings.backend_base_url or not settings.backend_service_token:
            raise StorageUploadError(
                "(settings)", "BACKEND_BASE_URL and BACKEND_SERVICE_TOKEN are required", step="size"
            )
        self.settings = settings
        self.base = settings.backend_base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"BackendPresignedUploader(base={self.base!r})"

    def _call(
        self, path: str, payload: dict[str, Any], *, key: str, step: str, label: str
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.settings.backend_service_token}",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise StorageUploadError(
                key, f"{label} failed: HTTP {err.code}", step=step, status=err.code
            ) from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise StorageUploadError(key, f"{label} failed: {reason}", step=step) from err
        try:
            return dict(json.loads(body or b"{}"))
        except ValueError as err:
            raise StorageUploadError(
                key, f"{label} failed: response is not JSON", step=step
            ) from err

    def put_object(
        self, data: bytes | str | os.PathLike[str], key: str, content_type: str
    ) -> StorageResult:
        """Upload bytes or a file (streamed from disk, not read into memory)."""
        validate_key(key)
        size = len(data) if isinstance(data, bytes | bytearray) else Path(data).stat().st_size
        limit = self.settings.max_upload_bytes
        if size > limit:
            reason = f"File size {size / MiB:.1f}MB exceeds limit {limit / MiB:.1f}MB"
            raise StorageUploadError(key, reason, step="size") from UploadTooLargeError(reason)
        presigned = self._call(
            self.settings.backend_presign_path,
            {"object_key": key, "content_type": content_type, "content_length": size},
            key=key,
            step="presign",
            label="Presign request",
        )
        upload_url = str(presigned.get("upload_url") or "")
        if not upload_url:
            raise StorageUploadError(key, "Presign request failed: no upload_url", step="presign")
        headers = {**(presigned.get("headers") or {}), "Content-Length": str(size)}
        etag = self._upload(upload_url, data, headers)
        public = presigned.get("public_url")
        self._call(
            self.settings.backend_complete_path,
            {
                "object_key": key,
                "etag": etag,
                "size_bytes": size,
                "content_type": content_type,
                "public_url": public,
            },
            key=key,
            step="complete",
            label="Complete notification",
        )
        log.info("uploaded %s (%d bytes) through the backend", key, size)
        return StorageResult(key, public, size, content_type, etag)

    def _upload(
        self, url: str, data: bytes | str | os.PathLike[str], headers: dict[str, str]
    ) -> str:
        with contextlib.ExitStack() as stack:
            # a file is streamed from disk with its Content-Length, never read whole
            body: bytes | IO[bytes] = (
                bytes(data)
                if isinstance(data, bytes | bytearray)
                else stack.enter_context(Path(data).open("rb"))
            )
            request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return str(response.headers.get("ETag", ""))
            except urllib.error.HTTPError as err:
                raise StorageUploadError(
                    url,
                    f"Upload to presigned URL failed: HTTP {err.code}",
                    step="upload",
                    status=err.code,
                ) from err
            except (urllib.error.URLError, OSError) as err:
                raise StorageUploadError(
                    url, f"Upload to presigned URL failed: {err}", step="upload"
                ) from err

    def delete_object(self, key: str) -> None:
        validate_key(key)
        self._call(
            self.settings.backend_delete_path,
            {"object_key": key},
            key=key,
            step="delete",
            label="Delete request",
        )
