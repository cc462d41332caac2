"""Seed 001's backend-presigned uploads against a small local backend and the real S3 server:
the happy path, and each of the seed's four failure scenarios with its error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from storage_runtime import (
    BackendPresignedUploader,
    ObjectStore,
    Settings,
    StorageUploadError,
    presign_put,
)
from storage_runtime.keys import video_key
from tests.storage_runtime.conftest import needs
from tests.support.seaweed import S3Server

TOKEN = "service-token-for-tests"


@dataclass
class Backend:
    """A stand-in for the Spring backend: presign-put and complete, with switchable faults."""

    store: ObjectStore
    url: str = ""
    fail_presign: int | None = None
    fail_complete: int | None = None
    break_signature: bool = False
    completed: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    store = ObjectStore(
        Settings(
            **{
                **settings.__dict__,
                "public_base_url": "https://cdn.example.com",
                "max_upload_bytes": 1024 * 1024,
            }
        )
    )
    state = Backend(store)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"error": "unauthorized"})
            if self.path == "/internal/storage/presign-put":
                if state.fail_presign:
                    return self._reply(state.fail_presign, {"error": "boom"})
                answer = presign_put(
                    state.store,
                    payload["object_key"],
                    payload["content_type"],
                    payload["content_length"],
                )
                if state.break_signature:
                    answer["upload_url"] = answer["upload_url"].replace(
                        "X-Amz-Signature=", "X-Amz-Signature=00"
                    )
                return self._reply(200, answer)
            if self.path == "/internal/storage/complete":
                if state.fail_complete:
                    return self._reply(state.fail_complete, {"error": "db down"})
                state.completed.append(payload)
                return self._reply(200, {"status": "ok"})
            return self._reply(404, {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def uploader(backend: Backend, **kw: Any) -> BackendPresignedUploader:
    return BackendPresignedUploader(
        Settings(
            provider="backend_presigned",
            backend_base_url=backend.url,
            backend_service_token=TOKEN,
            max_upload_bytes=1024 * 1024,
            **kw,
        ),
        timeout=5,
    )


KEY = video_key("V-001", "S-001", "JOB-123", "video.mp4")


def test_presign_put_then_complete(backend: Backend, tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" * 1000)
    result = uploader(backend).put_object(video, KEY, "video/mp4")
    assert result.url == f"https://cdn.example.com/{KEY}"
    assert result.size_bytes == 12000 and result.etag
    assert backend.store.get(KEY) == video.read_bytes()
    (done,) = backend.completed
    assert done == {
        "object_key": KEY,
        "etag": result.etag,
        "size_bytes": 12000,
        "content_type": "video/mp4",
        "public_url": result.url,
    }


def test_size_over_the_limit(backend: Backend) -> None:
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"x" * (1024 * 1024 + 1), KEY, "video/mp4")
    assert (
        str(info.value) == f"Storage upload failed for '{KEY}': File size 1.0MB exceeds limit 1.0MB"
    )
    assert info.value.step == "size"
    assert backend.completed == []


def test_presign_failure(backend: Backend) -> None:
    backend.fail_presign = 500
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert str(info.value) == f"Storage upload failed for '{KEY}': Presign request failed: HTTP 500"
    assert (info.value.step, info.value.status) == ("presign", 500)


def test_presign_connection_error(backend: Backend) -> None:
    up = BackendPresignedUploader(
        Settings(
            provider="backend_presigned",
            backend_base_url="http://127.0.0.1:9",
            backend_service_token=TOKEN,
        ),
        timeout=2,
    )
    with pytest.raises(StorageUploadError, match="Presign request failed") as info:
        up.put_object(b"data", KEY, "video/mp4")
    assert info.value.step == "presign" and info.value.status is None


def test_put_failure(backend: Backend, s3_server: S3Server) -> None:
    needs(s3_server, "signatures")
    backend.break_signature = True
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert info.value.reason == "Upload to presigned URL failed: HTTP 403"
    assert (info.value.step, info.value.status) == ("upload", 403)
    assert str(info.value).startswith("Storage upload failed for 'http://127.0.0.1:")
    assert not backend.store.exists(KEY)


def test_complete_failure(backend: Backend) -> None:
    backend.fail_complete = 500
    with pytest.raises(StorageUploadError) as info:
        uploader(backend).put_object(b"data", KEY, "video/mp4")
    assert (
        str(info.value)
        == f"Storage upload failed for '{KEY}': Complete notification failed: HTTP 500"
    )
    assert (info.value.step, info.value.status) == ("complete", 500)


def test_wrong_token_is_refused(backend: Backend) -> None:
    up = BackendPresignedUploader(
        Settings(
            provider="backend_presigned",
            backend_base_url=backend.url,
            backend_service_token="wrong",
        ),
        timeout=5,
    )
    with pytest.raises(StorageUploadError, match="HTTP 401"):
        up.put_object(b"data", KEY, "video/mp4")
