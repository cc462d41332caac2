"""Every file `ops` writes goes through `write_atomic`: the new content is written to a
temporary file in the same directory, flushed to disk and renamed over the target, so a
reader (or a crash, a full disk, Ctrl-C) sees the old file or the new one, never half of one.
The target keeps its permission bits; text is written exactly as given (no newline
translation), so an edit that keeps a CRLF file's line endings stays CRLF.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


class WriteError(OSError):
    """The file could not be written; the original (if any) is unchanged."""


def newline_of(text: str) -> str:
    """The line ending a text uses: CRLF when its first line ends with one, else LF."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def read_text(path: Path) -> str:
    """The file's text exactly, line endings included (`Path.read_text` turns CRLF into LF)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def check_writable(path: Path, flag: str) -> None:
    """Refuse, before any work is done, a target that cannot be written: a directory, a
    missing or read-only parent. (The write itself can still fail; it is atomic anyway.)"""
    if path.is_dir():
        raise WriteError(f"{flag} {path}: is a directory; accepted: a file path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise WriteError(
            f"{flag} {path}: {parent} is not a directory; accepted: a file in an existing directory"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WriteError(
            f"{flag} {path}: {parent} is read-only; accepted: a file in a writable directory"
        )


def write_atomic(path: Path, data: str | bytes, *, flag: str | None = None) -> None:
    """Replace `path` with `data` atomically, keeping its mode (new files get the umask's).

    A symlink is followed, so the link stays and its target is replaced. On any failure the
    temporary file is removed, the original is untouched and a WriteError says so."""
    target = Path(os.path.realpath(path))
    body = data.encode("utf-8") if isinstance(data, str) else data
    name = f"{flag} {path}" if flag else str(path)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as err:
        raise WriteError(f"could not write {name}: {err.strerror}") from None
    if target.is_dir():
        raise WriteError(f"could not write {name}: it is a directory; accepted: a file path")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
        _fsync_directory(target.parent)
    except OSError as err:
        unchanged = "unchanged" if target.exists() else "not created"
        raise WriteError(
            f"could not write {name}: {err.strerror or err}; the file is {unchanged}"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a dir)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
