"""SHA-256 checksums the way S3 carries them, and the checks of a finished upload.

`x-amz-checksum-sha256` (and `ChecksumSHA256` in boto3) is the base64 of the 32-byte digest:
`47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=` for empty content. Seed 004 stores a checksum
column of 64 characters, the hex form; `sha256_base64` takes either (and the raw digest) so
that a caller never has to know which one a browser or a database hands over.

A multipart object's stored checksum is a checksum of the part checksums (`...=-3`, type
COMPOSITE): it cannot be compared with the digest of the whole content, so it counts as no
checksum at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, get_args

from storage_runtime.errors import InvalidChecksumError

CHUNK = 1024 * 1024
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
#: The header a presigned PUT signs, and that the client must send with exactly this value.
CHECKSUM_HEADER = "x-amz-checksum-sha256"
#: The request headers a browser sends with a checksum-signed PUT: the bucket's CORS rule must
#: allow both, or the browser's preflight fails before any byte is sent.
BROWSER_UPLOAD_HEADERS = ("Content-Type", CHECKSUM_HEADER)
#: What `confirm_upload` does when the stored object carries no SHA-256 checksum (moto keeps
#: none; S3, R2 and SeaweedFS keep the one a signed upload sent, and none for other uploads).
NoChecksum = Literal["refuse", "download", "accept"]
NO_CHECKSUM_CHOICES: tuple[str, ...] = get_args(NoChecksum)


def sha256_base64(value: str | bytes) -> str:
    """The base64 form of a SHA-256 digest given as base64 (44 characters), hex (64) or the
    32 raw bytes; anything else raises InvalidChecksumError naming the accepted forms."""
    if isinstance(value, bytes | bytearray):
        digest = bytes(value)
    elif isinstance(value, str) and _HEX.match(value):
        digest = bytes.fromhex(value)
    elif isinstance(value, str):
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            digest = b""
    else:
        raise InvalidChecksumError(f"sha256 {value!r} is a {type(value).__name__}, not a str")
    if len(digest) != 32:
        raise InvalidChecksumError(
            f"sha256 {value!r} is not a SHA-256 digest; accepted: base64 of the 32-byte digest "
            "(44 characters, as x-amz-checksum-sha256) or 64 hex characters"
        )
    return base64.b64encode(digest).decode("ascii")


def digest_chunks(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return base64.b64encode(h.digest()).decode("ascii")


def _file_chunks(handle: IO[bytes]) -> Iterable[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def sha256_of(body: bytes | bytearray | memoryview | os.PathLike[str] | IO[bytes]) -> str:
    """The base64 SHA-256 of bytes, of a file (read in 1 MiB chunks, never whole) or of the
    rest of a binary stream."""
    if isinstance(body, bytes | bytearray | memoryview):
        return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if isinstance(body, os.PathLike):
        with Path(body).open("rb") as handle:
            return digest_chunks(_file_chunks(handle))
    return digest_chunks(_file_chunks(body))


def full_object_checksum(stored: object) -> str | None:
    """The stored ChecksumSHA256 when it is a digest of the whole content; None for no
    checksum or a multipart (COMPOSITE, `...-N`) one."""
    if not isinstance(stored, str) or not stored or "-" in stored:
        return None
    try:
        return sha256_base64(stored)
    except InvalidChecksumError:
        return None


def plain_etag(etag: object) -> str:
    """`"abc"`, `abc` and `W/"abc"` compare equal: ETags travel quoted or not."""
    text = str(etag or "").strip()
    text = text.removeprefix("W/")
    return text.strip('"').lower()


@dataclass(frozen=True)
class ConfirmedUpload:
    """What `ObjectStore.confirm_upload` verified about a stored object."""

    key: str
    size: int
    etag: str
    sha256: str | None
    """The base64 SHA-256 of the content, when it was verified."""
    checks: tuple[str, ...]
    """What was compared: `size`, `etag`, `sha256` (the stored checksum),
    `sha256-download` (the content read back and hashed); `accepted-without-checksum` marks
    a weaker confirmation the caller asked for."""
    content_type: str | None = None

    @property
    def checksum_verified(self) -> bool:
        return "sha256" in self.checks or "sha256-download" in self.checks
