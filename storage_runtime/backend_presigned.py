"""Seed 001's backend-presigned uploads, client side: a service without storage credentials
asks a backend (storage_runtime.broker, or any backend with the same contract) for presigned
URLs, uploads, then reports completion.

`BackendPresignedUploader` runs presign -> PUT -> complete with a bearer token. Files up to
BACKEND_MULTIPART_THRESHOLD_BYTES (64 MiB) go in one PUT whose URL signs their SHA-256, so
the store refuses other bytes; larger ones in parts (presign-multipart -> a PUT per part, four
at a time -> complete-multipart), so a 2 GiB render never needs one 2 GiB request. Every PUT
is retried on 429/5xx and dropped connections (STORAGE_MAX_ATTEMPTS, backoff with jitter); a
failed multipart upload is aborted. Failures raise `StorageUploadError` naming the step and
the HTTP status, in the seed's words:

    size:     Storage upload failed for '<key>': File size 150.5MB exceeds limit 100.0MB
    presign:  Storage upload failed for '<key>': Presign request failed: HTTP 500
    upload:   Storage upload failed for '<upload url>': Upload to presigned URL failed: HTTP 403
    complete: Storage upload failed for '<key>': Complete notification failed: HTTP 500

A refusal the backend explains (the broker's JSON error) is appended: `HTTP 403
(forbidden_key: object key 'users/1/a.fit' is outside the allowed prefixes 'videos/')`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from storage_runtime.checksums import CHECKSUM_HEADER, sha256_of
from storage_runtime.direct import RETRY_STATUS, backoff
from storage_runtime.errors import FileChangedError, StorageUploadError, UploadTooLargeError
from storage_runtime.files import BufferBody, FileSlice, FileState, content_type_for
from storage_runtime.keys import validate_key
from storage_runtime.settings import Settings
from storage_runtime.store import MiB

log = logging.getLogger(__name__)
T = TypeVar("T")
TIMEOUT_SECONDS = 30
#: Parts in flight at once: enough to fill a link, few enough for a render node's memory and
#: sockets (parts stream from disk, so memory does not grow with the part size).
PART_CONCURRENCY = 4
#: Backend answers worth another try (overload, a restarting backend); a 500 is a bug or a
#: refusal, retried by whoever runs the job, not here.
BACKEND_RETRY_STATUS = frozenset({429, 502, 503, 504})

Data = bytes | bytearray | memoryview | str | os.PathLike[str]


@dataclass(frozen=True)
class StorageResult:
    key: str
    url: str | None
    size_bytes: int
    content_type: str
    etag: str


def _detail(err: urllib.error.HTTPError) -> str:
    """` (error: message)` from a JSON error body, else ''."""
    try:
        body = json.loads(err.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if isinstance(body, dict) and body.get("message"):
        return f" ({body.get('error', 'error')}: {body['message']})"
    return ""


def _still_the_same(key: str, unchanged: Callable[[], None]) -> None:
    """A file that changed while it was sent is not completed (the upload is refused)."""
    try:
        unchanged()
    except FileChangedError as err:
        raise StorageUploadError(key, str(err), step="upload") from err


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
        self.attempts = settings.max_attempts

    def __repr__(self) -> str:
        return f"BackendPresignedUploader(base={self.base!r})"

    # ------------------------------------------------------------------ backend calls

    def _retried(
        self,
        send: Callable[[], T],
        retry_status: frozenset[int],
        failed: Callable[[str, int | None], StorageUploadError],
        *,
        explained: bool = False,
    ) -> T:
        """`send()`, again on `retry_status` and dropped connections (STORAGE_MAX_ATTEMPTS,
        backoff with jitter); `failed(problem, status)` is raised when it gives up.
        `explained`: the problem quotes a JSON error body (the broker's refusals)."""
        problem, status = "", None
        for attempt in range(1, self.attempts + 1):
            try:
                return send()
            except urllib.error.HTTPError as err:
                problem, status = f"HTTP {err.code}{_detail(err) if explained else ''}", err.code
                if err.code not in retry_status:
                    raise failed(problem, status) from err
            except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
                problem, status = str(getattr(err, "reason", err)), None
            if attempt < self.attempts:
                log.info("%s, attempt %d of %d", problem, attempt, self.attempts)
                backoff(attempt)
        raise failed(problem, status)

    def _call(
        self, path: str, payload: dict[str, Any], *, key: str, step: str, label: str
    ) -> dict[str, Any]:
        data = json.dumps(payload).encode()
        headers = {
            "Authorization": f"Bearer {self.settings.backend_service_token}",
            "Content-Type": "application/json",
        }

        def send() -> bytes:
            request = urllib.request.Request(
                self.base + path, data=data, method="POST", headers=headers
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return bytes(response.read())

        def failed(problem: str, status: int | None) -> StorageUploadError:
            return StorageUploadError(key, f"{label} failed: {problem}", step=step, status=status)

        body = self._retried(send, BACKEND_RETRY_STATUS, failed, explained=True)
        try:
            answer = json.loads(body or b"{}")
        except ValueError as err:
            raise failed("response is not JSON", None) from err
        if not isinstance(answer, dict):
            raise failed("response is not an object", None)
        return answer

    def _presign(self, path: str, request: dict[str, Any], key: str) -> dict[str, Any]:
        if "content_type" in request and not request["content_type"]:
            del request["content_type"]  # the backend chooses one from the key's name
        return self._call(path, request, key=key, step="presign", label="Presign request")

    # ------------------------------------------------------------------------ uploads

    def put_object(self, data: Data, key: str, content_type: str | None = None) -> StorageResult:
        """Upload bytes or a file (a path: streamed from disk, never read whole). Without a
        content type, the backend chooses one from the key's name. An empty body works."""
        validate_key(key)
        path: Path | None = None
        if isinstance(data, bytes | bytearray | memoryview):
            view = memoryview(data).cast("B")
            size = len(view)
        else:
            path = Path(data)
            view = memoryview(b"")
            try:
                state = FileState.read(path)
            except OSError as err:
                raise StorageUploadError(
                    key, f"cannot read {path}: {err.strerror or err}", step="size"
                ) from err
            size = state.size
        limit = self.settings.max_upload_bytes
        if size > limit:
            reason = f"File size {size / MiB:.1f}MB exceeds limit {limit / MiB:.1f}MB"
            raise StorageUploadError(key, reason, step="size") from UploadTooLargeError(reason)

        def body(offset: int, length: int) -> IO[bytes]:
            if path is None:
                return BufferBody(view[offset : offset + length])  # type: ignore[return-value]
            return FileSlice(path, offset, length)  # type: ignore[return-value]

        def unchanged() -> None:
            if path is not None:
                state.check(path, str(path))

        if size > self.settings.backend_multipart_threshold_bytes:
            result = self._multipart(key, size, content_type, body, unchanged)
        else:
            result = self._single(key, size, content_type, body, unchanged)
        log.info("uploaded %s (%d bytes) through the backend", key, size)
        return result

    def _single(
        self,
        key: str,
        size: int,
        content_type: str | None,
        body: Callable[[int, int], IO[bytes]],
        unchanged: Callable[[], None],
    ) -> StorageResult:
        with contextlib.closing(body(0, size)) as stream:
            checksum = sha256_of(stream)
        request: dict[str, Any] = {
            "object_key": key,
            "content_length": size,
            "checksum_sha256": checksum,
            "content_type": content_type,
        }
        presigned = self._presign(self.settings.backend_presign_path, request, key)
        upload_url = str(presigned.get("upload_url") or "")
        if not upload_url:
            raise StorageUploadError(key, "Presign request failed: no upload_url", step="presign")
        headers = {str(k): str(v) for k, v in (presigned.get("headers") or {}).items()}
        sent_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        if sent_type is None:
            # urllib would send application/x-www-form-urlencoded; the type is unsigned here
            sent_type = content_type or content_type_for(key)
            headers["Content-Type"] = sent_type
        signed = any(k.lower() == CHECKSUM_HEADER for k in headers)
        headers["Content-Length"] = str(size)
        etag = self._put(upload_url, lambda: body(0, size), headers)
        _still_the_same(key, unchanged)
        public = presigned.get("public_url")
        done: dict[str, Any] = {
            "object_key": key,
            "etag": etag,
            "size_bytes": size,
            "content_type": sent_type,
            "public_url": public,
        }
        if signed:
            done["checksum_sha256"] = checksum
        self._call(
            self.settings.backend_complete_path,
            done,
            key=key,
            step="complete",
            label="Complete notification",
        )
        return StorageResult(key, public, size, sent_type, etag)

    def _multipart(
        self,
        key: str,
        size: int,
        content_type: str | None,
        body: Callable[[int, int], IO[bytes]],
        unchanged: Callable[[], None],
    ) -> StorageResult:
        request = {"object_key": key, "content_length": size, "content_type": content_type}
        plan = self._presign(self.settings.backend_presign_multipart_path, request, key)
        upload_id = str(plan.get("upload_id") or "")
        parts = plan.get("parts") or []
        part_size = plan.get("part_size")
        if not upload_id or not parts or not isinstance(part_size, int):
            raise StorageUploadError(
                key, "Presign request failed: no upload_id, part_size or parts", step="presign"
            )
        with self._aborted_unless_completed(key, upload_id):
            etags = self._send_parts(parts, part_size, size, body)
            _still_the_same(key, unchanged)
            sent_type = str(plan.get("content_type") or content_type or content_type_for(key))
            done = self._call(
                self.settings.backend_complete_multipart_path,
                {
                    "object_key": key,
                    "upload_id": upload_id,
                    "size_bytes": size,
                    "parts": [{"part_number": n, "etag": e} for n, e in sorted(etags.items())],
                    "content_type": sent_type,
                    "public_url": plan.get("public_url"),
                },
                key=key,
                step="complete",
                label="Complete notification",
            )
        return StorageResult(key, plan.get("public_url"), size, sent_type, str(done.get("etag")))

    @contextlib.contextmanager
    def _aborted_unless_completed(self, key: str, upload_id: str) -> Iterator[None]:
        """Abort the multipart upload if anything fails before it completes (the parts
        would otherwise be stored, and billed, until the bucket's lifecycle rule)."""
        try:
            yield
        except BaseException:
            try:
                self._call(
                    self.settings.backend_abort_multipart_path,
                    {"object_key": key, "upload_id": upload_id},
                    key=key,
                    step="upload",
                    label="Abort request",
                )
            except StorageUploadError as err:
                log.warning("could not abort multipart upload %s of %s: %s", upload_id, key, err)
            raise

    def _send_parts(
        self,
        parts: list[dict[str, Any]],
        part_size: int,
        size: int,
        body: Callable[[int, int], IO[bytes]],
    ) -> dict[int, str]:
        """PUT every part (PART_CONCURRENCY at a time); the first failure stops the rest."""
        expected = -(-size // part_size)
        numbers = [p.get("part_number") for p in parts]
        if numbers != list(range(1, expected + 1)):
            raise StorageUploadError(
                "(presign-multipart)",
                f"Presign request failed: parts {numbers} do not cover {size} bytes in "
                f"parts of {part_size}",
                step="presign",
            )
        etags: dict[int, str] = {}

        def one(part: dict[str, Any]) -> None:
            number = int(part["part_number"])
            offset = (number - 1) * part_size
            length = min(part_size, size - offset)
            headers = {
                "Content-Length": str(length),
                # unsigned; without it urllib sends application/x-www-form-urlencoded
                "Content-Type": "application/octet-stream",
            }
            etags[number] = self._put(
                str(part["upload_url"]), lambda: body(offset, length), headers
            )

        with ThreadPoolExecutor(
            min(PART_CONCURRENCY, self.settings.max_concurrency), thread_name_prefix="part"
        ) as pool:
            futures: list[Future[None]] = [pool.submit(one, p) for p in parts]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                f.cancel()  # parts not started yet are not sent after a failure
            for f in finished:
                f.result()  # raises the failure; without one, every part is in `finished`
        return etags

    def _put(self, url: str, body: Callable[[], IO[bytes]], headers: dict[str, str]) -> str:
        """PUT to a presigned URL, retried on 429/5xx and dropped connections; the ETag."""

        def send() -> str:
            with contextlib.closing(body()) as stream:
                request = urllib.request.Request(url, data=stream, method="PUT", headers=headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return str(response.headers.get("ETag", ""))

        def failed(problem: str, status: int | None) -> StorageUploadError:
            reason = f"Upload to presigned URL failed: {problem}"
            return StorageUploadError(url, reason, step="upload", status=status)

        try:
            return self._retried(send, RETRY_STATUS, failed)
        except FileChangedError as err:
            raise StorageUploadError(url, str(err), step="upload") from err

    def delete_object(self, key: str) -> None:
        validate_key(key)
        self._call(
            self.settings.backend_delete_path,
            {"object_key": key},
            key=key,
            step="delete",
            label="Delete request",
        )
