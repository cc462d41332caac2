"""Seed 001 end to end: the project's BackendPresignedUploader against the shipped backend
(storage_runtime.broker on its stdlib server) against a real S3 server, both servers. The
happy paths (single PUT with a signed checksum, multipart above the threshold, an empty body
without a type) and every failure of the seed's section 6, a wrong token and a key outside the
allowed prefixes."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from storage_runtime import BackendPresignedUploader, ObjectStore, Settings, StorageUploadError
from storage_runtime.broker import Broker, BrokerConfig, BrokerServer, CompletedUpload, Reply
from storage_runtime.keys import video_key
from storage_runtime.store import MiB
from tests.storage_runtime.conftest import has, needs
from tests.support.faulty_proxy import FaultProxy
from tests.support.seaweed import S3Server

TOKEN = "service-token-for-tests-0123456789"
LIMIT = 8 * MiB
PART = 5 * MiB  # the smallest part S3 and R2 take; the threshold below is lowered to it
KEY = video_key("V-001", "S-001", "JOB-123", "video.mp4")


class FaultyBroker(Broker):
    """The shipped broker with the failures of seed 001's section 6 switchable: an answer
    replaced by an HTTP error, or the URLs it hands out damaged."""

    fail: dict[str, int]
    damage: str | None = None  # "signature" | "upload_id"

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        endpoint = path.rsplit("/", 1)[-1]
        if endpoint in self.fail:
            return Reply(self.fail[endpoint], {"error": "boom"})
        reply = super().handle(method, path, headers, body)
        if self.damage == "signature" and "upload_url" in reply.body:
            reply.body["upload_url"] = reply.body["upload_url"].replace(
                "X-Amz-Signature=", "X-Amz-Signature=00"
            )
        if self.damage == "upload_id" and "parts" in reply.body:
            for part in reply.body["parts"][1:]:
                part["upload_url"] = part["upload_url"].replace("uploadId=", "uploadId=x")
        return reply


@dataclass
class Backend:
    broker: FaultyBroker
    url: str
    completed: list[CompletedUpload]

    @property
    def store(self) -> ObjectStore:
        return self.broker.store


@pytest.fixture
def backend(settings: Settings, s3_server: S3Server) -> Iterator[Backend]:
    with running_backend(settings, s3_server) as state:
        yield state


@contextlib.contextmanager
def running_backend(settings: Settings, s3_server: S3Server) -> Iterator[Backend]:
    """The shipped broker on its stdlib server, on a bucket of `settings`."""
    store = ObjectStore(
        replace(settings, public_base_url="https://cdn.example.com", max_upload_bytes=LIMIT)
    )
    completed: list[CompletedUpload] = []
    config = BrokerConfig(
        tokens=(TOKEN,),
        part_size_bytes=PART,
        # moto keeps no checksums: the backend then reads the object back to compare
        if_no_checksum="refuse" if has(s3_server, "stored checksums") else "download",
    )
    broker = FaultyBroker(store, config, on_complete=completed.append)
    broker.fail = {}
    server = BrokerServer(broker, ("127.0.0.1", 0))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield Backend(broker, server.url, completed)
    finally:
        server.shutdown()
        server.server_close()


def uploader(backend: Backend, **overrides: Any) -> BackendPresignedUploader:
    values: dict[str, Any] = {
        "provider": "backend_presigned",
        "backend_base_url": backend.url,
        "backend_service_token": TOKEN,
        "max_upload_bytes": LIMIT,
        "backend_multipart_threshold_bytes": PART,
        "max_attempts": 2,
        **overrides,
    }
    return BackendPresignedUploader(Settings(**values), timeout=10)


def mp4(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "video.mp4"
    path.write_bytes((b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * (size // 256 + 1))[:size])
    return path


def test_presign_put_then_complete_with_a_signed_checksum(backend: Backend, tmp_path: Path) -> None:
    video = mp4(tmp_path, 12_000)
    result = uploader(backend).put_object(video, KEY, "video/mp4")
    assert result.url == f"https://cdn.example.com/{KEY}"
    assert (result.size_bytes, result.content_type) == (12_000, "video/mp4")
    assert backend.store.get(KEY) == video.read_bytes()
    (done,) = backend.completed
    assert (done.object_key, done.size_bytes, done.etag, done.multipart) == (
        KEY,
        12_000,
        result.etag,
        False,
    )
    assert done.checksum_sha256 is not None and "sha256" in " ".join(done.checks)


def test_a_large_render_goes_in_presigned_parts(backend: Backend, tmp_path: Path) -> None:
    video = mp4(tmp_path, PART + 64 * 1024)  # just above the (lowered) threshold: two parts
    result = uploader(backend).put_object(video, KEY, "video/mp4")
    assert result.etag.strip('"').endswith("-2")
    assert backend.store.get(KEY) == video.read_bytes()
    assert backend.store.head(KEY).size == PART + 64 * 1024
    (done,) = backend.completed
    assert done.multipart and done.size_bytes == PART + 64 * 1024 and done.etag == result.etag
    uploads = backend.store.client.list_multipart_uploads(Bucket=backend.store.bucket)
    assert not uploads.get("Uploads")


def test_a_failed_part_aborts_the_multipart_upload(backend: Backend, tmp_path: Path) -> None:
    backend.broker.damage = "upload_id"  # part 2's URL names an upload that does not exist
    video = mp4(tmp_path, PART + 1024)
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(video, KEY, "video/mp4")
    # the changed query breaks the signature on SeaweedFS (403); moto answers 500
    assert info.value.step == "upload" and info.value.status in (403, 500)
    assert info.value.reason.startswith("Upload to presigned URL failed: HTTP ")
    assert not backend.store.exists(KEY) and backend.completed == []
    uploads = backend.store.client.list_multipart_uploads(Bucket=backend.store.bucket)
    assert not uploads.get("Uploads"), "the backend was asked to abort the upload"


def test_an_empty_subtitle_without_a_content_type(backend: Backend) -> None:
    key = video_key("V-001", "S-001", "JOB-123", "subtitles.srt")
    result = uploader(backend).put_object(b"", key)
    assert (result.size_bytes, result.content_type) == (0, "application/x-subrip")
    assert backend.store.get(key) == b""
    assert backend.completed[0].size_bytes == 0


def test_size_over_the_limit(backend: Backend) -> None:
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"x" * (LIMIT + 1), KEY, "video/mp4")
    assert (
        str(info.value) == f"Storage upload failed for '{KEY}': File size 8.0MB exceeds limit 8.0MB"
    )
    assert info.value.step == "size" and backend.completed == []


def test_size_over_the_backends_limit(backend: Backend) -> None:
    """A client configured with a larger limit than the backend's: the backend refuses."""
    with pytest.raises(StorageUploadError) as info:
        uploader(backend, max_upload_bytes=2 * LIMIT).put_object(
            b"x" * (LIMIT + 1), KEY, "video/mp4"
        )
    assert info.value.reason == (
        "Presign request failed: HTTP 413 (too_large: File size 8.0MB exceeds limit 8.0MB)"
    )
    assert (info.value.step, info.value.status) == ("presign", 413)


def test_presign_failure(backend: Backend) -> None:
    backend.broker.fail = {"presign-put": 500}
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert str(info.value) == f"Storage upload failed for '{KEY}': Presign request failed: HTTP 500"
    assert (info.value.step, info.value.status) == ("presign", 500)


def test_presign_connection_error() -> None:
    up = BackendPresignedUploader(
        Settings(
            provider="backend_presigned",
            backend_base_url="http://127.0.0.1:9",
            backend_service_token=TOKEN,
            max_attempts=2,
        ),
        timeout=2,
    )
    with pytest.raises(StorageUploadError, match="Presign request failed") as info:
        up.put_object(b"data", KEY, "video/mp4")
    assert info.value.step == "presign" and info.value.status is None


def test_put_failure_signature(backend: Backend, s3_server: S3Server) -> None:
    needs(s3_server, "signatures")
    backend.broker.damage = "signature"
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert info.value.reason == "Upload to presigned URL failed: HTTP 403"
    assert (info.value.step, info.value.status) == ("upload", 403)
    assert str(info.value).startswith("Storage upload failed for 'http://127.0.0.1:")
    assert not backend.store.exists(KEY) and backend.completed == []


def test_put_failure_after_retries_and_a_retry_that_recovers(
    settings: Settings, s3_server: S3Server
) -> None:
    """The store answers 503 SlowDown: every PUT is retried (STORAGE_MAX_ATTEMPTS); after the
    last attempt the upload fails and complete is never called."""
    with FaultProxy(s3_server.endpoint, rate=1.0, modes=("503",), max_faults=3) as proxy:
        proxied = replace(settings, endpoint_url=proxy.url)
        with running_backend(proxied, s3_server) as state:
            with pytest.raises(StorageUploadError) as info:
                uploader(state, max_attempts=2).put_object(b"data", KEY, "video/mp4")
            assert info.value.reason == "Upload to presigned URL failed: HTTP 503"
            assert (info.value.step, info.value.status) == ("upload", 503)
            assert state.completed == [] and proxy.faults["503"] == 2
            result = uploader(state, max_attempts=3).put_object(b"data", KEY, "video/mp4")
            assert proxy.faults["503"] == 3 and result.size_bytes == 4
            assert state.store.get(KEY) == b"data" and len(state.completed) == 1


def test_complete_failure(backend: Backend) -> None:
    def database_down(done: CompletedUpload) -> None:
        raise RuntimeError("db down")

    backend.broker.on_complete = database_down
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert str(info.value) == (
        f"Storage upload failed for '{KEY}': Complete notification failed: HTTP 500 "
        "(internal_error: internal error (logged))"
    )
    assert (info.value.step, info.value.status) == ("complete", 500)


def test_complete_failure_as_the_seed_shows_it(backend: Backend) -> None:
    backend.broker.fail = {"complete": 500}
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert (
        str(info.value)
        == f"Storage upload failed for '{KEY}': Complete notification failed: HTTP 500"
    )


def test_complete_failure_of_a_multipart_upload_aborts_it(backend: Backend, tmp_path: Path) -> None:
    backend.broker.fail = {"complete-multipart": 500}
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(mp4(tmp_path, PART + 10), KEY, "video/mp4")
    assert (info.value.step, info.value.status) == ("complete", 500)
    uploads = backend.store.client.list_multipart_uploads(Bucket=backend.store.bucket)
    assert not uploads.get("Uploads") and not backend.store.exists(KEY)


def test_wrong_token_is_refused(backend: Backend) -> None:
    up = uploader(backend, backend_service_token="wrong-token-of-enough-length")
    with pytest.raises(StorageUploadError) as info:
        up.put_object(b"data", KEY, "video/mp4")
    assert info.value.reason == (
        "Presign request failed: HTTP 401 (unauthorized: the service token is not accepted)"
    )
    assert not backend.store.exists(KEY)


def test_a_key_outside_the_allowed_prefixes_is_refused(backend: Backend) -> None:
    """The video store presigned users/1/activities/1.fit (another app's layout)."""
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", "users/1/activities/1.fit")
    assert (
        info.value.status == 403 and "outside the allowed prefixes 'videos/'" in info.value.reason
    )
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).delete_object("users/1/activities/1.fit")
    assert (info.value.step, info.value.status) == ("delete", 403)


def test_delete_inside_the_prefixes(backend: Backend) -> None:
    uploader(backend).put_object(b"data", KEY, "video/mp4")
    uploader(backend).delete_object(KEY)
    assert not backend.store.exists(KEY)


def test_bytes_of_the_upload_are_exactly_the_file(backend: Backend, tmp_path: Path) -> None:
    video = mp4(tmp_path, 3 * 1024 + 7)
    uploader(backend).put_object(video, KEY)
    assert (
        hashlib.sha256(backend.store.get(KEY)).digest()
        == hashlib.sha256(video.read_bytes()).digest()
    )
