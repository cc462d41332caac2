"""ObjectStore: the operations the seed applications perform, on S3, R2 or an S3-compatible
server; LocalStore: the same on a directory (the fallback when no object store is configured).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from storage_runtime.client import make_client
from storage_runtime.errors import (
    ObjectNotFoundError,
    PresignError,
    StorageError,
    UploadTooLargeError,
)
from storage_runtime.keys import validate_key, validate_prefix
from storage_runtime.settings import MAX_PRESIGN_SECONDS, Settings

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MiB
MAX_PARTS = 10_000
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request

Body = bytes | bytearray | memoryview | IO[bytes] | str | os.PathLike[str]


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    content_type: str | None = None
    last_modified: Any = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True)
class PutResult:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class PresignedPut:
    """What a client needs for a presigned PUT: send exactly `headers`, `method` to `url`."""

    url: str
    headers: dict[str, str]
    expires_in: int
    method: str = "PUT"


def _check_expiry(expires: int) -> int:
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise PresignError(
            f"expiry {expires} s is out of bounds; accepted: 1-{MAX_PRESIGN_SECONDS} (7 days)"
        )
    return expires


CLOCK_SKEW_SECONDS = 300


def abort_quietly(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload; a failure to abort is logged, not raised over the original
    error."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError):
        log.warning("could not abort multipart upload %s of %s", upload_id, key)


@contextlib.contextmanager
def multipart_upload(client: Any, bucket: str, key: str, **extra: Any) -> Iterator[str]:
    """A multipart upload that never stays open: aborted if the body fails, and, either way,
    any other upload of this key started meanwhile is aborted too. That one comes from a
    CreateMultipartUpload the server executed but whose answer was lost (a timeout or a reset)
    before botocore retried it: its id was never seen, so nothing else would ever finish it."""
    since = time.time() - CLOCK_SKEW_SECONDS
    upload_id = str(client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"])
    try:
        yield upload_id
    except BaseException:
        abort_quietly(client, bucket, key, upload_id)
        raise
    finally:
        _abort_orphans(client, bucket, key, upload_id, since)


def _abort_orphans(client: Any, bucket: str, key: str, keep: str, since: float) -> None:
    try:
        uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    except (ClientError, BotoCoreError):
        log.warning("could not list the multipart uploads of %s", key)
        return
    for upload in uploads:
        initiated = upload["Initiated"].timestamp()
        if upload["Key"] == key and upload["UploadId"] != keep and initiated >= since:
            abort_quietly(client, bucket, key, upload["UploadId"])


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes; fewer only at the end of the stream."""
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class ObjectStore:
    """Operations on one bucket through a shared, preconfigured client."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        if settings.provider not in ("s3", "minio"):
            raise StorageError(f"ObjectStore needs provider s3 or minio, not {settings.provider!r}")
        self.settings = settings
        self.bucket = settings.bucket
        self.client = client or make_client(settings)
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            # Equal part sizes (R2 requires every part but the last to be the same size).
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_concurrency=settings.max_concurrency,
            use_threads=True,
        )

    def __repr__(self) -> str:
        return f"ObjectStore(bucket={self.bucket!r}, endpoint={self.settings.endpoint_url!r})"

    # ---------------------------------------------------------------------------- errors

    def _wrap(self, op: str, key: str, err: ClientError) -> StorageError:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            return ObjectNotFoundError(self.bucket, key)
        message = err.response.get("Error", {}).get("Message", "")
        return StorageError(f"{op} s3://{self.bucket}/{key} failed: {code} {message}".rstrip())

    # ------------------------------------------------------------------------------ write

    def put(
        self,
        key: str,
        body: Body,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        size_hint: int | None = None,
    ) -> PutResult:
        """Store bytes, a file path or a binary stream. Above 8 MiB the upload is multipart
        with bounded memory (parts of equal size, at most `max_concurrency` in flight); a
        failed multipart upload is aborted, so no partial object is ever visible."""
        validate_key(key)
        extra: dict[str, Any] = {}
        if content_type:
            extra["ContentType"] = content_type
        if metadata:
            extra["Metadata"] = metadata
        try:
            if isinstance(body, bytes | bytearray | memoryview):
                data = bytes(body)
                if len(data) < MULTIPART_THRESHOLD:
                    response = self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=data, **extra
                    )
                    return PutResult(key, response["ETag"], len(data))
                stream: IO[bytes] = io.BytesIO(data)
                size_hint = len(data)
            elif isinstance(body, str | os.PathLike):
                path = Path(body)
                with path.open("rb") as handle:
                    return self._upload_stream(key, handle, extra, path.stat().st_size)
            else:
                stream = body
            return self._upload_stream(key, stream, extra, size_hint)
        except ClientError as err:
            raise self._wrap("put", key, err) from err

    def _upload_stream(
        self, key: str, stream: IO[bytes], extra: dict[str, Any], size: int | None
    ) -> PutResult:
        """Read `stream` part by part: at most `max_concurrency` parts in flight plus the one
        being read, whatever the total size. (s3transfer buffers a non-seekable stream whole.)"""
        part_size = MULTIPART_THRESHOLD
        if size is not None and size > part_size * MAX_PARTS:
            part_size = -(-size // MAX_PARTS)  # stay within 10,000 parts, all of one size
        first = _read_exactly(stream, part_size)
        if len(first) < part_size:
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=first, **extra)
            return PutResult(key, response["ETag"], len(first))
        with multipart_upload(self.client, self.bucket, key, **extra) as upload_id:
            return self._send_parts(key, upload_id, stream, first, part_size)

    def _send_parts(
        self, key: str, upload_id: str, stream: IO[bytes], first: bytes, part_size: int
    ) -> PutResult:
        slots = threading.BoundedSemaphore(self.settings.max_concurrency)
        total = 0

        def send(number: int, chunk: bytes) -> dict[str, Any]:
            try:
                r = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                return {"PartNumber": number, "ETag": r["ETag"]}
            finally:
                slots.release()

        futures: list[Future[dict[str, Any]]] = []
        with ThreadPoolExecutor(self.settings.max_concurrency) as pool:
            chunk, number = first, 1
            while chunk:
                # A free slot before another part is sent: at most max_concurrency parts
                # in flight plus the one just read, whatever the total size.
                slots.acquire()
                if any(f.done() and f.exception() for f in futures):
                    slots.release()
                    break  # a part failed: stop reading; the abort below cleans up
                total += len(chunk)
                futures.append(pool.submit(send, number, chunk))
                number += 1
                chunk = _read_exactly(stream, part_size)
            parts = [f.result() for f in futures]
        response = self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return PutResult(key, response["ETag"], total)

    def copy(self, source_key: str, dest_key: str) -> None:
        validate_key(source_key)
        validate_key(dest_key)
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=dest_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
            )
        except ClientError as err:
            raise self._wrap("copy", source_key, err) from err

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            raise self._wrap("delete", key, err) from err

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (1,000 per request). Returns how many.
        An empty prefix is refused: deleting a whole bucket is never a side effect."""
        if not prefix:
            raise StorageError("delete_prefix('') would empty the bucket; pass a prefix")
        validate_prefix(prefix)
        deleted = 0
        batch: list[dict[str, str]] = []

        def flush() -> None:
            nonlocal deleted
            if not batch:
                return
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": list(batch), "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"delete_prefix s3://{self.bucket}/{prefix}: {len(errors)} keys not deleted, "
                    f"e.g. {first.get('Key')}: {first.get('Code')}"
                )
            deleted += len(batch)
            batch.clear()

        try:
            for info in self.list(prefix):
                batch.append({"Key": info.key})
                if len(batch) == DELETE_BATCH:
                    flush()
            flush()
        except ClientError as err:
            raise self._wrap("delete_prefix", prefix, err) from err
        log.info("deleted %d objects under s3://%s/%s", deleted, self.bucket, prefix)
        return deleted

    # ------------------------------------------------------------------------------- read

    def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        try:
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            raise self._wrap("head", key, err) from err
        return ObjectInfo(
            key,
            r["ContentLength"],
            r["ETag"],
            r.get("ContentType"),
            r.get("LastModified"),
            r.get("Metadata"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFoundError:
            return False
        return True

    def get(self, key: str) -> bytes:
        validate_key(key)
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except ClientError as err:
            raise self._wrap("get", key, err) from err

    def stream(self, key: str, chunk_size: int = 1 * MiB) -> Iterator[bytes]:
        """The object's bytes in chunks, without holding it in memory."""
        validate_key(key)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as err:
            raise self._wrap("stream", key, err) from err
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def download(self, key: str, path: str | os.PathLike[str]) -> Path:
        """Download to `path` atomically: a partial file never appears under its name."""
        validate_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, key, tmp, Config=self.transfer)
            os.replace(tmp, target)
        except ClientError as err:
            raise self._wrap("download", key, err) from err
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, page by page (1,000 keys per request)."""
        validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        item["Key"],
                        item["Size"],
                        item["ETag"],
                        last_modified=item.get("LastModified"),
                    )
        except ClientError as err:
            raise self._wrap("list", prefix, err) from err

    # ---------------------------------------------------------------------- presigning

    def presign_get(
        self, key: str, *, expires: int | None = None, filename: str | None = None
    ) -> str:
        """A GET URL valid for `expires` seconds (default SIGNED_URL_EXPIRES_SECONDS);
        `filename` makes browsers download it under that name."""
        validate_key(key)
        params = {"Bucket": self.bucket, "Key": key}
        if filename:
            safe = filename.replace('"', "").replace("\\", "")
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params=params,
                ExpiresIn=_check_expiry(expires or self.settings.signed_url_expires_seconds),
            )
        )

    def presign_put(
        self, key: str, *, content_type: str, content_length: int, expires: int | None = None
    ) -> PresignedPut:
        """A PUT URL that accepts exactly one body: the signature covers Content-Type and
        Content-Length, so another type or size is refused by the server (R2 has no
        presigned POST, so this is how upload size is bounded there)."""
        validate_key(key)
        if not content_type:
            raise PresignError("presign_put needs a content type")
        if content_length < 1:
            raise PresignError(f"content length {content_length} is not positive")
        limit = self.settings.max_upload_bytes
        if content_length > limit:
            raise UploadTooLargeError(
                f"File size {content_length / MiB:.1f}MB exceeds limit {limit / MiB:.1f}MB"
            )
        seconds = _check_expiry(expires or self.settings.signed_url_expires_seconds)
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": content_length,
            },
            ExpiresIn=seconds,
        )
        headers = {"Content-Type": content_type, "Content-Length": str(content_length)}
        return PresignedPut(str(url), headers, seconds)


class LocalStore:
    """The same operations on a directory, for development and for apps whose object store is
    not configured (seed 000). No presigned URLs: serve files directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.local_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def put(self, key: str, body: Body, *, content_type: str | None = None, **_: Any) -> PutResult:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as out:
            if isinstance(body, bytes | bytearray | memoryview):
                out.write(body)
            elif isinstance(body, str | os.PathLike):
                with open(body, "rb") as src:
                    shutil.copyfileobj(src, out, 1 * MiB)
            else:
                shutil.copyfileobj(body, out, 1 * MiB)
        os.replace(tmp, target)
        return PutResult(key, "", target.stat().st_size)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(str(self.root), key) from None

    def stream(self, key: str, chunk_size: int = 1 * MiB) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFoundError(str(self.root), key) from None
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def download(self, key: str, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(self._path(key), target)
        except FileNotFoundError:
            raise ObjectNotFoundError(str(self.root), key) from None
        return target

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(str(self.root), key)
        return ObjectInfo(key, path.stat().st_size, "")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.endswith(".part"):
                yield ObjectInfo(key, path.stat().st_size, "")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise StorageError("delete_prefix('') would empty the store; pass a prefix")
        keys = [info.key for info in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def copy(self, source_key: str, dest_key: str) -> None:
        target = self._path(dest_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(source_key), target)

    def presign_get(self, key: str, **_: Any) -> str:
        raise PresignError("the local store has no presigned URLs; serve the file itself")

    def presign_put(self, key: str, **_: Any) -> PresignedPut:
        raise PresignError("the local store has no presigned URLs; accept the upload itself")


def open_store(settings: Settings) -> ObjectStore | LocalStore:
    """The store the settings describe (backend_presigned apps use BackendPresignedUploader)."""
    if settings.provider == "local":
        return LocalStore(settings)
    return ObjectStore(settings)
