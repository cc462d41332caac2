"""Seed 003's shared model cache: a model is downloaded from the bucket into a directory that
many processes and nodes share (the EFS mount), once, while the others wait.

    cache = ModelCache(open_store(settings), "/models")
    path = cache.path("sdxl/juggernaut-xl.safetensors")   # a file: /models/sdxl/juggernaut...
    path = cache.path("sdxl/")                            # a directory model: /models/sdxl

How it stays correct when processes race, crash or run on other machines:

- Once: the first caller takes an exclusive POSIX record lock (`fcntl.lockf`) on
  `<cache>/.locks/<model>.lock`; the others wait for it (polling every `poll_interval`, up
  to `lock_timeout`, then ModelCacheTimeout naming the holder). Record locks work across
  machines over NFSv4, which EFS speaks, because the NFS server arbitrates them. `flock()` is
  not used: on Linux NFS clients it is emulated with whole-file record locks (since 2.6.12),
  while on a local file system flock and record locks do not see each other at all, so the
  same code would give different guarantees on the two. Within one process, record locks do
  not exclude threads (and closing any descriptor of the file drops them), so a per-process
  mutex serialises the threads first.
- A dead holder frees the lock: the kernel releases a process's record locks when it exits,
  even by SIGKILL; when a whole node disappears, the NFS server releases its locks when the
  node's lease expires. Lock files are never deleted (a waiter may hold the old inode open).
- No partial file is ever visible: a file is written under a temporary name beside its target
  (`.name.<host>-<pid>-<random>.part`), fsynced, verified (the length against Content-Length,
  the SHA-256 the bucket stored when it has one, else the MD5 ETag of a plain single-part
  object), renamed into place and its directory fsynced. A holder killed mid-download
  leaves only the temporary file, which the next holder removes before it starts again.
- A directory model (a key ending in `/`, e.g. `sdxl/`) is every object under that prefix.
  It is assembled in a temporary directory beside its target, each object verified the same
  way, a manifest `.storage-model.json` (keys, sizes, ETags) is written last, and the whole
  directory is renamed into place: a directory is complete exactly when its manifest is in
  it. A directory without one (the seed's `aws s3 sync` wrote straight into it) is replaced,
  once its replacement is complete.

Models are addressed by key: a changed model gets a new key (`sdxl/v2/...`), the cache does
not notice objects replaced under the same key. Files written into the directory some other
way are trusted by name; `verify_existing=True` compares each file's size with its object
(one HEAD per call) and downloads a short one again, for a cache that the seed's loader
(which wrote straight into place) may have left half-written.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from storage_runtime.checksums import full_object_checksum, plain_etag
from storage_runtime.errors import InvalidKeyError, ObjectNotFoundError, StorageError
from storage_runtime.files import fsync_dir, replacing, temp_name, temp_target
from storage_runtime.keys import validate_key
from storage_runtime.store import CHUNK, ObjectStore

log = logging.getLogger(__name__)

LOCK_DIR = ".locks"
MANIFEST = ".storage-model.json"
#: (key, bytes written, bytes in the object) after every chunk of a download.
Progress = Callable[[str, int, int], None]

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class ModelCacheError(StorageError):
    """A model that could not be put into the cache (nothing partial was left under its
    name)."""


class ModelCacheTimeout(ModelCacheError, TimeoutError):
    """Another process held the model's lock for longer than the timeout."""


def _process_lock(path: Path) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(str(path), threading.Lock())


def _no_progress(key: str, written: int, total: int) -> None:
    pass


class ModelCache:
    """Models from `store`'s bucket in the shared directory `root`."""

    def __init__(
        self,
        store: ObjectStore,
        root: str | os.PathLike[str],
        *,
        lock_timeout: float = 600,
        poll_interval: float = 0.2,
        progress: Progress | None = None,
        verify_existing: bool = False,
    ) -> None:
        self.store = store
        self.root = Path(root)
        self.lock_timeout, self.poll_interval = lock_timeout, poll_interval
        self.progress = progress or _no_progress
        self.verify_existing = verify_existing

    def __repr__(self) -> str:
        return f"ModelCache({str(self.root)!r}, {self.store!r})"

    # ------------------------------------------------------------------------ paths

    def _target(self, key: str) -> Path:
        validate_key(key)
        if key.split("/", 1)[0] in (LOCK_DIR, MANIFEST):
            raise InvalidKeyError(f"model key {key!r}: {LOCK_DIR!r} is the cache's own")
        return self.root / key.rstrip("/")

    def lock_path(self, key: str) -> Path:
        """The lock file of a model (one flat name per key, at most 255 bytes)."""
        name = urllib.parse.quote(key, safe="")
        if len(name) > 200:
            name = hashlib.sha256(key.encode()).hexdigest()
        return self.root / LOCK_DIR / f"{name}.lock"

    def cached(self, key: str) -> Path | None:
        """The model's path if it is complete in the cache, else None (no download)."""
        target = self._target(key)
        if key.endswith("/"):
            return target if (target / MANIFEST).is_file() else None
        return target if target.is_file() else None

    def _usable(self, key: str, found: Path | None) -> bool:
        """A cached model, and (verify_existing) a file whose size is the object's: a file
        that a loader without this cache wrote straight into place may be half of it."""
        if found is None:
            return False
        if not self.verify_existing or key.endswith("/"):
            return True
        size = self.store.head(key).size
        if found.stat().st_size != size:
            log.warning(
                "%s has %d of %d bytes: downloading it again", found, found.stat().st_size, size
            )
            return False
        return True

    def path(self, key: str) -> Path:
        """The local path of the model `key` (a file key, or a prefix ending in '/' for a
        directory model), downloaded first if the cache does not have it yet."""
        found = self.cached(key)
        if found is not None and self._usable(key, found):
            return found
        with self._locked(key):
            found = self.cached(key)  # another process may have finished while we waited
            if found is not None and self._usable(key, found):
                log.info("model %s was cached by another process", key)
                return found
            target = self._target(key)
            if key.endswith("/"):
                self._fetch_directory(key, target)
            else:
                self._fetch_file(key, target)
            log.info("model %s cached at %s", key, target)
            return target

    # ------------------------------------------------------------------------ the lock

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_file = self.lock_path(key)
        deadline = time.monotonic() + self.lock_timeout
        mutex = _process_lock(lock_file)
        if not mutex.acquire(timeout=max(self.lock_timeout, 0)):
            raise ModelCacheTimeout(
                f"model {key}: another thread of this process has been downloading it for more "
                f"than {self.lock_timeout:g} s"
            )
        try:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                while True:
                    try:
                        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as err:
                        if err.errno not in (errno.EACCES, errno.EAGAIN):
                            raise ModelCacheError(f"lock {lock_file}: {err}") from err
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                        raise ModelCacheTimeout(
                            f"model {key}: {lock_file} has been held for more than "
                            f"{self.lock_timeout:g} s by {holder or 'another process'}; it is "
                            "still downloading (raise lock_timeout for large models) or hung"
                        )
                    time.sleep(self.poll_interval)
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                os.ftruncate(fd, 0)
                os.pwrite(
                    fd, f"{socket.gethostname()} pid {os.getpid()} since {stamp}\n".encode(), 0
                )
                yield
            finally:
                os.close(fd)  # releases the record lock
        finally:
            mutex.release()

    # ------------------------------------------------------------------------ downloads

    def _download(self, key: str, etag: str | None, out: Any) -> None:
        """GET `key` into `out` (an open file), hashing as it goes, and verify it against the
        response's own Content-Length, stored SHA-256 or MD5 ETag. `etag` pins the version
        (If-Match) when the caller listed it."""
        params: dict[str, Any] = {
            "Bucket": self.store.bucket,
            "Key": key,
            "ChecksumMode": "ENABLED",
        }
        if etag:
            params["IfMatch"] = etag
        sha256, md5, written = hashlib.sha256(), hashlib.md5(), 0
        with self.store._errors("model download", key):
            response = self.store.client.get_object(**params)
            total = int(response["ContentLength"])
            with contextlib.closing(response["Body"]) as body:
                for chunk in body.iter_chunks(CHUNK):
                    out.write(chunk)
                    sha256.update(chunk)
                    md5.update(chunk)
                    written += len(chunk)
                    self.progress(key, written, total)
        out.flush()
        os.fsync(out.fileno())
        problem = _verify(response, written, sha256.digest(), md5.hexdigest())
        if problem:
            raise ModelCacheError(f"download of s3://{self.store.bucket}/{key}: {problem}")

    def _fetch_file(self, key: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target)  # a dead holder's partial download (we hold the lock)
        with replacing(target) as (out, _):
            self._download(key, None, out)
        fsync_dir(target.parent)

    def _fetch_directory(self, prefix: str, target: Path) -> None:
        objects = [o for o in self.store.list(prefix) if not o.key.endswith("/")]
        if not objects:
            raise ObjectNotFoundError(self.store.bucket, prefix)
        for info in objects:
            validate_key(info.key)  # keys are kept as written: none may leave the directory
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target)
        staging = target.with_name(temp_name(target))
        staging.mkdir()
        try:
            manifest = []
            for info in objects:
                dest = staging / info.key[len(prefix) :]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with dest.open("xb") as out:
                    self._download(info.key, info.etag, out)
                manifest.append({"key": info.key, "size": info.size, "etag": info.etag})
            written = {
                "bucket": self.store.bucket,
                "prefix": prefix,
                "objects": manifest,
                "completed": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            with (staging / MANIFEST).open("x", encoding="utf-8") as out:
                json.dump(written, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            for directory in sorted({p.parent for p in staging.rglob("*")}, reverse=True):
                fsync_dir(directory)
            old = None
            if target.exists():  # incomplete (no manifest): replaced only now, complete
                old = target.with_name(temp_name(target))
                os.rename(target, old)
            os.rename(staging, target)
            fsync_dir(target.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)


def _verify(response: dict[str, Any], written: int, sha256: bytes, md5: str) -> str | None:
    total = int(response["ContentLength"])
    if written != total:
        return f"got {written} of {total} bytes"
    stored = full_object_checksum(response.get("ChecksumSHA256"))
    if stored is not None:
        if base64.b64decode(stored) != sha256:
            return f"SHA-256 differs from the stored {stored}"
        return None
    etag = plain_etag(response.get("ETag"))
    # only a single-part object without SSE-KMS or SSE-C has the MD5 of its bytes as ETag
    md5_etag = (
        len(etag) == 32
        and not str(response.get("ServerSideEncryption", "")).startswith("aws:kms")
        and not response.get("SSECustomerAlgorithm")
    )
    if md5_etag and etag != md5:
        return f"MD5 {md5} differs from the ETag {etag}"
    return None


def _remove_leftovers(target: Path) -> None:
    """Temporary files and directories of `target` from earlier holders of its lock (who
    died: the lock is ours now, so nobody else is writing them)."""
    name = temp_target(temp_name(target))  # the target's name as its temporary names carry it
    with contextlib.suppress(FileNotFoundError):
        for entry in target.parent.iterdir():
            if temp_target(entry.name) == name:
                log.info("removing %s, left by an interrupted download", entry)
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()
