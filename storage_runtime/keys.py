"""Object keys: validation, and the key layouts of the seed applications.

Every function returns a key that `validate_key` accepts; ids must be single path segments.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re

from storage_runtime.errors import InvalidKeyError

MAX_KEY_BYTES = 1024


# C0 controls, DEL and C1 controls; one regex scan (validate_key runs per object in a sync)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def validate_key(key: str) -> str:
    """Refuse keys that break listings, prefixes, file paths or URLs: empty, a leading '/',
    empty, '.' or '..' segments, '\\' (browsers and some servers turn it into '/'), control
    characters, text that is not valid Unicode, more than 1,024 UTF-8 bytes."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"object key {key!r} is a {type(key).__name__}, not a str")
    if not key:
        raise InvalidKeyError("object key '' is empty")
    if key.startswith("/"):
        raise InvalidKeyError(f"object key {key!r} starts with '/'; keys are relative")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKeyError(
            f"object key {key!r} is not valid UTF-8 (a file name in another encoding?)"
        ) from None
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(
            f"object key {key[:60]!r}... is {size} bytes in UTF-8; at most {MAX_KEY_BYTES}"
        )
    if _control(key):
        raise InvalidKeyError(f"object key {key!r} contains control characters")
    if "\\" in key:
        raise InvalidKeyError(f"object key {key!r} contains '\\'; keys are '/'-separated")
    segments = key.split("/")
    # a trailing '/' (a "folder" marker) is the only empty segment allowed
    for segment in segments[:-1] if key.endswith("/") else segments:
        if segment == "":
            raise InvalidKeyError(f"object key {key!r} has an empty segment ('//')")
        if segment in (".", ".."):
            raise InvalidKeyError(f"object key {key!r} has a {segment!r} segment")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing/deletion prefix: '' (everything) or a valid key ending where the caller says."""
    return prefix if prefix == "" else validate_key(prefix)


def _segment(name: str, value: object) -> str:
    """An id as one key segment: a non-empty str (or an int, seed 004's ids) without '/',
    '\\' or control characters, and not '.' or '..'. None and bools are refused, not
    stringified into `users/None/...`."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidKeyError(f"{name} {value!r} must be a str (or an int id), not {value!r}")
    text = str(value)
    if not text or text in (".", "..") or "/" in text or "\\" in text or _control(text):
        raise InvalidKeyError(
            f"{name} {value!r} must be one non-empty path segment without '/', '\\' or "
            "control characters"
        )
    return text


def _index(name: str, value: object) -> int:
    """A position (seed 002's idx): an int >= 0; not a bool, a float or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidKeyError(f"{name} {value!r} must be an int >= 0")
    return value


def join(*parts: str) -> str:
    return validate_key("/".join(parts))


# --- seed 000: PDF web + worker ------------------------------------------------------------


def upload_key(job_id: str, file_type: str, filename: str) -> str:
    return join(
        "uploads",
        _segment("job_id", job_id),
        _segment("file_type", file_type),
        _segment("filename", filename),
    )


def result_key(job_id: str, filename: str) -> str:
    return join("results", _segment("job_id", job_id), _segment("filename", filename))


def job_prefixes(job_id: str) -> tuple[str, str]:
    """Everything a cancelled or deleted job left behind."""
    job = _segment("job_id", job_id)
    return f"uploads/{job}/", f"results/{job}/"


# --- seed 001: video renderer ---------------------------------------------------------------


def video_key(video_id: str, script_id: str, job_id: str, filename: str) -> str:
    """`videos/{video_id}/{script_id}/{job_id}/video.mp4` (or subtitles.srt, thumb.jpg)."""
    return join(
        "videos",
        _segment("video_id", video_id),
        _segment("script_id", script_id),
        _segment("job_id", job_id),
        _segment("filename", filename),
    )


# --- seed 002: image app on Cloudflare ----------------------------------------------------


def input_key(user_id: str, job_id: str, idx: int) -> str:
    return join(
        "inputs",
        _segment("user_id", user_id),
        _segment("job_id", job_id),
        f"{_index('idx', idx)}.jpg",
    )


def output_key(user_id: str, job_id: str, idx: int) -> str:
    return join(
        "outputs",
        _segment("user_id", user_id),
        _segment("job_id", job_id),
        f"{_index('idx', idx)}_result.png",
    )


def mask_key(user_id: str, job_id: str, idx: int, concept: str) -> str:
    name = f"{_index('idx', idx)}_{_segment('concept', concept)}.png"
    return join("masks", _segment("user_id", user_id), _segment("job_id", job_id), name)


def instances_key(user_id: str, job_id: str, idx: int) -> str:
    return join(
        "masks",
        _segment("user_id", user_id),
        _segment("job_id", job_id),
        f"{_index('idx', idx)}_instances.json",
    )


def preview_key(user_id: str, job_id: str, idx: int) -> str:
    return join(
        "previews",
        _segment("user_id", user_id),
        _segment("job_id", job_id),
        f"{_index('idx', idx)}_thumb.jpg",
    )


# --- seed 003: image studio -----------------------------------------------------------------


def image_key(user_id: str, job_id: str, fmt: str = "png", when: dt.datetime | None = None) -> str:
    """`{user_id}/{YYYY}/{MM}/{job_id}.{fmt}` (UTC month of creation: 00:30 on 1 December in
    Seoul is still November). `when` must carry a time zone."""
    if when is None:
        when = dt.datetime.now(dt.UTC)
    elif when.tzinfo is None or when.utcoffset() is None:
        raise InvalidKeyError(f"image_key needs a timezone-aware time, not {when!r}")
    when = when.astimezone(dt.UTC)
    name = f"{_segment('job_id', job_id)}.{_segment('fmt', fmt)}"
    return join(_segment("user_id", user_id), f"{when.year:04d}", f"{when.month:02d}", name)


def thumbnail_key(image: str) -> str:
    """`u/2025/11/job.png` -> `u/2025/11/thumbnails/job.webp` (the CDN's `*/thumbnails/*`)."""
    validate_key(image)
    base, filename = posixpath.split(image)
    if posixpath.basename(base) == "thumbnails":
        raise InvalidKeyError(f"{image!r} is already a thumbnail (under thumbnails/)")
    stem = posixpath.splitext(filename)[0]
    if not stem:
        raise InvalidKeyError(f"image key {image!r} has no file name")
    return join(base, "thumbnails", f"{stem}.webp") if base else join("thumbnails", f"{stem}.webp")


# --- seed 004: FIT files ----------------------------------------------------------------


def activity_key(user_id: int | str, activity_id: int | str) -> str:
    return join(
        "users",
        _segment("user_id", user_id),
        "activities",
        f"{_segment('activity_id', activity_id)}.fit",
    )
