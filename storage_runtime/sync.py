"""Bulk transfer: a local directory to a bucket prefix, or a bucket prefix to a local directory.

    python -m storage_runtime sync ./output/results s3://jokbodude/results/ \\
        --pattern "{job_id}/{filename}" --key-template "{job_id}/{filename}"

- Skips what is already identical: same size and same ETag (MD5, or the multipart ETag
  computed locally with the same part size), or, with `--compare mtime`, same size and a
  destination copy at least as new; `--compare size` for size only.
- Keys live under the destination prefix: `--key-template` builds the part after it, so the
  listing, the identical-skip and `--delete` all see the same keys; `--delete` prunes only
  keys the template could have made.
- Nothing lost: `--delete` deletes nothing in a run where any source path could not be read,
  listed or transferred (each is named in the report), nor when the source is empty (unless
  `--allow-empty-source`). A download never writes outside its destination, whatever the key.
- Nothing half-written: a multipart upload is aborted when it fails, and a file that changes
  while it is uploaded stores nothing; downloads land under a temporary name (created with
  the umask) and are renamed when complete. Only uploads this run started are ever aborted:
  another writer of the same key may be at work (the last to finish wins); the uploads a
  killed run leaves are removed by the bucket's abort-incomplete-multipart lifecycle rule.
- Interrupted (SIGINT/SIGTERM, or `cancel` set): no new transfer starts, this run's open
  multipart uploads are aborted and its temporary files removed, the report says so. A later
  download run removes the temporary files of a run that was killed.
- Memory is bounded whatever the file sizes: bodies stream from disk (large files in 8 MiB
  parts read from their slice of the file), with at most `concurrency` requests in flight.
- Transient errors (503/SlowDown, resets, timeouts) are retried by botocore (standard mode)
  and then per file; the report counts retries and lists every failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat as stat_module
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from storage_runtime.client import make_client
from storage_runtime.direct import DirectPut, TransientPutError
from storage_runtime.errors import (
    CLIENT_FAILURES,
    InvalidKeyError,
    SettingsError,
    StorageConnectionError,
    StorageError,
    TransferCancelledError,
    translate,
)
from storage_runtime.files import (
    FileState,
    content_type_for,
    is_stale_temp,
    is_temp,
    replacing,
    valid_content_type,
    write_chunks,
)
from storage_runtime.keys import validate_key, validate_prefix
from storage_runtime.settings import Settings
from storage_runtime.store import (
    MIN_PART_BYTES,
    PartSender,
    complete_multipart,
    file_parts,
    multipart_upload,
)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
PART_SIZE = 8 * MiB  # also what aws-cli and s5cmd use, so their ETags compare equal
FILE_ATTEMPTS = 3
DELETE_BATCH = 1000
#: After an interrupt, how long transfers in flight get to stop by themselves.
GRACE_SECONDS = 2.0
#: Large downloads go in ranges of this size, in parallel (fewer, larger requests than the
#: upload's 8 MiB parts: a range costs a request, not memory, as it streams to disk).
RANGE_SIZE = 32 * MiB
#: Read size of a range's body: small enough that the allocator recycles it in every thread
#: (1 MiB reads in 16 threads kept ~25 MiB more resident).
RANGE_CHUNK = 256 * 1024


def shown(text: str) -> str:
    """A name as it can be printed: control characters and bytes that are not UTF-8 (file
    names in another encoding) escaped, so that a report line is one line and never raises."""
    raw = os.fsencode(text) if isinstance(text, str) else text
    decoded = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in decoded)


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
        try:
            return Location(bucket=bucket, prefix=validate_prefix(prefix))
        except InvalidKeyError as err:
            raise SettingsError(f"{text!r}: the prefix is not usable: {err}") from None
    return Location(path=Path(text))


_PLACEHOLDER = re.compile(r"\{(\w+)(\*?)\}")


class KeyMapper:
    """Relative path -> key under `prefix`. `pattern` matches the relative path (`{name}` is
    one segment, `{name*}` one or more); `template` builds the rest of the key (after the
    destination prefix) from the captured names plus `{filename}` and `{path}` (the whole
    relative path). A template that could leave the prefix is refused."""

    def __init__(
        self, prefix: str = "", pattern: str | None = None, template: str | None = None
    ) -> None:
        if (pattern is None) != (template is None):
            raise SettingsError("--pattern and --key-template go together")
        self.prefix, self.template = prefix, template
        self.regex = None
        self.key_space: re.Pattern[str] | None = None  # None: every key under the prefix
        if pattern is None or template is None:
            return
        names = [m.group(1) for m in _PLACEHOLDER.finditer(pattern)]
        if len(names) != len(set(names)):
            raise SettingsError(f"--pattern {pattern!r} names a placeholder twice")
        if re.sub(_PLACEHOLDER, "", pattern).count("{") or "}" in re.sub(_PLACEHOLDER, "", pattern):
            raise SettingsError(
                f"--pattern {pattern!r}: placeholders are {{name}} (one segment) or {{name*}}"
            )
        parts = re.split(r"(\{\w+\*?\})", pattern)
        body = "".join(
            (f"(?P<{p[1:-2]}>.+)" if p.endswith("*}") else f"(?P<{p[1:-1]}>[^/]+)")
            if p.startswith("{")
            else re.escape(p)
            for p in parts
        )
        self.regex = re.compile(f"^{body}$")
        accepted = list(dict.fromkeys([*names, "filename", "path"]))
        try:
            fields = list(string.Formatter().parse(template))
        except ValueError as err:
            raise SettingsError(f"--key-template {template!r}: {err}") from None
        # what a placeholder can hold: one segment, or several for {name*} and {path}
        many = {m.group(1) for m in _PLACEHOLDER.finditer(pattern) if m.group(2)} | {"path"}
        literal, space = "", ""
        for text, name, spec, conversion in fields:
            literal += text
            space += re.escape(text)
            if name is None:
                continue
            if name not in accepted or spec or conversion:
                raise SettingsError(
                    f"--key-template {template!r}: unknown placeholder {{{name}}}; accepted: "
                    + ", ".join(f"{{{n}}}" for n in accepted)
                )
            literal += "x"
            space += ".+" if name in many else "[^/]+"
        # --delete prunes only keys the template could have made: the rest of the prefix
        # (another job's results beside `archive/...`) is not this sync's to delete
        self.key_space = re.compile(f"^{re.escape(prefix)}{space}$")
        if not literal or literal.startswith("/") or "\\" in literal:
            raise SettingsError(
                f"--key-template {template!r} would leave the destination prefix "
                f"{prefix or '(the bucket root)'!r}: it is relative to it, without a leading "
                "'/', '..' or '\\'"
            )
        segments = literal.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise SettingsError(
                f"--key-template {template!r} would leave the destination prefix "
                f"{prefix or '(the bucket root)'!r}: no '..', '.' or empty segments"
            )

    def key(self, rel: str) -> str | None:
        """The key for `rel` (None: the pattern does not match); InvalidKeyError when the
        key cannot be used (the file fails, the rest goes on)."""
        if self.regex is None or self.template is None:
            return validate_key(self.prefix + rel)
        match = self.regex.match(rel)
        if match is None:
            return None
        values = {**match.groupdict(), "filename": rel.rsplit("/", 1)[-1], "path": rel}
        return validate_key(self.prefix + self.template.format(**values))

    def could_make(self, key: str) -> bool:
        """Whether `key` (under the prefix) is in the template's key space."""
        return self.key_space is None or self.key_space.match(key) is not None


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
    removed_parts: int = 0
    not_started: int = 0
    interrupted: str | None = None
    delete_refused: str | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def fail(self, what: str, err: BaseException | str) -> None:
        why = err if isinstance(err, str) else _reason(err)
        with self._lock:
            self.failed.append((shown(what), shown(why)))

    def render(self) -> str:
        rate = self.bytes / self.seconds / MiB if self.seconds else 0.0
        lines = [
            f"{self.files} files: {self.transferred} transferred "
            f"({_human(self.bytes)}, {rate:.1f} MiB/s), {self.skipped} skipped as identical, "
            f"{self.deleted} deleted, {self.unmatched} not matching the pattern, "
            f"{self.retried} retries, {len(self.failed)} failed in {self.seconds:.1f} s"
        ]
        if self.removed_parts:
            lines.append(f"  removed {self.removed_parts} temporary files a killed run left")
        lines += [f"  would {p}" for p in self.planned]
        lines += [f"  FAILED {what}: {why}" for what, why in self.failed]
        if self.delete_refused:
            lines.append(f"  NOT DELETED: {self.delete_refused}")
        if self.interrupted:
            lines.append(
                f"  INTERRUPTED by {self.interrupted}: {self.not_started} transfers not "
                f"started, {self.aborted_uploads} of this run's multipart uploads aborted, its "
                "temporary files removed; run it again to finish"
            )
        return "\n".join(lines)


def _reason(err: BaseException) -> str:
    if isinstance(err, StorageError):
        return str(err)
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return f"{type(err).__name__}: {err}"


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


@dataclass(frozen=True)
class LocalFile:
    rel: str
    path: Path
    stat: os.stat_result


def walk(
    root: Path, problems: list[tuple[str, str]], *, follow: bool = True
) -> Iterator[LocalFile]:
    """The regular files under `root` in sorted order, with their relative '/' paths.

    With `follow`, symlinks to files and directories are followed (a loop back into an
    ancestor is a problem, not an endless walk). Every path that cannot be listed or stat'ed
    (unreadable directory, broken symlink, symlink loop, not a regular file) is appended to
    `problems` as (relative path, reason) instead of being skipped silently. Our own
    temporary download files are never listed."""

    def visit(
        directory: Path, rel: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[LocalFile]:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as err:
            where = rel.rstrip("/") or "."
            problems.append((where, f"cannot list the directory: {err.strerror or err}"))
            return
        for entry in entries:
            entry_rel = f"{rel}{entry.name}"
            if is_temp(entry.name):
                continue
            try:
                if entry.is_symlink() and not follow:
                    continue  # never followed, never deleted through
                st = os.stat(entry.path) if follow else entry.stat(follow_symlinks=False)
            except OSError as err:
                reason = (
                    "a symlink loop"
                    if getattr(err, "errno", None) == 40
                    else "a broken symlink"
                    if entry.is_symlink()
                    else f"cannot read it: {err.strerror or err}"
                )
                problems.append((entry_rel, reason))
                continue
            if stat_module.S_ISDIR(st.st_mode):
                identity = (st.st_dev, st.st_ino)
                if identity in ancestors:
                    problems.append((entry_rel, "a symlink loop (links back to a parent)"))
                    continue
                yield from visit(Path(entry.path), entry_rel + "/", ancestors | {identity})
            elif stat_module.S_ISREG(st.st_mode):
                yield LocalFile(entry_rel, Path(entry.path), st)
            else:
                problems.append((entry_rel, "not a regular file (a FIFO, socket or device)"))

    top = root.stat()
    yield from visit(root, "", frozenset({(top.st_dev, top.st_ino)}))


def unsafe_key_part(rel: str) -> str | None:
    """Why the part of a key after the prefix cannot be a path inside the destination, or
    None. Amazon S3 and R2 keep keys exactly as written: `p//tmp/x`, `/etc/x`, `a/../b`."""
    if not rel:
        return "it names the prefix itself"
    if rel.startswith("/"):
        return "it is an absolute path"
    if "\\" in rel:
        return "it contains '\\'"
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "it contains control characters"
    if any(s in ("", ".", "..") for s in rel.split("/")):
        return "it has an empty, '.' or '..' segment"
    return None


def _transient(err: BaseException) -> bool:
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = err.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError")
    if isinstance(err, TransientPutError | StorageConnectionError):
        return True
    if isinstance(err, StorageError):
        return False
    return isinstance(err, BotoCoreError | ConnectionError | TimeoutError | Urllib3Error)


class Run:
    """One run's open multipart uploads and temporary files, so that an interrupted run
    aborts and removes exactly its own and nothing else."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel or threading.Event()
        self.lock = threading.Lock()
        self.uploads: dict[str, tuple[str, str]] = {}
        self.temps: set[Path] = set()
        self.aborted = 0  # this run's multipart uploads aborted, by their jobs or clean_up

    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def opened(self, bucket: str, key: str, upload_id: str) -> None:
        with self.lock:
            self.uploads[upload_id] = (bucket, key)
        if self.cancelled():
            raise TransferCancelledError(f"upload of s3://{bucket}/{key}: interrupted")

    def closed(self, upload_id: str, aborted: bool = False) -> None:
        with self.lock:
            if self.uploads.pop(upload_id, None) is not None and aborted:
                self.aborted += 1

    def temp(self, path: Path, created: bool) -> None:
        with self.lock:
            if created:
                self.temps.add(path)
            else:
                self.temps.discard(path)
        if created and self.cancelled():
            raise TransferCancelledError(f"{path}: interrupted")

    def clean_up(self, client: Any) -> None:
        """Abort this run's uploads still open and remove its temporary files."""
        with self.lock:
            uploads, temps = dict(self.uploads), set(self.temps)
        for upload_id, (bucket, key) in uploads.items():
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except CLIENT_FAILURES as err:
                log.warning("could not abort upload %s of %s: %s", upload_id, key, err)
            self.closed(upload_id, aborted=True)
        for path in temps:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


# -------------------------------------------------------------------------------- sync


Job = tuple[str, Callable[[], int]]


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
        allow_empty_source: bool = False,
        content_types: dict[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        if compare not in ("checksum", "size", "mtime"):
            raise SettingsError(f"--compare {compare!r}; accepted: checksum, size, mtime")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise SettingsError(f"--concurrency {concurrency!r}; accepted: 1-256")
        if not 1 <= concurrency <= 256:
            raise SettingsError(f"--concurrency {concurrency}; accepted: 1-256")
        if part_size < MIN_PART_BYTES:
            raise SettingsError("part size must be at least 5 MiB (S3 and R2 minimum)")
        for suffix, value in (content_types or {}).items():
            if not valid_content_type(value):
                raise SettingsError(
                    f"--content-type {suffix}={value!r}: accepted: type/subtype, e.g. video/mp4"
                )
        self.settings = replace(
            settings, max_concurrency=max(settings.max_concurrency, concurrency)
        )
        self.client = make_client(self.settings)
        self.endpoint = self.settings.endpoint_url
        self.concurrency, self.compare, self.delete = concurrency, compare, delete
        self.dry_run, self.progress, self.part_size = dry_run, progress, part_size
        self.allow_empty_source = allow_empty_source
        self.content_types = content_types or {}
        self.run = Run(cancel)
        # Small files go up as single signed PUTs without the client's per-call overhead.
        self.direct = DirectPut(self.settings, self.client.meta.endpoint_url, concurrency + 2)
        # Parts stream from disk, so memory does not grow with them; the sender bounds the
        # parts in flight (and so the connections) across all files.
        self.sender = PartSender(self.client, concurrency)

    def close(self) -> None:
        if self.run.cancelled():
            self.sender.pool.shutdown(wait=False, cancel_futures=True)
        else:
            self.sender.close()
        self.direct.close()

    def __enter__(self) -> Syncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- listing

    def remote(self, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        out: dict[str, dict[str, Any]] = {}
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    out[item["Key"]] = item
        except CLIENT_FAILURES as err:
            raise translate(
                err, op="list", bucket=bucket, key=prefix, endpoint=self.endpoint
            ) from err
        return out

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

    def _run(self, jobs: list[Job], report: Report) -> None:
        """Run (label, job) pairs, at most `concurrency` at once, starting none after an
        interrupt; a job returns the bytes it moved."""
        run = self.run

        def attempt(label: str, job: Callable[[], int]) -> None:
            for n in range(1, FILE_ATTEMPTS + 1):
                if run.cancelled():
                    report.add(not_started=1)
                    return
                try:
                    moved = job()
                except TransferCancelledError:
                    return
                except Exception as err:
                    if run.cancelled():
                        return
                    if n < FILE_ATTEMPTS and _transient(err):
                        report.add(retried=1)
                        log.info("retrying %s after %s", label, err)
                        time.sleep(0.2 * n)
                        continue
                    report.fail(label, err)
                    return
                report.add(transferred=1, bytes=moved)
                return

        pending = iter(jobs)
        running: set[Future[None]] = set()
        deadline: float | None = None
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="file")
        with Progress(report, report.files, self.progress):
            try:
                while True:
                    while not run.cancelled() and len(running) < self.concurrency:
                        job = next(pending, None)
                        if job is None:
                            break
                        running.add(pool.submit(attempt, *job))
                    if not running:
                        break
                    done, running = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                    if run.cancelled():
                        deadline = deadline or time.monotonic() + GRACE_SECONDS
                        if time.monotonic() > deadline:
                            break  # stuck in the network: their uploads are aborted below
            finally:
                pool.shutdown(wait=not run.cancelled(), cancel_futures=True)
        if run.cancelled():
            report.add(not_started=sum(1 for _ in pending))

    def _finish_interrupted(self, report: Report) -> None:
        if self.run.cancelled():
            report.interrupted = report.interrupted or "an interrupt"
            self.run.clean_up(self.client)
        report.aborted_uploads = self.run.aborted

    def _refuse_empty(self, source: str, doomed: int, where: str) -> None:
        if doomed and not self.allow_empty_source:
            raise SettingsError(
                f"--delete: the source {source} has no files, so all {doomed} under {where} "
                "would be deleted (a mistyped prefix or an unmounted directory?); add "
                "--allow-empty-source if that is what you want"
            )

    def _why_not_delete(self, report: Report) -> str | None:
        if report.interrupted or self.run.cancelled():
            return "the run was interrupted"
        if report.failed:
            return (
                f"{len(report.failed)} source paths failed (listed above); --delete deletes "
                "nothing unless every source path was read and transferred"
            )
        return None

    # -------------------------------------------------------------------------- upload

    def upload(
        self, root: Path, bucket: str, prefix: str = "", mapper: KeyMapper | None = None
    ) -> Report:
        start = time.monotonic()
        if not root.is_dir():
            raise SettingsError(f"source {root} is not a directory")
        mapper = mapper or KeyMapper(prefix)
        if self.delete and not prefix:
            raise SettingsError(
                "--delete needs a destination prefix (s3://bucket/prefix/): without one it "
                "would delete everything else in the bucket"
            )
        report = Report()
        remote = self.remote(bucket, prefix)
        wanted: dict[str, str] = {}
        jobs: list[Job] = []
        problems: list[tuple[str, str]] = []
        for entry in walk(root, problems):
            if self.run.cancelled():
                break
            report.files += 1
            try:
                key = mapper.key(entry.rel)
            except InvalidKeyError as err:
                report.fail(entry.rel, err)
                continue
            if key is None:
                report.unmatched += 1
                continue
            if key in wanted:
                report.fail(entry.rel, f"maps to s3://{bucket}/{key}, as {wanted[key]} does")
                continue
            wanted[key] = entry.rel
            try:
                if key in remote and self._same(entry.path, entry.stat, remote[key], upload=True):
                    report.skipped += 1
                    continue
            except OSError as err:
                report.fail(entry.rel, err)
                continue
            if self.dry_run:
                report.planned.append(
                    f"upload {shown(entry.rel)} -> s3://{bucket}/{key} "
                    f"({_human(entry.stat.st_size)})"
                )
                continue
            jobs.append(
                (
                    f"{entry.rel} -> s3://{bucket}/{key}",
                    self._upload_job(entry, bucket, key, report),
                )
            )
        for rel, why in problems:
            report.fail(rel, why)
        if self.delete and not wanted and not report.failed:
            self._refuse_empty(str(root), len(remote), f"s3://{bucket}/{prefix}")
        self._run(jobs, report)
        self._finish_interrupted(report)
        if self.delete:
            extra = sorted(k for k in remote if k not in wanted and mapper.could_make(k))
            report.delete_refused = self._why_not_delete(report) if extra else None
            if report.delete_refused is None:
                if self.dry_run:
                    report.planned += [f"delete s3://{bucket}/{k}" for k in extra]
                else:
                    self._delete_keys(bucket, extra, report)
        report.seconds = time.monotonic() - start
        return report

    def _upload_job(
        self, entry: LocalFile, bucket: str, key: str, report: Report
    ) -> Callable[[], int]:
        content_type = content_type_for(entry.path.name, self.content_types)

        def job() -> int:
            with entry.path.open("rb") as handle:
                state = FileState.read(handle.fileno())
                if state.size < self.part_size:
                    data = handle.read()
                    state.check(entry.path, entry.rel)
                    _, retries = self.direct.put(
                        bucket, key, data, content_type, cancelled=self.run.cancelled
                    )
                    report.add(retried=retries)
                    return len(data)
            return self._multipart(entry, state, bucket, key, content_type, report)

        return job

    def _multipart(
        self,
        entry: LocalFile,
        state: FileState,
        bucket: str,
        key: str,
        content_type: str,
        report: Report,
    ) -> int:
        """Parts of equal size (R2's rule), each streamed from its slice of the file; at most
        `concurrency` parts in flight across all files. The file must look the same after its
        last part as before its first, or nothing is stored."""
        with multipart_upload(
            self.client, bucket, key, registry=self.run, ContentType=content_type
        ) as upload_id:
            parts = self.sender.send(
                bucket,
                key,
                upload_id,
                file_parts(entry.path, state.size, self.part_size),
                cancelled=self.run.cancelled,
                attempts=lambda n: report.add(retried=n),
            )
            state.check(entry.path, entry.rel)
            self._complete(bucket, key, upload_id, parts, state.size, report)
        return state.size

    def _complete(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[dict[str, Any]],
        size: int,
        report: Report,
    ) -> None:
        response = complete_multipart(self.client, bucket, key, upload_id, parts, size)
        report.add(retried=int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)))

    def _delete_keys(self, bucket: str, keys: list[str], report: Report) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            request = {"Objects": [{"Key": k} for k in batch], "Quiet": True}
            try:
                response = self.client.delete_objects(Bucket=bucket, Delete=request)
            except CLIENT_FAILURES as err:
                report.fail(
                    f"delete of {len(batch)} keys under s3://{bucket}/",
                    translate(
                        err, op="delete", bucket=bucket, key=batch[0], endpoint=self.endpoint
                    ),
                )
                continue
            errors = response.get("Errors") or []
            for e in errors:
                report.fail(f"delete s3://{bucket}/{e.get('Key')}", str(e.get("Code")))
            report.add(deleted=len(batch) - len(errors))

    # ------------------------------------------------------------------------ download

    def download(self, bucket: str, prefix: str, root: Path) -> Report:
        start = time.monotonic()
        report = Report()
        if root.exists() and not root.is_dir():
            raise SettingsError(f"destination {root} is not a directory")
        remote = self.remote(bucket, prefix)
        objects = {k: v for k, v in sorted(remote.items()) if not k.endswith("/")}
        if self.delete and not objects:
            local_files = sum(1 for _ in walk(root, [], follow=False)) if root.is_dir() else 0
            self._refuse_empty(f"s3://{bucket}/{prefix}", local_files, str(root))
        if root.is_dir() and not self.dry_run:
            self._remove_stale_parts(root, report)
        real_root = root.resolve()
        jobs: list[Job] = []
        wanted: set[str] = set()
        for key, item in objects.items():
            if self.run.cancelled():
                break
            report.files += 1
            label = f"s3://{bucket}/{key}"
            rel = key[len(prefix) :]
            why = unsafe_key_part(rel)
            if why is None and not _inside(root, real_root, root / rel):
                why = "a symlink in the destination leads outside it"
            if why:
                report.fail(label, f"skipped, not a safe path under {root}: {why}")
                continue
            wanted.add(rel)
            target = root / rel
            try:
                if target.is_file() and self._same(target, target.stat(), item, upload=False):
                    report.skipped += 1
                    continue
            except OSError as err:
                report.fail(label, err)
                continue
            if self.dry_run:
                report.planned.append(f"download {label} -> {target}")
                continue
            jobs.append(
                (f"{label} -> {target}", self._download_job(bucket, key, target, item, report))
            )
        self._run(jobs, report)
        self._finish_interrupted(report)
        if self.delete and root.is_dir():
            extra = [f for f in walk(root, [], follow=False) if f.rel not in wanted]
            report.delete_refused = self._why_not_delete(report) if extra else None
            if report.delete_refused is None:
                if self.dry_run:
                    report.planned += [f"delete {f.path}" for f in extra]
                else:
                    for f in extra:
                        f.path.unlink()
                    report.add(deleted=len(extra))
        report.seconds = time.monotonic() - start
        return report

    def _remove_stale_parts(self, root: Path, report: Report) -> None:
        for directory, _, names in os.walk(root):
            for name in names:
                path = Path(directory) / name
                if is_temp(name) and is_stale_temp(path):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                        report.removed_parts += 1

    def _download_job(
        self, bucket: str, key: str, target: Path, item: dict[str, Any], report: Report
    ) -> Callable[[], int]:
        size = int(item["Size"])

        def job() -> int:
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as (out, tmp):
                try:
                    self.run.temp(tmp, True)
                    if size > RANGE_SIZE:
                        etag = str(item["ETag"])
                        moved = self._ranged_get(bucket, key, out.fileno(), size, etag, report)
                    else:
                        moved, retries = self.direct.get_into(
                            bucket, key, out, cancelled=self.run.cancelled
                        )
                        report.add(retried=retries)
                finally:
                    self.run.temp(tmp, False)
            return moved

        return job

    def _ranged_get(
        self, bucket: str, key: str, fd: int, size: int, etag: str, report: Report
    ) -> int:
        """A large object in parallel ranges of RANGE_SIZE, written at their offsets; every
        range must come from the same version of the object (If-Match its ETag), so a file is
        never assembled from two versions."""
        os.ftruncate(fd, size)
        what = f"get s3://{bucket}/{key}"

        def part(offset: int) -> None:
            length = min(RANGE_SIZE, size - offset)
            response = self.client.get_object(
                Bucket=bucket,
                Key=key,
                Range=f"bytes={offset}-{offset + length - 1}",
                IfMatch=etag,
            )
            report.add(retried=int(response["ResponseMetadata"].get("RetryAttempts", 0)))
            position = offset

            def write(chunk: bytes) -> None:
                nonlocal position
                position += os.pwrite(fd, chunk, position)

            with contextlib.closing(response["Body"]) as body:
                moved = write_chunks(body.iter_chunks(RANGE_CHUNK), write, self.run.cancelled, what)
            if moved != length:
                raise StorageError(f"{what}: range at {offset} got {moved} of {length} bytes")

        self.sender.run(range(0, size, RANGE_SIZE), part, self.run.cancelled, what)
        return size


def _inside(root: Path, real_root: Path, target: Path) -> bool:
    """Whether `target`'s nearest existing ancestor resolves inside `real_root` (a symlinked
    directory in the destination could otherwise lead a write outside it)."""
    parent = target.parent
    while not parent.exists():
        if parent == root or parent == parent.parent:
            return True  # created by this run, below the destination
        parent = parent.parent
    try:
        parent.resolve().relative_to(real_root)
    except ValueError:
        return False
    return True


def sync(
    src: str,
    dst: str,
    settings: Settings | None = None,
    *,
    pattern: str | None = None,
    key_template: str | None = None,
    **options: Any,
) -> Report:
    """Library form of `python -m storage_runtime sync SRC DST` (options: Syncer's)."""
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
    if not target.is_bucket and (pattern or key_template):
        raise SettingsError("--pattern/--key-template map local paths to keys: uploads only")
    mapper = KeyMapper(target.prefix, pattern, key_template) if target.is_bucket else None
    with Syncer(replace(base, bucket=bucket), **options) as syncer:
        if target.is_bucket:
            assert source.path is not None
            return syncer.upload(source.path, bucket, target.prefix, mapper)
        assert target.path is not None
        return syncer.download(bucket, source.prefix, target.path)
