"""ObjectStore against a real S3 server (SeaweedFS): every operation round-trips bytes."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ParamValidationError

from storage_runtime import (
    AccessDeniedError,
    BucketNotFoundError,
    InvalidBodyError,
    InvalidKeyError,
    InvalidRequestError,
    LocalStore,
    ObjectNotFoundError,
    ObjectStore,
    PresignError,
    PutResult,
    Settings,
    StorageConnectionError,
    StorageError,
    UploadTooLargeError,
)
from storage_runtime.store import MULTIPART_THRESHOLD, MiB
from tests.storage_runtime.conftest import needs
from tests.support.seaweed import S3Server


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


def test_list_is_paginated_and_delete_prefix_batches_1000_keys(store: ObjectStore) -> None:
    keys = [f"uploads/job-9/pdf/{i:05d}.txt" for i in range(1001)]
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
        assert store.delete_prefix("uploads/job-9/") == 1001
    finally:
        del store.client.delete_objects  # back to the class's method
    assert calls == [1000, 1]
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


def test_wrong_credentials_are_a_clear_error(settings: Settings, s3_server: S3Server) -> None:
    needs(s3_server, "signatures")
    bad = ObjectStore(Settings(**{**settings.__dict__, "secret_access_key": "wrong"}))
    with pytest.raises(
        AccessDeniedError,
        match=rf"put s3://{settings.bucket}/a.txt was refused \(SignatureDoesNotMatch .*\): "
        "check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY",
    ):
        bad.put("a.txt", b"x")


# -------------------------------------------------------------------------- presigning


def test_presigned_get_over_http_with_content_disposition(store: ObjectStore) -> None:
    store.put("results/j/out.pdf", b"pdf bytes", content_type="application/pdf")
    url = store.presign_get("results/j/out.pdf", filename="report.pdf")
    status, body, headers = http(url)
    assert (status, body) == (200, b"pdf bytes")
    assert headers.get("Content-Disposition") == 'attachment; filename="report.pdf"'


def test_presigned_get_expires(store: ObjectStore, s3_server: S3Server) -> None:
    needs(s3_server, "signatures")
    store.put("short.txt", b"soon gone")
    url = store.presign_get("short.txt", expires=1)
    time.sleep(2.1)
    assert http(url)[0] == 403


def test_presigned_get_with_a_wrong_signature_is_refused(
    store: ObjectStore, s3_server: S3Server
) -> None:
    needs(s3_server, "signatures")
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
    store: ObjectStore, s3_server: S3Server, body: bytes, content_type: str
) -> None:
    needs(s3_server, "signatures")
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


# ------------------------------------------------------------------- errors are StorageErrors


def test_head_and_exists_on_a_missing_bucket_say_so(settings: Settings) -> None:
    gone = ObjectStore(replace(settings, bucket="no-such-bucket-here"))
    for call in (gone.head, gone.exists, gone.get):
        with pytest.raises(
            BucketNotFoundError, match="bucket 'no-such-bucket-here' does not exist"
        ):
            call("a.txt")
    with pytest.raises(BucketNotFoundError):
        list(gone.list("a/"))


def test_an_unreachable_endpoint_is_a_storage_error_with_the_cause_chained(
    settings: Settings,
) -> None:
    dead = ObjectStore(
        replace(
            settings, endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout_seconds=1
        )
    )
    for call in (
        lambda: dead.put("a.txt", b"x"),
        lambda: dead.get("a.txt"),
        lambda: dead.exists("a.txt"),
        lambda: list(dead.list("")),
        lambda: list(dead.stream("a.txt")),
        lambda: dead.delete_prefix("a/"),
    ):
        with pytest.raises(
            StorageConnectionError, match=r"cannot reach http://127\.0\.0\.1:9"
        ) as info:
            call()
        assert isinstance(info.value.__cause__, BotoCoreError), repr(info.value.__cause__)


def test_a_parameter_botocore_refuses_is_a_storage_error(store: ObjectStore) -> None:
    with pytest.raises(InvalidRequestError) as info:
        store.put("a.txt", b"x", metadata={"name": "café"})
    assert isinstance(info.value.__cause__, ParamValidationError)
    with pytest.raises(InvalidRequestError, match="metadata must map str to str"):
        store.put("a.txt", b"x", metadata={"n": 1})  # type: ignore[dict-item]


def test_a_str_body_is_never_taken_for_a_path(store: ObjectStore, tmp_path: Path) -> None:
    (tmp_path / "hello").write_bytes(b"the file, not the text")
    for target in (store, LocalStore(Settings(local_dir=str(tmp_path / "local")))):
        with pytest.raises(InvalidBodyError, match="body is a str; pass bytes"):
            target.put("a.txt", str(tmp_path / "hello"))  # type: ignore[arg-type]
        target.put("b.txt", tmp_path / "hello")
        assert target.get("b.txt") == b"the file, not the text"


# --------------------------------------------------------------------- concurrent writers


class Gated(io.RawIOBase):
    """A non-seekable body of `parts` 8 MiB parts of `fill`; before its last part it waits for
    `wait_for` and it sets `started` once its upload has begun."""

    def __init__(self, fill: bytes, parts: int, wait_for: threading.Event | None) -> None:
        self.left, self.fill, self.parts = parts * MULTIPART_THRESHOLD, fill, parts
        self.started, self.wait_for, self.reads = threading.Event(), wait_for, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self.reads += 1
        if self.reads > 1:
            self.started.set()  # the first part is read before the upload is created
        if self.left <= MULTIPART_THRESHOLD and self.wait_for is not None:
            assert self.wait_for.wait(30)
        n = min(len(buffer), self.left)
        buffer[:n] = self.fill * n
        self.left -= n
        return n


def test_two_writers_of_one_key_both_succeed_and_the_last_wins(store: ObjectStore) -> None:
    """Writer A starts, writer B starts, A completes, then B completes: neither may abort the
    other's multipart upload, and the object is B's."""
    a_done = threading.Event()
    a = Gated(b"A", 3, wait_for=None)
    b = Gated(b"B", 3, wait_for=a_done)
    results: dict[str, Any] = {}

    def write(name: str, body: Gated, after: threading.Event | None) -> None:
        if after is not None:
            assert after.wait(30)
        try:
            results[name] = store.put("shared/model.bin", io.BufferedReader(body, MiB))
        except Exception as err:
            results[name] = err
        if name == "A":
            a_done.set()

    b_thread = threading.Thread(target=write, args=("B", b, None))
    b_thread.start()
    assert b.started.wait(30)
    write("A", a, None)
    b_thread.join(60)
    assert isinstance(results["A"], PutResult), results["A"]
    assert isinstance(results["B"], PutResult), results["B"]
    assert store.get("shared/model.bin") == b"B" * 3 * MULTIPART_THRESHOLD
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


# ----------------------------------------------------------------- downloads and presigning


def test_downloads_get_the_process_umask(store: ObjectStore, tmp_path: Path) -> None:
    store.put("shared/report.pdf", b"%PDF")
    old = os.umask(0o022)
    try:
        target = store.download("shared/report.pdf", tmp_path / "report.pdf")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    old = os.umask(0o077)
    try:
        private = store.download("shared/report.pdf", tmp_path / "private.pdf")
    finally:
        os.umask(old)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        (
            "보고서 2025.pdf",
            "attachment; filename=\"___ 2025.pdf\"; filename*=UTF-8''%EB%B3%B4%EA%B3%A0%EC%84%9C%202025.pdf",
        ),
        (
            'evil"\r\nSet-Cookie: a=b.pdf',
            "attachment; filename=\"evil_Set-Cookie: a=b.pdf\"; filename*=UTF-8''evil%22Set-Cookie%3A%20a%3Db.pdf",
        ),
        ("../etc\\passwd", 'attachment; filename=".._etc_passwd"'),
    ],
)
def test_presigned_get_content_disposition_is_rfc_6266(
    store: ObjectStore, filename: str, expected: str
) -> None:
    store.put("results/j/out.pdf", b"pdf bytes", content_type="application/pdf")
    status, body, headers = http(store.presign_get("results/j/out.pdf", filename=filename))
    assert (status, body) == (200, b"pdf bytes")
    assert headers.get("Content-Disposition") == expected


def test_put_sets_the_content_type_from_the_key(store: ObjectStore) -> None:
    store.put("users/1/activities/2.fit", b"fit")
    store.put("thumbs/a.webp", b"webp")
    assert store.head("users/1/activities/2.fit").content_type == "application/vnd.ant.fit"
    assert store.head("thumbs/a.webp").content_type == "image/webp"


# ------------------------------------------------------------- LocalStore like the buckets


def test_a_bucket_answers_these_calls(store: ObjectStore, tmp_path: Path) -> None:
    answers_like_a_bucket(store, tmp_path)


def test_local_store_answers_like_a_bucket(tmp_path: Path) -> None:
    answers_like_a_bucket(LocalStore(Settings(local_dir=str(tmp_path / "store"))), tmp_path)


def answers_like_a_bucket(s: ObjectStore | LocalStore, tmp_path: Path) -> None:
    s.put("a/b/c/nested.bin", b"nested")
    s.put("a/report.part", b"a key that ends in .part")
    s.put("a/z.txt", io.BytesIO(b"stream"))
    assert [i.key for i in s.list("a/")] == ["a/b/c/nested.bin", "a/report.part", "a/z.txt"]
    assert [i.size for i in s.list("a/")] == [6, 24, 6]
    assert s.get("a/report.part") == b"a key that ends in .part"
    for missing in ("a/missing.txt", "a/b"):
        with pytest.raises(ObjectNotFoundError):
            s.get(missing)
        with pytest.raises(ObjectNotFoundError):
            s.head(missing)
        with pytest.raises(ObjectNotFoundError):
            list(s.stream(missing))
        with pytest.raises(ObjectNotFoundError):
            s.download(missing, tmp_path / "out" / "x")
        with pytest.raises(ObjectNotFoundError):
            s.copy(missing, "elsewhere.txt")
        assert not s.exists(missing)
    s.delete("a/missing.txt")  # deleting what is not there is no error, as on S3
    s.copy("a/z.txt", "b/z-copy.txt")
    assert s.get("b/z-copy.txt") == b"stream"
    assert s.download("a/b/c/nested.bin", tmp_path / "out" / "n.bin").read_bytes() == b"nested"
    assert s.delete_prefix("a/") == 3
    assert list(s.list("a/")) == []
    with pytest.raises(InvalidKeyError):
        s.put("../escape.txt", b"x")
