"""ObjectStore: the operations the seed applications perform, on S3, R2 or an S3-compatible
server; LocalStore: the same on a directory (the fallback when no object store is configured).

Bodies: `bytes` (or bytearray/memoryview), a binary file object, or a `pathlib.Path` (any
`os.PathLike`). A `str` is refused: it could be text or a path, and guessing either way loses
data. Every failure is a StorageError (errors.py) with the botocore/urllib3 error chained.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import queue
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from storage_runtime.checksums import (
    CHECKSUM_HEADER,
    NO_CHECKSUM_CHOICES,
    ConfirmedUpload,
    NoChecksum,
    digest_chunks,
    full_object_checksum,
    plain_etag,
    sha256_base64,
)
from storage_runtime.client import make_client
from storage_runtime.errors import (
    CLIENT_FAILURES,
    BucketNotFoundError,
    InvalidBodyError,
    InvalidRequestError,
    ObjectNotFoundError,
    PresignError,
    StorageError,
    TransferCancelledError,
    UploadNotConfirmedError,
    UploadTooLargeError,
    translate,
)
from storage_runtime.files import (
    BufferBody,
    FileSlice,
    FileState,
    content_type_for,
    is_temp,
    replacing,
    valid_content_type,
    write_chunks,
)
from storage_runtime.keys import validate_key, validate_prefix
from storage_runtime.settings import MAX_PRESIGN_SECONDS, Settings

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MiB
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * MiB  # S3 and R2 refuse smaller parts (but the last)
MAX_SINGLE_PUT = 5 * 1024**3  # S3's (and R2's, nearly) largest single PUT
DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request
CHUNK = 1 * MiB

Body = bytes | bytearray | memoryview | IO[bytes] | os.PathLike[str]
#: The parts of one upload: (body, release), release called once the part is sent.
Parts = Iterator[tuple[io.RawIOBase, Callable[[], None]]]
T = TypeVar("T")
X = TypeVar("X")


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

    @property
    def browser_headers(self) -> dict[str, str]:
        """`headers` without Content-Length, which `fetch` refuses to set (it sends the
        body's own length, which the signature then checks)."""
        return {k: v for k, v in self.headers.items() if k.lower() != "content-length"}


def _check_expiry(expires: object) -> int:
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise PresignError(f"expiry {expires!r} is not a whole number of seconds")
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise PresignError(
            f"expiry {expires} s is out of bounds; accepted: 1-{MAX_PRESIGN_SECONDS} (7 days)"
        )
    return expires


def content_disposition(filename: str) -> str:
    """RFC 6266 `attachment` with an ASCII fallback and the exact name as RFC 5987 UTF-8:
    non-ASCII names survive, and CR, LF, quotes and backslashes never reach the header."""
    clean = "".join(c for c in filename if c.isprintable() and c not in "\r\n")
    clean = clean.replace("/", "_").replace("\\", "_").strip() or "download"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"%' else "_" for c in clean)
    value = f'attachment; filename="{fallback}"'
    if fallback != clean:
        value += f"; filename*=UTF-8''{urllib.parse.quote(clean, safe='')}"
    return value


def _check_body(body: object) -> None:
    if isinstance(body, str):
        raise InvalidBodyError(
            "body is a str; pass bytes (text.encode()), a binary file object, or a "
            "pathlib.Path to upload a file"
        )


class PartRegistry(Protocol):
    """Told about every multipart upload this process opens and closes (sync keeps one per
    run, so an interrupted run can abort exactly its own uploads)."""

    def opened(self, bucket: str, key: str, upload_id: str) -> None: ...

    def closed(self, upload_id: str, aborted: bool = False) -> None: ...


def abort_quietly(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort a multipart upload; a failure to abort is logged, not raised over the original
    error."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except CLIENT_FAILURES:
        log.warning("could not abort multipart upload %s of %s", upload_id, key)


@contextlib.contextmanager
def multipart_upload(
    client: Any, bucket: str, key: str, registry: PartRegistry | None = None, **extra: Any
) -> Iterator[str]:
    """A multipart upload that never stays open: aborted if the body fails.

    Only this upload is ever aborted. Another upload of the same key may be another writer's
    (both finish; the last to complete wins), so none is touched. A CreateMultipartUpload
    that the server executed but whose answer was lost before botocore retried it leaves an
    upload whose id this process never saw: the bucket's abort-incomplete-multipart lifecycle
    rule (every bucket of the stack has one) removes it; no clean-up here could tell it from
    another writer's."""
    upload_id = str(client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"])
    try:
        if registry is not None:
            registry.opened(bucket, key, upload_id)  # may raise: an interrupted run aborts it
        yield upload_id
    except BaseException:
        abort_quietly(client, bucket, key, upload_id)
        if registry is not None:
            registry.closed(upload_id, aborted=True)
        raise
    else:
        if registry is not None:
            registry.closed(upload_id)


def complete_multipart(
    client: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]], size: int
) -> dict[str, Any]:
    """CompleteMultipartUpload, whose answer (with its ETag) is returned. A retried Complete
    whose first attempt timed out after the server finished it finds no upload any more: the
    object with its final size and part count is the proof it worked (its HEAD is returned)."""
    try:
        response: dict[str, Any] = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return response
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "NoSuchUpload":
            raise
        head: dict[str, Any] = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != size or not str(head["ETag"]).endswith(f'-{len(parts)}"'):
            raise
        log.info("multipart upload of %s was completed by an earlier attempt", key)
        return head


def _never() -> bool:
    return False


class PartSender:
    """Sends parts of multipart uploads through one pool: at most `concurrency` parts in
    flight, whichever uploads they belong to."""

    def __init__(self, client: Any, concurrency: int) -> None:
        self.client = client
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="part")
        self.slots = threading.BoundedSemaphore(concurrency)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def slot(self, cancelled: Callable[[], bool]) -> bool:
        """Wait for a free slot; False (and no slot held) if the run is interrupted."""
        while not self.slots.acquire(timeout=0.2):
            if cancelled():
                return False
        if cancelled():
            self.slots.release()
            return False
        return True

    def run(
        self,
        items: Iterable[X],
        work: Callable[[X], T],
        cancelled: Callable[[], bool],
        what: str,
        unsent: Callable[[X], None] = lambda item: None,
    ) -> list[T]:
        """`work(item)` for each item in the pool, each holding a slot while it runs. After a
        failure or an interrupt nothing more starts (`unsent` gets the item that did not);
        waits for what started, then raises the first failure, or TransferCancelledError
        naming `what` if the run was interrupted."""

        def held(item: X) -> T:
            try:
                return work(item)
            finally:
                self.slots.release()

        futures: list[Future[T]] = []
        try:
            for item in items:
                if any(f.done() and f.exception() for f in futures) or not self.slot(cancelled):
                    unsent(item)
                    break
                futures.append(self.pool.submit(held, item))
        finally:
            results = [f.result() for f in futures]
        if cancelled():
            raise TransferCancelledError(f"{what}: interrupted")
        return results

    def send(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        bodies: Parts,
        *,
        cancelled: Callable[[], bool] = _never,
        attempts: Callable[[int], None] = lambda n: None,
    ) -> list[dict[str, Any]]:
        """Upload every (body, release) of `bodies` as parts 1, 2, ...; `release` is called
        when the part is done with its body. Returns the parts for CompleteMultipartUpload;
        raises the first part's failure (the caller's multipart_upload aborts)."""

        def one(part: tuple[int, tuple[io.RawIOBase, Callable[[], None]]]) -> dict[str, Any]:
            number, (body, release) = part
            try:
                with contextlib.closing(body):
                    r = self.client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                    )
                attempts(int(r.get("ResponseMetadata", {}).get("RetryAttempts", 0)))
                return {"PartNumber": number, "ETag": r["ETag"]}
            finally:
                release()

        def unsent(part: tuple[int, tuple[io.RawIOBase, Callable[[], None]]]) -> None:
            _, (body, release) = part
            body.close()
            release()

        what = f"upload of s3://{bucket}/{key}"
        return self.run(enumerate(bodies, start=1), one, cancelled, what, unsent)


def file_parts(path: Path, size: int, part_size: int) -> Parts:
    for offset in range(0, size, part_size):
        yield FileSlice(path, offset, min(part_size, size - offset)), _nothing


def _nothing() -> None:
    pass


def buffer_parts(view: memoryview, part_size: int) -> Parts:
    for offset in range(0, len(view), part_size):
        yield BufferBody(view[offset : offset + part_size]), _nothing


def _fill(stream: IO[bytes], buffer: bytearray) -> int:
    """Fill `buffer` from `stream`; fewer bytes only at the end of the stream."""
    view, got = memoryview(buffer), 0
    readinto = getattr(stream, "readinto", None)
    while got < len(buffer):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            chunk = stream.read(len(buffer) - got)
            n = len(chunk) if chunk else 0
            view[got : got + n] = chunk or b""
        if not n:
            break
        got += n
    return got


class StreamParts:
    """The parts of a non-seekable stream, read into a fixed set of `count` buffers that are
    reused: memory stays at `count` parts whatever the stream's length (and no 8 MiB
    allocations churn the heap). `first` is read eagerly, to choose single PUT or multipart."""

    def __init__(self, stream: IO[bytes], part_size: int, count: int) -> None:
        self.stream, self.part_size = stream, part_size
        self.free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(count - 1):
            self.free.put(bytearray(part_size))
        self.first = bytearray(part_size)
        self.first_size = _fill(stream, self.first)
        self.total = 0

    def __iter__(self) -> Parts:
        buffer, size = self.first, self.first_size
        while size:
            self.total += size
            yield BufferBody(memoryview(buffer)[:size]), functools.partial(self.free.put, buffer)
            if size < self.part_size:
                return
            buffer = self.free.get()
            size = _fill(self.stream, buffer)
        self.free.put(buffer)


def download_object(client: Any, bucket: str, key: str, target: Path) -> int:
    """GET s3://bucket/key into `target` atomically: streamed into a temporary file beside it
    (created with the umask), checked for length, renamed over `target`. The temporary file is
    removed on any failure. Returns the bytes written."""
    with replacing(target) as (out, _tmp):
        response = client.get_object(Bucket=bucket, Key=key)
        with contextlib.closing(response["Body"]) as body:
            moved = write_chunks(body.iter_chunks(CHUNK), out.write, _never, key)
        if moved != response["ContentLength"]:
            raise StorageError(
                f"download s3://{bucket}/{key}: got {moved} of {response['ContentLength']} bytes"
            )
    return moved


class ObjectStore:
    """Operations on one bucket through a shared, preconfigured client."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        if settings.provider not in ("s3", "minio"):
            raise StorageError(f"ObjectStore needs provider s3 or minio, not {settings.provider!r}")
        self.settings = settings
        self.bucket = settings.bucket
        self.client = client or make_client(settings)

    def __repr__(self) -> str:
        return f"ObjectStore(bucket={self.bucket!r}, endpoint={self.settings.endpoint_url!r})"

    # ---------------------------------------------------------------------------- errors

    @contextlib.contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        """Every botocore/urllib3 failure inside becomes a StorageError naming op and key."""
        try:
            yield
        except StorageError:
            raise
        except CLIENT_FAILURES as err:
            raise translate(
                err, op=op, bucket=self.bucket, key=key, endpoint=self.settings.endpoint_url
            ) from err

    def _missing(self, key: str) -> StorageError:
        """A 404 without a body (HEAD) is a missing key or a missing bucket: ask which."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except CLIENT_FAILURES as err:
            error = translate(
                err, op="head", bucket=self.bucket, key="", endpoint=self.settings.endpoint_url
            )
            if isinstance(error, ObjectNotFoundError):
                return BucketNotFoundError(self.bucket, self.settings.endpoint_url)
            return error
        return ObjectNotFoundError(self.bucket, key)

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
        """Store bytes, a file (a Path) or a binary stream. The Content-Type defaults to the
        one for the key's name (files.content_type_for). Above 8 MiB the upload is multipart
        with equal parts: a file is read part by part from disk, a stream into at most
        `max_concurrency + 1` reused part buffers. A failed multipart upload is aborted, so
        no partial object is ever visible; a file that changes while it is read stores
        nothing (FileChangedError)."""
        validate_key(key)
        _check_body(body)
        extra: dict[str, Any] = {"ContentType": content_type or content_type_for(key)}
        if metadata:
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
                raise InvalidRequestError(f"put {key!r}: metadata must map str to str")
            extra["Metadata"] = metadata
        with self._errors("put", key):
            if isinstance(body, bytes | bytearray | memoryview):
                view = memoryview(body).cast("B")
                if len(view) < MULTIPART_THRESHOLD:
                    response = self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=bytes(view), **extra
                    )
                    return PutResult(key, response["ETag"], len(view))
                part = part_size_for(len(view))
                with multipart_upload(self.client, self.bucket, key, **extra) as upload_id:
                    return self._send(key, upload_id, buffer_parts(view, part), len(view))
            if isinstance(body, os.PathLike):
                return self._put_file(key, Path(body), extra)
            return self._put_stream(key, body, extra, size_hint)

    def _send(
        self,
        key: str,
        upload_id: str,
        bodies: Any,
        size: int | Callable[[], int],
        before_complete: Callable[[], None] = lambda: None,
    ) -> PutResult:
        sender = PartSender(self.client, self.settings.max_concurrency)
        try:
            parts = sender.send(self.bucket, key, upload_id, bodies)
        finally:
            sender.close()
        before_complete()
        total = size() if callable(size) else size
        response = complete_multipart(self.client, self.bucket, key, upload_id, parts, total)
        return PutResult(key, response["ETag"], total)

    def _put_file(self, key: str, path: Path, extra: dict[str, Any]) -> PutResult:
        with path.open("rb") as handle:
            state = FileState.read(handle.fileno())
            if state.size < MULTIPART_THRESHOLD:
                data = handle.read()
                state.check(path, str(path))
                response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
                return PutResult(key, response["ETag"], len(data))
        part = part_size_for(state.size)
        with multipart_upload(self.client, self.bucket, key, **extra) as upload_id:
            return self._send(
                key,
                upload_id,
                file_parts(path, state.size, part),
                state.size,
                lambda: state.check(path, str(path)),
            )

    def _put_stream(
        self, key: str, stream: IO[bytes], extra: dict[str, Any], size: int | None
    ) -> PutResult:
        """(s3transfer would buffer a non-seekable stream whole.)"""
        part = part_size_for(size) if size is not None else MULTIPART_THRESHOLD
        parts = StreamParts(stream, part, self.settings.max_concurrency + 1)
        if parts.first_size < part:
            data = bytes(memoryview(parts.first)[: parts.first_size])
            response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)
            return PutResult(key, response["ETag"], len(data))
        with multipart_upload(self.client, self.bucket, key, **extra) as upload_id:
            return self._send(key, upload_id, iter(parts), lambda: parts.total)

    def copy(self, source_key: str, dest_key: str) -> None:
        validate_key(source_key)
        validate_key(dest_key)
        with self._errors("copy", source_key):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=dest_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
            )

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

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

        with self._errors("delete_prefix", prefix):
            for info in self.list(prefix):
                batch.append({"Key": info.key})
                if len(batch) == DELETE_BATCH:
                    flush()
            flush()
        log.info("deleted %d objects under s3://%s/%s", deleted, self.bucket, prefix)
        return deleted

    # ------------------------------------------------------------------------------- read

    def head(self, key: str) -> ObjectInfo:
        """The object's size, ETag, type and metadata; ObjectNotFoundError if the key does not
        exist, BucketNotFoundError if the bucket does not."""
        validate_key(key)
        try:
            with self._errors("head", key):
                r = self.client.head_object(Bucket=self.bucket, Key=key)
        except ObjectNotFoundError:
            raise self._missing(key) from None
        return ObjectInfo(
            key,
            r["ContentLength"],
            r["ETag"],
            r.get("ContentType"),
            r.get("LastModified"),
            r.get("Metadata"),
        )

    def exists(self, key: str) -> bool:
        """False only for a missing key; a missing bucket raises BucketNotFoundError."""
        try:
            self.head(key)
        except ObjectNotFoundError:
            return False
        return True

    def get(self, key: str) -> bytes:
        validate_key(key)
        with self._errors("get", key):
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def stream(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """The object's bytes in chunks, without holding it in memory."""
        validate_key(key)
        with self._errors("stream", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    def download(self, key: str, path: str | os.PathLike[str]) -> Path:
        """Download to `path` atomically: a partial file never appears under its name; the
        file gets the process umask like any other new file."""
        validate_key(key)
        target = Path(path)
        with self._errors("download", key):
            target.parent.mkdir(parents=True, exist_ok=True)
            download_object(self.client, self.bucket, key, target)
        return target

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, page by page (1,000 keys per request)."""
        validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        item["Key"],
                        item["Size"],
                        item["ETag"],
                        last_modified=item.get("LastModified"),
                    )

    # ---------------------------------------------------------------------- presigning

    def presign_get(
        self, key: str, *, expires: int | None = None, filename: str | None = None
    ) -> str:
        """A GET URL valid for `expires` seconds (default SIGNED_URL_EXPIRES_SECONDS; 1 s to
        7 days, anything else is refused); `filename` makes browsers download it under that
        name (RFC 6266, UTF-8 names included)."""
        validate_key(key)
        seconds = _check_expiry(
            self.settings.signed_url_expires_seconds if expires is None else expires
        )
        params = {"Bucket": self.bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        with self._errors("presign_get", key):
            return str(
                self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
            )

    def presign_put(
        self,
        key: str,
        *,
        content_length: int,
        content_type: str | None = None,
        sha256: str | bytes | None = None,
        expires: int | None = None,
    ) -> PresignedPut:
        """A PUT URL that accepts exactly one body: the signature covers Content-Type and
        Content-Length, so another type or size is refused by the server (R2 has no
        presigned POST, so this is how upload size is bounded there). With `sha256` (base64
        or hex of the digest) the URL also signs `x-amz-checksum-sha256`: the server then
        refuses any other bytes of that size (400 BadDigest) and stores the checksum, which
        `confirm_upload` compares. An empty body (content_length 0) is accepted; the
        Content-Type defaults to the one for the key's name. Send exactly `headers`
        (a browser sets Content-Length itself)."""
        validate_key(key)
        if content_type is None:
            content_type = content_type_for(key)
        if not valid_content_type(content_type):
            raise PresignError(
                f"content type {content_type!r} is not TYPE/SUBTYPE (e.g. video/mp4)"
            )
        if isinstance(content_length, bool) or not isinstance(content_length, int):
            raise PresignError(f"content length {content_length!r} is not a whole number")
        if content_length < 0:
            raise PresignError(f"content length {content_length} is negative")
        limit = self.settings.max_upload_bytes
        if content_length > limit:
            raise UploadTooLargeError(
                f"File size {content_length / MiB:.1f}MB exceeds limit {limit / MiB:.1f}MB"
            )
        if content_length > MAX_SINGLE_PUT:
            raise UploadTooLargeError(
                f"File size {content_length / MiB:.1f}MB is over the 5 GiB of one PUT; "
                "upload it in parts (multipart)"
            )
        seconds = _check_expiry(
            self.settings.signed_url_expires_seconds if expires is None else expires
        )
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": content_length,
        }
        headers = {"Content-Type": content_type, "Content-Length": str(content_length)}
        if sha256 is not None:
            params["ChecksumSHA256"] = headers[CHECKSUM_HEADER] = sha256_base64(sha256)
        with self._errors("presign_put", key):
            url = self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=seconds)
        return PresignedPut(str(url), headers, seconds)

    # ------------------------------------------------------------ confirming uploads

    def confirm_upload(
        self,
        key: str,
        *,
        size: int,
        sha256: str | bytes | None = None,
        etag: str | None = None,
        if_no_checksum: NoChecksum = "refuse",
    ) -> ConfirmedUpload:
        """Check that `key` holds what the uploader declared before anything records it:
        the size, the ETag when given, and the SHA-256 (base64 or hex) when given. The
        SHA-256 is compared with the checksum the server stored (a presigned PUT with
        `sha256=` makes it store one). An object stored without one (uploaded some other
        way, or on a server that keeps none) is refused (`no-checksum`) unless the caller
        chooses: `if_no_checksum="download"` reads the object back and hashes it (one GET,
        pinned to the ETag just seen), `"accept"` settles for size and ETag (the result
        says so in `checks`). Raises UploadNotConfirmedError whose `check` names what
        failed: missing, size, etag, checksum or no-checksum."""
        validate_key(key)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidRequestError(
                f"confirm_upload {key!r}: size {size!r} is not a whole number >= 0"
            )
        if if_no_checksum not in NO_CHECKSUM_CHOICES:
            raise InvalidRequestError(
                f"if_no_checksum={if_no_checksum!r}; accepted: {', '.join(NO_CHECKSUM_CHOICES)}"
            )
        wanted = sha256_base64(sha256) if sha256 is not None else None
        try:
            with self._errors("confirm_upload", key):
                r = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ObjectNotFoundError:
            error = self._missing(key)
            if isinstance(error, ObjectNotFoundError):
                raise UploadNotConfirmedError(
                    key, "missing", f"s3://{self.bucket}/{key} does not exist"
                ) from None
            raise error from None
        stored_size, stored_etag = int(r["ContentLength"]), str(r.get("ETag", ""))
        if stored_size != size:
            raise UploadNotConfirmedError(
                key,
                "size",
                f"{stored_size} bytes stored, {size} declared",
                expected=size,
                actual=stored_size,
            )
        checks = ["size"]
        if etag is not None:
            if plain_etag(etag) != plain_etag(stored_etag):
                raise UploadNotConfirmedError(
                    key,
                    "etag",
                    f"ETag {stored_etag} stored, {etag} declared",
                    expected=etag,
                    actual=stored_etag,
                )
            checks.append("etag")
        verified: str | None = None
        if wanted is not None:
            stored = full_object_checksum(r.get("ChecksumSHA256"))
            if stored is not None:
                actual, check = stored, "sha256"
            elif if_no_checksum == "download":
                actual, check = self._sha256_of_version(key, stored_etag), "sha256-download"
            elif if_no_checksum == "accept":
                actual, check = None, "accepted-without-checksum"
            else:
                kind = "a multipart (composite)" if r.get("ChecksumSHA256") else "no"
                raise UploadNotConfirmedError(
                    key,
                    "no-checksum",
                    f"the object carries {kind} SHA-256 checksum to compare (was it uploaded "
                    "with a presigned PUT that signed the checksum?); pass "
                    "if_no_checksum='download' to read it back and hash it, or 'accept' for "
                    "size and ETag only",
                    expected=wanted,
                )
            if actual is not None and actual != wanted:
                raise UploadNotConfirmedError(
                    key,
                    "checksum",
                    f"SHA-256 {actual} stored, {wanted} declared",
                    expected=wanted,
                    actual=actual,
                )
            verified = actual
            checks.append(check)
        return ConfirmedUpload(
            key, stored_size, stored_etag, verified, tuple(checks), r.get("ContentType")
        )

    def _sha256_of_version(self, key: str, etag: str) -> str:
        """The SHA-256 of the object's content, read in chunks; If-Match pins the read to
        the version whose size was just checked."""
        with self._errors("confirm_upload", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=etag)["Body"]
            with contextlib.closing(body):
                return digest_chunks(body.iter_chunks(CHUNK))


def part_size_for(size: int, minimum: int = MULTIPART_THRESHOLD) -> int:
    """`minimum`-sized parts (8 MiB), larger when needed to stay within 10,000 parts, all of one
    size."""
    return max(minimum, -(-size // MAX_PARTS))


class LocalStore:
    """The same operations on a directory, for development and for apps whose object store is
    not configured (seed 000): the same keys are accepted (`.part` names and nested keys
    included), a missing key raises ObjectNotFoundError, and files are written to a temporary
    name beside their target and renamed. No presigned URLs: serve files directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = Path(settings.local_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.bucket = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    @contextlib.contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFoundError(str(self.root), key) from None
        except OSError as err:
            raise StorageError(f"{op} {key!r} in {self.root}: {err}") from err

    def put(self, key: str, body: Body, *, content_type: str | None = None, **_: Any) -> PutResult:
        target = self._path(key)
        _check_body(body)
        if target.is_dir():
            raise StorageError(
                f"put {key!r} in {self.root}: a directory of that name holds other keys"
            )
        with self._errors("put", key):
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as (out, _tmp):
                if isinstance(body, bytes | bytearray | memoryview):
                    out.write(body)
                elif isinstance(body, os.PathLike):
                    with open(body, "rb") as src:
                        shutil.copyfileobj(src, out, CHUNK)
                else:
                    shutil.copyfileobj(body, out, CHUNK)
            return PutResult(key, "", target.stat().st_size)

    def get(self, key: str) -> bytes:
        with self._errors("get", key):
            return self._path(key).read_bytes()

    def stream(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        with self._errors("stream", key):
            handle = self._path(key).open("rb")
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def download(self, key: str, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        with self._errors("download", key):
            source = self._path(key).open("rb")
        with source, self._errors("download", key):
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as (out, _tmp):
                shutil.copyfileobj(source, out, CHUNK)
        return target

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFoundError(str(self.root), key)
        return ObjectInfo(key, path.stat().st_size, "", content_type_for(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every key under `prefix` in key order, like a bucket listing; only our own
        temporary files (a write in progress) are left out."""
        validate_prefix(prefix)
        found = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file() and not is_temp(path.name):
                found.append((key, path))
        for key, path in sorted(found):
            yield ObjectInfo(key, path.stat().st_size, "")

    def delete(self, key: str) -> None:
        """Deleting a missing key is not an error (as on S3)."""
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise StorageError("delete_prefix('') would empty the store; pass a prefix")
        keys = [info.key for info in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)

    def copy(self, source_key: str, dest_key: str) -> None:
        with self._errors("copy", source_key):
            data = self._path(source_key).open("rb")
        with data:
            self.put(dest_key, data)

    def presign_get(self, key: str, **_: Any) -> str:
        raise PresignError("the local store has no presigned URLs; serve the file itself")

    def presign_put(self, key: str, **_: Any) -> PresignedPut:
        raise PresignError("the local store has no presigned URLs; accept the upload itself")


def open_store(settings: Settings) -> ObjectStore | LocalStore:
    """The store the settings describe (backend_presigned apps use BackendPresignedUploader)."""
    if settings.provider == "local":
        return LocalStore(settings)
    return ObjectStore(settings)
