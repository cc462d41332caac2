"""Local files around transfers: temporary names, change detection, content types.

- A download lands in `.{name}.{host}-{pid}-{random}.part` beside its target, created with
  the process umask (not mkstemp's 0600), and is renamed over the target when complete. The
  host and pid in the name let a later run tell a dead run's leftovers from a live one's.
- `FileState` is what a file looked like when an upload started; an upload that finds it
  different at the end stores nothing (FileChangedError), so an object is never a mix.
- `content_type_for(name)`: Python's built-in table (not /etc/mime.types, which differs
  between machines) plus the types the seed applications store.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from storage_runtime.errors import FileChangedError, TransferCancelledError

PART_SUFFIX = ".part"
#: A leftover of a run on another host is removed once it has not been written for this long.
FOREIGN_PART_SECONDS = 3600
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"
_TEMP = re.compile(
    r"^\.(?P<name>.*)\.(?P<host>[A-Za-z0-9-]{1,32})-(?P<pid>\d+)-[0-9a-f]{8}\.part$", re.DOTALL
)
NAME_MAX = 255


def temp_name(target: Path) -> str:
    name = target.name
    # keep the temporary name within NAME_MAX bytes whatever the target's length
    room = NAME_MAX - len(f"..{_HOST}-{os.getpid()}-00000000{PART_SUFFIX}")
    encoded = os.fsencode(name)[: max(room, 1)]
    short = os.fsdecode(encoded)
    return f".{short}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{PART_SUFFIX}"


def create_temp(target: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `target` (mode 0666 less the umask): (fd, path)."""
    for _ in range(10):
        path = target.with_name(temp_name(target))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return fd, path
    raise FileExistsError(f"no free temporary name beside {target}")


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """(file, temporary path) of a new temporary file beside `target`, open for writing: it is
    renamed over `target` when the block ends, removed when the block raises, so a partial
    file never appears under the real name."""
    fd, tmp = create_temp(target)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def is_temp(name: str) -> bool:
    """Whether `name` is one of our temporary download names."""
    return _TEMP.match(name) is not None


def temp_target(name: str) -> str | None:
    """The (possibly shortened) name whose temporary file `name` is, or None."""
    match = _TEMP.match(name)
    return match["name"] if match else None


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (on NFS the close-to-open rules of the server apply)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """A temporary file no live run is writing: its run (same host) has exited, or it comes
    from another host and has not been written for FOREIGN_PART_SECONDS."""
    match = _TEMP.match(path.name)
    if match is None:
        return False
    if match["host"] == _HOST:
        pid = int(match["pid"])
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > FOREIGN_PART_SECONDS


def write_chunks(
    chunks: Iterable[bytes],
    write: Callable[[bytes], object],
    cancelled: Callable[[], bool],
    what: str,
) -> int:
    """Write every chunk of a response body; stop at once if the run is interrupted."""
    moved = 0
    for chunk in chunks:
        if cancelled():
            raise TransferCancelledError(f"{what}: interrupted")
        write(chunk)
        moved += len(chunk)
    return moved


# ------------------------------------------------------------------------ change detection


@dataclass(frozen=True)
class FileState:
    """Identity, size and change times of a file: a rewrite, truncation, append or
    replacement changes at least one of them."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileState:
        return cls(stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)

    @classmethod
    def read(cls, path: Path | int) -> FileState:
        return cls.of(os.stat(path))

    def check(self, path: Path, what: str) -> None:
        """Raise FileChangedError if `path` no longer looks like this."""
        try:
            now = FileState.read(path)
        except OSError as err:
            raise FileChangedError(f"{what}: the file went away during the upload ({err})") from err
        if now != self:
            raise FileChangedError(f"{what}: {self.difference(now)} during the upload")

    def difference(self, now: FileState) -> str:
        if (now.device, now.inode) != (self.device, self.inode):
            return "the file was replaced"
        if now.size != self.size:
            return f"the file changed size ({self.size} -> {now.size} bytes)"
        return "the file was modified"


#: The most one read() of a part body returns. Callers (botocore's payload hash, urllib3's
#: send loop) loop until the end, and allocations this small are recycled by the allocator,
#: where 1 MiB reads in every request thread left ~3 MiB resident per thread (glibc raises
#: its mmap threshold after the first such block is freed).
READ_CAP = 128 * 1024


class _CappedReads(io.RawIOBase):
    def read(self, size: int | None = -1) -> bytes:
        want = READ_CAP if size is None or size < 0 else min(size, READ_CAP)
        buffer = bytearray(want)
        n = self.readinto(buffer)
        return bytes(memoryview(buffer)[:n]) if n else b""

    def readall(self) -> bytes:
        chunks = []
        while chunk := self.read(READ_CAP):
            chunks.append(chunk)
        return b"".join(chunks)


class FileSlice(_CappedReads):
    """`length` bytes of a file from `offset`, read on demand: a part is sent (and hashed for
    its signature) straight from disk, so no part sits in memory. Seekable, so that botocore
    can rewind it for a retry. A file that ends early (it shrank) raises FileChangedError at
    once instead of leaving the server waiting for the bytes it was promised."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = path.open("rb", buffering=0)
        self._path, self._offset, self._length, self._pos = path, offset, length, 0

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
        data = self.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        want = READ_CAP if size is None or size < 0 else min(size, READ_CAP)
        want = min(want, self._length - self._pos)
        if want <= 0:
            return b""
        data = os.pread(self._file.fileno(), want, self._offset + self._pos)
        if not data:
            raise FileChangedError(
                f"{self._path}: the file shrank during the upload (ends before byte "
                f"{self._offset + self._pos})"
            )
        self._pos += len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class BufferBody(_CappedReads):
    """A seekable, readable view of one part in memory (no copy)."""

    def __init__(self, view: memoryview) -> None:
        self._view, self._pos = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._view)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = min(max(base + offset, 0), len(self._view))
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), len(self._view) - self._pos)
        if n <= 0:
            return 0
        memoryview(buffer)[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        want = READ_CAP if size is None or size < 0 else min(size, READ_CAP)
        data = bytes(self._view[self._pos : self._pos + want])
        self._pos += len(data)
        return data


# ---------------------------------------------------------------------------- content types

#: The seeds' files (FIT activities, WebP thumbnails, subtitles, videos, model weights), where
#: Python's table has no entry or another one.
SEED_TYPES = {
    ".fit": "application/vnd.ant.fit",
    ".webp": "image/webp",
    ".srt": "application/x-subrip",
    ".mp4": "video/mp4",
    ".safetensors": "application/octet-stream",
}
DEFAULT_TYPE = "application/octet-stream"
_BUILTIN = mimetypes.MimeTypes()  # the built-in table only, the same on every machine
_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")


def valid_content_type(value: str) -> bool:
    """`type/subtype` (parameters such as `; charset=utf-8` allowed), no CR/LF."""
    main = value.partition(";")[0]
    return bool(_TYPE.match(main.strip())) and not any(c in value for c in "\r\n\0")


def content_type_for(name: str, overrides: dict[str, str] | None = None) -> str:
    """The Content-Type for a file or key name: `overrides` (by lower-case suffix, or "*" for
    every file), then the seeds' types, then Python's table, else application/octet-stream."""
    suffix = os.path.splitext(name)[1].lower()
    if overrides:
        if suffix in overrides:
            return overrides[suffix]
        if "*" in overrides:
            return overrides["*"]
    if suffix in SEED_TYPES:
        return SEED_TYPES[suffix]
    guessed, _ = _BUILTIN.guess_type("x" + suffix, strict=False) if suffix else (None, None)
    return guessed or DEFAULT_TYPE
