"""ObjectStore against a real S3 server (SeaweedFS): every operation round-trips bytes."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from storage_runtime import (
    InvalidKeyError,
    ObjectNotFoundError,
    ObjectStore,
    PresignError,
    Settings,
    StorageError,
    UploadTooLargeError,
)
from storage_runtime.store import MULTIPART_THRESHOLD, MiB


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_put_get_head_exists_delete(store: ObjectStore) -> None:
    result = store.put(
        "results/job-1/report.pdf",
        b"%PDF-1.7 hello",
        content_type="application/pdf",
        metadata={"job": "job-1"},
    )
    assert (
        result.size == 14 and result.etag.strip('"') == hashlib.md5(b"%PDF-1.7 hello").hexdigest()
    )
    assert store.get("results/job-1/report.pdf") == b"%PDF-1.7 hello"
    info = store.head("results/job-1/report.pdf")
    assert (info.size, info.content_type, info.metadata) == (
        14,
        "application/pdf",
        {"job": "job-1"},
    )
    assert store.exists("results/job-1/report.pdf")
    store.delete("results/job-1/report.pdf")
    assert not store.exists("results/job-1/report.pdf")


def test_missing_object_names_bucket_and_key(store: ObjectStore) -> None:
    with pytest.raises(
        ObjectNotFoundError, match=rf"s3://{store.bucket}/nope/missing.txt does not exist"
    ):
        store.get("nope/missing.txt")
    with pytest.raises(ObjectNotFoundError):
        store.head("nope/missing.txt")


def test_put_file_stream_and_download(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    payload = os.urandom(3 * MiB + 17)
    src.write_bytes(payload)
    store.put("uploads/j/pdf/in.bin", src)
    assert b"".join(store.stream("uploads/j/pdf/in.bin", chunk_size=MiB)) == payload
    target = store.download("uploads/j/pdf/in.bin", tmp_path / "out" / "copy.bin")
    assert target.read_bytes() == payload
    assert [p.name for p in target.parent.iterdir()] == ["copy.bin"], "no partial file left"
    store.put("uploads/j/pdf/from-stream.bin", io.BytesIO(payload))
    assert store.get("uploads/j/pdf/from-stream.bin") == payload


def test_download_of_a_missing_object_leaves_no_file(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFoundError):
        store.download("missing.bin", tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []


class Endless(io.RawIOBase):
    """A non-seekable stream of `n` pseudo-random bytes, hashing what it hands out."""

    def __init__(self, n: int) -> None:
        self.left, self.digest = n, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, 256 * 1024)
        chunk = (self.left.to_bytes(8, "big") * (n // 8 + 1))[:n]
        buffer[:n] = chunk
        self.digest.update(chunk)
        self.left -= n
        return n


def test_multipart_upload_above_the_threshold_with_bounded_memory(settings: Settings) -> None:
    store = ObjectStore(Settings(**{**settings.__dict__, "max_concurrency": 2}))
    size = 96 * MiB
    source = Endless(size)
    tracemalloc.start()
    try:
        result = store.put("models/sdxl/big.safetensors", io.BufferedReader(source, MiB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.size == size
    assert result.etag.strip('"').endswith(f"-{size // MULTIPART_THRESHOLD}"), result.etag
    # (concurrency + 1) parts of 8 MiB, with copies made by the HTTP layer: far below the
    # object's size, and independent of it.
    assert peak < 56 * MiB, f"peak {peak / MiB:.1f} MiB for a {size / MiB:.0f} MiB upload"
    digest = hashlib.sha256()
    for chunk in store.stream("models/sdxl/big.safetensors"):
        digest.update(chunk)
    assert digest.hexdigest() == source.digest.hexdigest()


def test_failed_multipart_upload_is_aborted(store: ObjectStore) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.sent >= 20 * MiB:
                raise OSError("disk went away")
            n = min(len(buffer), MiB)
            buffer[:n] = b"\0" * n
            self.sent += n
            return n

    with pytest.raises(OSError, match="disk went away"):
        store.put("big/broken.bin", io.BufferedReader(Broken(), MiB))
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert not store.exists("big/broken.bin")


def test_list_is_paginated_and_delete_prefix_batches_2500_objects(store: ObjectStore) -> None:
    keys = [f"uploads/job-9/pdf/{i:05d}.txt" for i in range(2500)]
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(lambda k: store.client.put_object(Bucket=store.bucket, Key=k, Body=b"x"), keys)
        )
    store.put("results/job-9/keep.pdf", b"keep")
    listed = [info.key for info in store.list("uploads/job-9/")]
    assert listed == keys, "every page, in key order"
    calls: list[int] = []
    original = store.client.delete_objects

    def counting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Delete"]["Objects"]))
        return original(**kwargs)

    store.client.delete_objects = counting
    try:
        assert store.delete_prefix("uploads/job-9/") == 2500
    finally:
        del store.client.delete_objects  # back to the class's method
    assert calls == [1000, 1000, 500]
    assert list(store.list("uploads/job-9/")) == []
    assert store.get("results/job-9/keep.pdf") == b"keep"


def test_delete_prefix_refuses_the_whole_bucket(store: ObjectStore) -> None:
    with pytest.raises(StorageError, match="would empty the bucket"):
        store.delete_prefix("")


def test_copy(store: ObjectStore) -> None:
    store.put("a/src.txt", b"copy me")
    store.copy("a/src.txt", "b/dst.txt")
    assert store.get("b/dst.txt") == b"copy me"


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "is empty"),
        ("/abs/key", "starts with '/'"),
        ("a//b", "empty segment"),
        ("a/../b", "'..' segment"),
        ("a/./b", "'.' segment"),
        ("a\nb", "control characters"),
        ("k" * 1025, "1025 bytes"),
        ("é" * 513, "1026 bytes"),
    ],
)
def test_bad_keys_are_refused_before_any_request(
    store: ObjectStore, key: str, fragment: str
) -> None:
    with pytest.raises(InvalidKeyError, match=fragment):
        store.put(key, b"x")


def test_longest_key_is_accepted(store: ObjectStore) -> None:
    # 1,024 bytes in segments of 200 (servers backed by file systems cap a segment at 255)
    key = "/".join(["x" * 200] * 5) + "/" + "y" * 19
    assert len(key.encode()) == 1024
    store.put(key, b"edge")
    assert store.get(key) == b"edge"


def test_wrong_credentials_are_a_clear_error(settings: Settings) -> None:
    bad = ObjectStore(Settings(**{**settings.__dict__, "secret_access_key": "wrong"}))
    with pytest.raises(
        StorageError, match=rf"put s3://{settings.bucket}/a.txt failed: SignatureDoesNotMatch"
    ):
        bad.put("a.txt", b"x")


# -------------------------------------------------------------------------- presigning


def test_presigned_get_over_http_with_content_disposition(store: ObjectStore) -> None:
    store.put("results/j/out.pdf", b"pdf bytes", content_type="application/pdf")
    url = store.presign_get("results/j/out.pdf", filename="report.pdf")
    status, body, headers = http(url)
    assert (status, body) == (200, b"pdf bytes")
    assert headers.get("Content-Disposition") == 'attachment; filename="report.pdf"'


def test_presigned_get_expires(store: ObjectStore) -> None:
    store.put("short.txt", b"soon gone")
    url = store.presign_get("short.txt", expires=1)
    time.sleep(2.1)
    assert http(url)[0] == 403


def test_presigned_get_with_a_wrong_signature_is_refused(store: ObjectStore) -> None:
    store.put("sig.txt", b"x")
    url = store.presign_get("sig.txt")
    signature = url.split("X-Amz-Signature=")[1][:64]
    forged = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert http(forged)[0] == 403


def test_presigned_put_accepts_exactly_the_signed_body(store: ObjectStore) -> None:
    presigned = store.presign_put(
        "users/7/activities/42.fit", content_type="application/octet-stream", content_length=5
    )
    assert presigned.headers == {"Content-Type": "application/octet-stream", "Content-Length": "5"}
    assert "content-length%3Bcontent-type%3Bhost" in presigned.url
    status, _, _ = http(presigned.url, method="PUT", data=b"12345", headers=presigned.headers)
    assert status == 200
    assert store.get("users/7/activities/42.fit") == b"12345"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"123456", "application/octet-stream"),
        (b"1234", "application/octet-stream"),
        (b"12345", "image/png"),
    ],
)
def test_presigned_put_refuses_another_size_or_type(
    store: ObjectStore, body: bytes, content_type: str
) -> None:
    presigned = store.presign_put(
        "up.bin", content_type="application/octet-stream", content_length=5
    )
    status, _, _ = http(
        presigned.url, method="PUT", data=body, headers={"Content-Type": content_type}
    )
    assert status == 403
    assert not store.exists("up.bin")


def test_presign_bounds(store: ObjectStore) -> None:
    with pytest.raises(PresignError, match="accepted: 1-604800"):
        store.presign_get("a.txt", expires=604801)
    store.presign_get("a.txt", expires=604800)
    with pytest.raises(
        UploadTooLargeError, match=r"File size 100\.0MB exceeds limit 100\.0MB"
    ) as info:
        store.presign_put("a.bin", content_type="video/mp4", content_length=104857601)
    assert "exceeds" in str(info.value)
    store.presign_put("a.bin", content_type="video/mp4", content_length=104857600)
    with pytest.raises(PresignError, match="not positive"):
        store.presign_put("a.bin", content_type="video/mp4", content_length=0)
    with pytest.raises(PresignError, match="content type"):
        store.presign_put("a.bin", content_type="", content_length=1)
