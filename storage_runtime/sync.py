"""Bulk transfer: a local directory to a bucket prefix, or a bucket prefix to a local directory.

    python -m storage_runtime sync ./output/results s3://jokbodude/results \\
        --pattern "{job_id}/{filename}" --key-template "results/{job_id}/{filename}"

- Skips what is already identical: same size and same ETag (MD5, or the multipart ETag
  computed locally with the same part size), or, with `--compare mtime`, same size and a
  remote copy at least as new; `--compare size` for size only.
- Memory is bounded whatever the file sizes: every body streams from disk (large files in
  8 MiB parts read from their slice of the file), with at most `concurrency` requests in flight.
- Never a partial object: a failed multipart upload is aborted, downloads land under a
  temporary name and are renamed when complete; before uploading, multipart uploads that an
  interrupted run left open for the keys about to be written are aborted (uploads of other
  keys are left alone: the bucket may be live), so a re-run is a clean resume.
- Transient errors (503/SlowDown, resets, timeouts) are retried by botocore (standard mode)
  and then per file; the report counts retries and lists every failure.
- `--delete` (only when asked) removes what the source no longer has; `--dry-run` changes
  nothing and prints what would happen.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import urllib3
from botocore.exceptions import BotoCoreError, ClientError

from storage_runtime.client import make_client
from storage_runtime.direct import DirectPut
from storage_runtime.errors import SettingsError, StorageError
from storage_runtime.keys import validate_key, validate_prefix
from storage_runtime.settings import Settings
from storage_runtime.store import multipart_upload

log = logging.getLogger(__name__)

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # also what aws-cli and s5cmd use, so their ETags compare equal
FILE_ATTEMPTS = 3
DELETE_BATCH = 1000


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class Location:
    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""

    @property
    def is_bucket(self) -> bool:
        return self.bucket is not None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.is_bucket else str(self.path)


def parse_location(text: str) -> Location:
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise SettingsError(f"{text!r} names no bucket; accepted: s3://bucket[/prefix/]")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Location(bucket=bucket, prefix=validate_prefix(prefix))
    return Location(path=Path(text))


class KeyMapper:
    """Relative path -> key. `pattern` matches the relative path (`{name}` is one segment,
    `{name*}` one or more); `template` builds the key from the captured names plus
    `{filename}` and `{path}` (the whole relative path)."""

    def __init__(
        self, prefix: str = "", pattern: str | None = None, template: str | None = None
    ) -> None:
        if (pattern is None) != (template is None):
            raise SettingsError("--pattern and --key-template go together")
        self.prefix, self.template = prefix, template
        self.regex = None
        if pattern is not None:
            parts = re.split(r"(\{\w+\*?\})", pattern)
            body = "".join(
                (f"(?P<{p[1:-2]}>.+)" if p.endswith("*}") else f"(?P<{p[1:-1]}>[^/]+)")
                if p.startswith("{")
                else re.escape(p)
                for p in parts
            )
            self.regex = re.compile(f"^{body}$")

    def key(self, rel: str) -> str | None:
        if self.regex is None or self.template is None:
            return validate_key(self.prefix + rel)
        match = self.regex.match(rel)
        if match is None:
            return None
        values = {**match.groupdict(), "filename": rel.rsplit("/", 1)[-1], "path": rel}
        return validate_key(self.template.format(**values))


# ------------------------------------------------------------------------------ report


@dataclass
class Report:
    files: int = 0
    transferred: int = 0
    bytes: int = 0
    skipped: int = 0
    deleted: int = 0
    unmatched: int = 0
    retried: int = 0
    aborted_uploads: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def fail(self, what: str, err: BaseException) -> None:
        with self._lock:
            self.failed.append((what, f"{type(err).__name__}: {err}"))

    def render(self) -> str:
        rate = self.bytes / self.seconds / MiB if self.seconds else 0.0
        lines = [
            f"{self.files} files: {self.transferred} transferred "
            f"({_human(self.bytes)}, {rate:.1f} MiB/s), {self.skipped} skipped as identical, "
            f"{self.deleted} deleted, {self.unmatched} not matching the pattern, "
            f"{self.retried} retries, {self.aborted_uploads} stale multipart uploads aborted, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s"
        ]
        lines += [f"  would {p}" for p in self.planned]
        lines += [f"  FAILED {what}: {why}" for what, why in self.failed]
        return "\n".join(lines)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """One line on stderr, refreshed twice a second: files, bytes and rate."""

    def __init__(self, report: Report, total_files: int, enabled: bool) -> None:
        self.report, self.total, self.enabled = report, total_files, enabled
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
            self._print()
            sys.stderr.write("\n")

    def _print(self) -> None:
        r, elapsed = self.report, max(time.monotonic() - self.start, 1e-9)
        done = r.transferred + r.skipped + len(r.failed)
        sys.stderr.write(
            f"\r{done}/{self.total} files  {_human(r.bytes)}  {r.bytes / elapsed / MiB:6.1f} MiB/s"
            f"  retries {r.retried}  failed {len(r.failed)}  "
        )
        sys.stderr.flush()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._print()


# ----------------------------------------------------------------------------- helpers


def local_etag(path: Path, size: int, part_size: int = PART_SIZE) -> str:
    """The ETag S3 gives `path` when uploaded in `part_size` parts (plain MD5 below that)."""
    with path.open("rb") as f:
        if size < part_size:
            return hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
        digests = []
        while chunk := f.read(part_size):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


class FileSlice(io.RawIOBase):
    """`length` bytes of a file from `offset`, read on demand: a part is sent (and hashed for
    its signature) straight from disk, so no part sits in memory. Seekable, so that botocore
    can rewind it for a retry."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = path.open("rb", buffering=0)
        self._offset, self._length, self._pos = offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = min(max(base + offset, 0), self._length)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._length - self._pos)
        if n <= 0:
            return 0
        self._file.seek(self._offset + self._pos)
        got = self._file.readinto(memoryview(buffer)[:n]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def _attempts(response: dict[str, Any]) -> int:
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


TRANSIENT = (BotoCoreError, ConnectionError, TimeoutError, urllib3.exceptions.HTTPError)


def _transient(err: BaseException) -> bool:
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = err.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError")
    return isinstance(err, TRANSIENT)


# -------------------------------------------------------------------------------- sync


class Syncer:
    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 16,
        compare: str = "checksum",
        delete: bool = False,
        dry_run: bool = False,
        progress: bool = False,
        part_size: int = PART_SIZE,
    ) -> None:
        if compare not in ("checksum", "size", "mtime"):
            raise SettingsError(f"compare {compare!r}; accepted: checksum, size, mtime")
        if part_size < 5 * MiB:
            raise SettingsError("part size must be at least 5 MiB (S3 and R2 minimum)")
        self.settings = replace(
            settings, max_concurrency=max(settings.max_concurrency, concurrency)
        )
        self.client = make_client(self.settings)
        # Small files go up as single signed PUTs without the client's per-call overhead.
        self.direct = DirectPut(self.settings, self.client.meta.endpoint_url, concurrency + 2)
        self.concurrency, self.compare, self.delete = concurrency, compare, delete
        self.dry_run, self.progress, self.part_size = dry_run, progress, part_size
        # Parts stream from disk, so memory does not grow with them; the slots bound the
        # parts in flight (and so the connections) across all files.
        self.slots = threading.BoundedSemaphore(concurrency)
        self.parts = ThreadPoolExecutor(concurrency, thread_name_prefix="part")

    def close(self) -> None:
        self.parts.shutdown(wait=True)
        self.direct.close()

    def __enter__(self) -> Syncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- listing

    def remote(self, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        out: dict[str, dict[str, Any]] = {}
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                out[item["Key"]] = item
        return out

    @staticmethod
    def local(root: Path) -> Iterator[tuple[str, Path]]:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".") and name.endswith(".part"):
                    continue  # our own temporary download files
                path = Path(dirpath) / name
                yield path.relative_to(root).as_posix(), path

    def _same(self, path: Path, stat: os.stat_result, remote: dict[str, Any], upload: bool) -> bool:
        """Identical enough to skip: same size, then the destination at least as new (mtime)
        or the same ETag (checksum)."""
        if remote["Size"] != stat.st_size:
            return False
        if self.compare == "size":
            return True
        if self.compare == "mtime":
            remote_time = remote["LastModified"].timestamp()
            return remote_time >= int(stat.st_mtime) if upload else stat.st_mtime >= remote_time
        return str(remote["ETag"]).strip('"') == local_etag(path, stat.st_size, self.part_size)

    def _retrying(self, what: str, fn: Callable[[], Any], report: Report) -> Any:
        """Bookkeeping calls (listings, aborts, batch deletes) get the per-file retries too."""
        for n in range(1, FILE_ATTEMPTS + 1):
            try:
                return fn()
            except Exception as err:
                if n == FILE_ATTEMPTS or not _transient(err):
                    raise StorageError(f"{what} failed: {err}") from err
                report.add(retried=1)
                time.sleep(0.2 * n)
        raise AssertionError("unreachable")

    def _run(self, jobs: list[tuple[str, Callable[[], int]]], report: Report) -> None:
        """Run (label, job) pairs with bounded concurrency; a job returns bytes moved."""

        def attempt(label: str, job: Callable[[], int]) -> None:
            for n in range(1, FILE_ATTEMPTS + 1):
                try:
                    moved = job()
                except Exception as err:
                    if n < FILE_ATTEMPTS and _transient(err):
                        report.add(retried=1)
                        log.info("retrying %s after %s", label, err)
                        time.sleep(0.2 * n)
                        continue
                    report.fail(label, err)
                    return
                report.add(transferred=1, bytes=moved)
                return

        with (
            Progress(report, report.files, self.progress),
            ThreadPoolExecutor(self.concurrency) as pool,
        ):
            futures = [pool.submit(attempt, label, job) for label, job in jobs]
            for future in as_completed(futures):
                future.result()

    # -------------------------------------------------------------------------- upload

    def upload(
        self, root: Path, bucket: str, prefix: str = "", mapper: KeyMapper | None = None
    ) -> Report:
        start, start_time = time.monotonic(), time.time()
        if not root.is_dir():
            raise SettingsError(f"source {root} is not a directory")
        mapper = mapper or KeyMapper(prefix)
        if self.delete and not prefix:
            raise SettingsError(
                "--delete needs a destination prefix (s3://bucket/prefix/): without one it "
                "would delete everything else in the bucket"
            )
        report = Report()
        remote = self._retrying("listing", lambda: self.remote(bucket, prefix), report)
        wanted: set[str] = set()
        pending: set[str] = set()
        jobs: list[tuple[str, Callable[[], int]]] = []
        for rel, path in self.local(root):
            report.files += 1
            key = mapper.key(rel)
            if key is None:
                report.unmatched += 1
                continue
            wanted.add(key)
            stat = path.stat()
            if key in remote and self._same(path, stat, remote[key], upload=True):
                report.skipped += 1
                continue
            if self.dry_run:
                report.planned.append(
                    f"upload {rel} -> s3://{bucket}/{key} ({_human(stat.st_size)})"
                )
                continue
            pending.add(key)
            jobs.append(
                (f"{rel} -> s3://{bucket}/{key}", self._upload_job(path, bucket, key, report))
            )
        if pending:
            report.aborted_uploads = self._retrying(
                "aborting open uploads",
                lambda: self._abort_open_uploads(bucket, prefix, pending, start_time),
                report,
            )
        self._run(jobs, report)
        if self.delete:
            extra = sorted(k for k in remote if k not in wanted)
            if self.dry_run:
                report.planned += [f"delete s3://{bucket}/{k}" for k in extra]
            else:
                self._delete_keys(bucket, extra, report)
        report.seconds = time.monotonic() - start
        return report

    def _upload_job(self, path: Path, bucket: str, key: str, report: Report) -> Callable[[], int]:
        def job() -> int:
            size = path.stat().st_size
            if size < self.part_size:
                _, retries = self.direct.put(bucket, key, path.read_bytes())
                report.add(retried=retries)
                return size
            return self._multipart(path, size, bucket, key, report)

        return job

    def _multipart(self, path: Path, size: int, bucket: str, key: str, report: Report) -> int:
        """Parts of equal size (R2's rule), each streamed from its slice of the file; at most
        `concurrency` parts in flight across all files."""
        with multipart_upload(self.client, bucket, key) as upload_id:

            def send(number: int, offset: int) -> dict[str, Any]:
                try:
                    with FileSlice(path, offset, min(self.part_size, size - offset)) as body:
                        r = self.client.upload_part(
                            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                        )
                    report.add(retried=_attempts(r))
                    return {"PartNumber": number, "ETag": r["ETag"]}
                finally:
                    self.slots.release()

            futures: list[Future[dict[str, Any]]] = []
            for number, offset in enumerate(range(0, size, self.part_size), start=1):
                self.slots.acquire()
                if any(fu.done() and fu.exception() for fu in futures):
                    self.slots.release()
                    break
                futures.append(self.parts.submit(send, number, offset))
            parts = [fu.result() for fu in futures]
            self._complete(bucket, key, upload_id, parts, size, report)
        return size

    def _complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[dict[str, Any]],
        size: int,
        report: Report,
    ) -> None:
        try:
            response = self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            report.add(retried=_attempts(response))
        except ClientError as err:
            # A retried Complete whose first attempt timed out after the server finished it
            # finds no upload any more: the object with its final size is the proof it worked.
            if err.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            head = self.client.head_object(Bucket=bucket, Key=key)
            if head["ContentLength"] != size or not str(head["ETag"]).endswith(f'-{len(parts)}"'):
                raise
            log.info("multipart upload of %s was completed by an earlier attempt", key)

    def _abort_open_uploads(self, bucket: str, prefix: str, keys: set[str], before: float) -> int:
        """Abort multipart uploads an interrupted run left open, for the keys this run is
        about to write and started before it; uploads of other keys (a live application's)
        are left alone."""
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Key"] in keys and upload["Initiated"].timestamp() < before:
                    self.client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    def _delete_keys(self, bucket: str, keys: list[str], report: Report) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            request = {"Objects": [{"Key": k} for k in batch], "Quiet": True}

            def delete(request: dict[str, Any] = request) -> Any:
                return self.client.delete_objects(Bucket=bucket, Delete=request)

            response = self._retrying("delete batch", delete, report)
            errors = response.get("Errors") or []
            for e in errors:
                report.failed.append((f"delete s3://{bucket}/{e.get('Key')}", str(e.get("Code"))))
            report.add(deleted=len(batch) - len(errors))

    # ------------------------------------------------------------------------ download

    def download(self, bucket: str, prefix: str, root: Path) -> Report:
        start = time.monotonic()
        report = Report()
        remote = self._retrying("listing", lambda: self.remote(bucket, prefix), report)
        jobs: list[tuple[str, Callable[[], int]]] = []
        wanted: set[Path] = set()
        for key, item in sorted(remote.items()):
            if key.endswith("/"):
                continue  # "folder" markers
            report.files += 1
            rel = key[len(prefix) :]
            target = root / rel
            if ".." in Path(rel).parts:
                report.fail(key, StorageError("key escapes the destination directory"))
                continue
            wanted.add(target)
            if target.is_file() and self._same(target, target.stat(), item, upload=False):
                report.skipped += 1
                continue
            if self.dry_run:
                report.planned.append(f"download s3://{bucket}/{key} -> {target}")
                continue
            jobs.append(
                (
                    f"s3://{bucket}/{key} -> {target}",
                    self._download_job(bucket, key, target, report),
                )
            )
        self._run(jobs, report)
        if self.delete and root.is_dir():
            extra = sorted(p for _, p in self.local(root) if p not in wanted)
            if self.dry_run:
                report.planned += [f"delete {p}" for p in extra]
            else:
                for p in extra:
                    p.unlink()
                report.add(deleted=len(extra))
        report.seconds = time.monotonic() - start
        return report

    def _download_job(
        self, bucket: str, key: str, target: Path, report: Report
    ) -> Callable[[], int]:
        def job() -> int:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            moved = 0
            try:
                with os.fdopen(fd, "wb") as out:
                    response = self.client.get_object(Bucket=bucket, Key=key)
                    report.add(retried=_attempts(response))
                    for chunk in response["Body"].iter_chunks(1 * MiB):
                        out.write(chunk)
                        moved += len(chunk)
                if moved != response["ContentLength"]:
                    raise StorageError(f"got {moved} of {response['ContentLength']} bytes")
                os.replace(tmp, target)  # atomic: never a partial file under the real name
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            return moved

        return job


def sync(
    src: str,
    dst: str,
    settings: Settings | None = None,
    *,
    pattern: str | None = None,
    key_template: str | None = None,
    **options: Any,
) -> Report:
    """Library form of `python -m storage_runtime sync SRC DST`."""
    source, target = parse_location(src), parse_location(dst)
    if source.is_bucket == target.is_bucket:
        raise SettingsError("sync needs one local directory and one s3://bucket/prefix")
    base = settings or Settings.from_env()
    bucket = target.bucket if target.is_bucket else source.bucket
    assert bucket is not None
    if base.provider not in ("s3", "minio"):
        raise SettingsError(
            "sync needs S3 settings (OBJECT_STORE=s3 or STORAGE_PROVIDER=minio), "
            f"not {base.provider!r}"
        )
    with Syncer(replace(base, bucket=bucket), **options) as syncer:
        if target.is_bucket:
            assert source.path is not None
            mapper = KeyMapper(target.prefix, pattern, key_template)
            return syncer.upload(source.path, bucket, target.prefix, mapper)
        if pattern or key_template:
            raise SettingsError("--pattern/--key-template map local paths to keys: uploads only")
        assert target.path is not None
        return syncer.download(bucket, source.prefix, target.path)
