"""The seed 001 backend (storage_runtime.broker) on its own, against a real S3 server: the
token, the key allow-list, every refusal as a JSON body with the seed's field names, what
`complete` and `complete-multipart` verify, and the ASGI adapter."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

import pytest

from storage_runtime import BackendPresignedUploader, ObjectStore, Settings, StorageError
from storage_runtime.__main__ import main
from storage_runtime.broker import Broker, BrokerConfig, CompletedUpload, Reply, asgi_app
from storage_runtime.store import MiB
from tests.storage_runtime.conftest import has, run_async
from tests.storage_runtime.test_backend_presigned import KEY, TOKEN
from tests.storage_runtime.test_store import http
from tests.storage_runtime.test_sync import ROOT, cli_env
from tests.support.seaweed import S3Server

NEXT_TOKEN = "the-next-quarters-token-9876543210"


@pytest.fixture
def completed() -> list[CompletedUpload]:
    return []


@pytest.fixture
def broker(settings: Settings, completed: list[CompletedUpload]) -> Broker:
    store = ObjectStore(
        replace(settings, public_base_url="https://cdn.example.com", max_upload_bytes=8 * MiB)
    )
    config = BrokerConfig(tokens=(TOKEN, NEXT_TOKEN), part_size_bytes=5 * MiB)
    return Broker(store, config, on_complete=completed.append)


def call(
    broker: Broker,
    endpoint: str,
    payload: Any,
    *,
    token: str | None = TOKEN,
    method: str = "POST",
) -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return broker.handle(method, f"/internal/storage/{endpoint}", headers, body)


def put(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
    # a type of our own: urllib would send a form type, which moto parses as a form
    headers = {"Content-Type": "application/octet-stream", **headers}
    status, _, answer = http(url, method="PUT", data=data, headers=headers)
    return status, answer.get("ETag", "")


def test_the_token_is_required_and_either_live_generation_works(broker: Broker) -> None:
    payload = {"object_key": KEY, "content_length": 4}
    missing = call(broker, "presign-put", payload, token=None)
    assert (missing.status, missing.body["error"]) == (401, "unauthorized")
    assert ("WWW-Authenticate", 'Bearer realm="storage"') in missing.headers
    wrong = call(broker, "presign-put", payload, token=TOKEN[:-1] + "X")
    assert (wrong.status, wrong.body["message"]) == (401, "the service token is not accepted")
    assert call(broker, "presign-put", payload, token=NEXT_TOKEN).status == 200
    basic = broker.handle(
        "POST", "/internal/storage/presign-put", {"authorization": f"Basic {TOKEN}"}, b"{}"
    )
    assert basic.status == 401


def test_the_config_refuses_weak_tokens_and_unsafe_prefixes() -> None:
    with pytest.raises(StorageError) as info:
        BrokerConfig(tokens=("short",), allowed_prefixes=("/videos/", "videos", "a/../b/"))
    message = str(info.value)
    assert "service token #1 has 5 characters; accepted: at least 16" in message
    for prefix in ("'/videos/'", "'videos'", "'a/../b/'"):
        assert f"allowed prefix {prefix}; accepted: a key prefix ending in '/'" in message
    with pytest.raises(StorageError, match="part_size_bytes=1048576; accepted: 5242880-"):
        BrokerConfig(tokens=(TOKEN,), part_size_bytes=MiB)
    with pytest.raises(StorageError, match="no service token"):
        BrokerConfig(tokens=())
    assert TOKEN not in repr(BrokerConfig(tokens=(TOKEN,)))


@pytest.mark.parametrize(
    ("key", "status", "error"),
    [
        ("videos/../users/1/a.fit", 400, "invalid_key"),
        ("/videos/V/S/J/a.mp4", 400, "invalid_key"),
        ("videos//V/a.mp4", 400, "invalid_key"),
        ("videos/V/", 400, "invalid_key"),
        ("videos\\V\\a.mp4", 400, "invalid_key"),
        ("users/1/activities/1.fit", 403, "forbidden_key"),
        ("videosX/a.mp4", 403, "forbidden_key"),
    ],
)
def test_keys_outside_the_allowed_prefixes_or_malformed_are_refused(
    broker: Broker, key: str, status: int, error: str
) -> None:
    for endpoint in ("presign-put", "delete", "presign-multipart"):
        reply = call(broker, endpoint, {"object_key": key, "content_length": 10})
        assert (reply.status, reply.body["error"], reply.body["field"]) == (
            status,
            error,
            "object_key",
        ), endpoint
        assert reply.body["status"] == "error" and reply.body["object_key"] == key


def test_malformed_requests_get_json_errors_naming_the_field(broker: Broker) -> None:
    cases: list[tuple[Any, int, str | None, str]] = [
        (b"not json", 400, None, "the body is not JSON"),
        (b"", 400, None, "the body must be a JSON object"),
        ([KEY], 400, None, "the body must be a JSON object"),
        ({"content_length": 1}, 400, "object_key", "object_key is required"),
        ({"object_key": KEY}, 400, "content_length", "content_length is required"),
        ({"object_key": KEY, "content_length": True}, 400, "content_length", "True"),
        ({"object_key": KEY, "content_length": -1}, 400, "content_length", ">= 0"),
        ({"object_key": KEY, "content_length": "5"}, 400, "content_length", "'5'"),
        (
            {"object_key": KEY, "content_length": 8 * MiB + 1},
            413,
            "content_length",
            "File size 8.0MB exceeds limit 8.0MB",
        ),
        (
            {"object_key": KEY, "content_length": 1, "content_type": "video"},
            400,
            "content_type",
            "not TYPE/SUBTYPE",
        ),
        (
            {"object_key": KEY, "content_length": 1, "checksum_sha256": "abc"},
            400,
            "checksum_sha256",
            "not a SHA-256 digest",
        ),
    ]
    for payload, status, field, fragment in cases:
        reply = call(broker, "presign-put", payload)
        assert reply.status == status, payload
        assert reply.body.get("field") == field, payload
        assert fragment in reply.body["message"], (payload, reply.body)
    unknown = call(broker, "upload", {})
    assert unknown.status == 404 and "/internal/storage/presign-put" in unknown.body["message"]
    get = call(broker, "presign-put", {}, method="GET")
    assert get.status == 405 and ("Allow", "POST") in get.headers


def test_presign_put_answers_the_seed_contract(broker: Broker) -> None:
    reply = call(
        broker, "presign-put", {"object_key": KEY, "content_type": "video/mp4", "content_length": 4}
    )
    assert reply.status == 200
    assert set(reply.body) >= {"upload_url", "public_url", "headers", "expires_sec"}
    assert reply.body["public_url"] == f"https://cdn.example.com/{KEY}"
    assert reply.body["headers"] == {"Content-Type": "video/mp4"}
    assert reply.body["expires_sec"] == 600


def test_complete_verifies_the_object_before_it_answers_ok(
    broker: Broker, completed: list[CompletedUpload]
) -> None:
    missing = call(broker, "complete", {"object_key": KEY, "size_bytes": 4})
    assert (missing.status, missing.body["error"], missing.body["check"]) == (
        409,
        "upload_not_confirmed",
        "missing",
    )
    answer = call(
        broker, "presign-put", {"object_key": KEY, "content_type": "video/mp4", "content_length": 4}
    ).body
    status, etag = put(answer["upload_url"], b"data", {**answer["headers"], "Content-Length": "4"})
    assert status == 200
    short = call(broker, "complete", {"object_key": KEY, "size_bytes": 5, "etag": etag})
    assert (short.status, short.body["check"]) == (409, "size")
    assert "4 bytes stored, 5 declared" in short.body["message"]
    other = call(
        broker, "complete", {"object_key": KEY, "size_bytes": 4, "etag": '"' + "0" * 32 + '"'}
    )
    assert (other.status, other.body["check"]) == (409, "etag")
    assert completed == []
    ok = call(
        broker,
        "complete",
        {
            "object_key": KEY,
            "etag": etag.strip('"'),
            "size_bytes": 4,
            "content_type": "video/mp4",
            "public_url": answer["public_url"],
        },
    )
    assert ok.status == 200 and ok.body["status"] == "ok"
    (done,) = completed
    assert (done.object_key, done.size_bytes, done.etag, done.checks) == (
        KEY,
        4,
        etag,
        ("size", "etag"),
    )


def test_complete_with_a_checksum_refuses_an_object_stored_without_one(broker: Broker) -> None:
    broker.store.put(KEY, b"data")  # not through a presigned PUT that signed the checksum
    reply = call(
        broker,
        "complete",
        {
            "object_key": KEY,
            "size_bytes": 4,
            "checksum_sha256": "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7",
        },
    )
    assert (reply.status, reply.body["check"]) == (409, "no-checksum")


def test_delete_only_inside_the_allowed_prefixes(broker: Broker) -> None:
    broker.store.put("users/1/activities/1.fit", b"someone else's")
    assert call(broker, "delete", {"object_key": "users/1/activities/1.fit"}).status == 403
    assert broker.store.exists("users/1/activities/1.fit")
    broker.store.put(KEY, b"data")
    assert call(broker, "delete", {"object_key": KEY}).body == {"status": "ok", "object_key": KEY}
    assert not broker.store.exists(KEY)


def test_a_storage_failure_is_a_502_naming_it(broker: Broker) -> None:
    gone = Broker(
        ObjectStore(replace(broker.store.settings, bucket="no-such-bucket-here")), broker.config
    )
    reply = call(gone, "complete", {"object_key": KEY, "size_bytes": 1})
    assert (reply.status, reply.body["error"]) == (502, "storage_error")
    assert "no-such-bucket-here" in reply.body["message"]


def _multipart(broker: Broker, size: int) -> dict[str, Any]:
    reply = call(
        broker,
        "presign-multipart",
        {"object_key": KEY, "content_type": "video/mp4", "content_length": size},
    )
    assert reply.status == 200, reply.body
    return reply.body


def test_multipart_parts_must_all_arrive_before_complete(
    broker: Broker, completed: list[CompletedUpload]
) -> None:
    size = 5 * MiB + 10
    plan = _multipart(broker, size)
    assert plan["part_size"] == 5 * MiB and [p["size"] for p in plan["parts"]] == [5 * MiB, 10]
    first = plan["parts"][0]
    data = b"a" * (5 * MiB)
    status, etag = put(first["upload_url"], data, {"Content-Length": str(len(data))})
    assert status == 200
    done = {"object_key": KEY, "upload_id": plan["upload_id"], "size_bytes": size}
    early = call(broker, "complete-multipart", done)
    assert (early.status, early.body["check"]) == (409, "size")
    status, etag2 = put(plan["parts"][1]["upload_url"], b"b" * 10, {"Content-Length": "10"})
    wrong = call(
        broker,
        "complete-multipart",
        {**done, "parts": [{"part_number": 1, "etag": etag2}, {"part_number": 2, "etag": etag2}]},
    )
    assert (wrong.status, wrong.body["check"]) == (409, "etag")
    parts = [{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag2}]
    ok = call(broker, "complete-multipart", {**done, "parts": parts})
    assert ok.status == 200 and ok.body["size_bytes"] == size
    assert broker.store.get(KEY) == data + b"b" * 10
    again = call(broker, "complete-multipart", {**done, "parts": parts})
    assert again.status == 200, "a retried complete answers ok once the object is there"
    assert [d.multipart for d in completed] == [True, True]


def test_abort_multipart_is_idempotent(broker: Broker) -> None:
    plan = _multipart(broker, 5 * MiB + 1)
    payload = {"object_key": KEY, "upload_id": plan["upload_id"]}
    assert call(broker, "abort-multipart", payload).status == 200
    assert call(broker, "abort-multipart", payload).status == 200
    uploads = broker.store.client.list_multipart_uploads(Bucket=broker.store.bucket)
    assert not uploads.get("Uploads")
    late = call(broker, "complete-multipart", {**payload, "size_bytes": 5 * MiB + 1})
    assert (late.status, late.body["error"]) == (409, "upload_not_found")


def test_parts_grow_so_that_10000_hold_the_largest_upload(broker: Broker) -> None:
    assert broker.part_size(2 * 1024 * MiB) == 5 * MiB
    assert broker.part_size(100 * 1024 * MiB) == -(-100 * 1024 * MiB // 10_000)


# ---------------------------------------------------------------------------------- ASGI


async def _asgi(
    app: Any, path: str, payload: dict[str, Any], *, root_path: str = "", chunks: int = 1
) -> tuple[int, dict[str, str], dict[str, Any]]:
    data = json.dumps(payload).encode()
    pieces = [data[:5], data[5:]] if chunks == 2 else [data]
    incoming = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": root_path,
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
    }
    await app(scope, receive, send)
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body["body"])


def test_the_asgi_app_serves_the_same_contract(broker: Broker) -> None:
    app = asgi_app(broker)

    async def flow() -> None:
        status, headers, answer = await _asgi(
            app,
            "/internal/storage/presign-put",
            {"object_key": KEY, "content_length": 4, "content_type": "video/mp4"},
            chunks=2,
        )
        assert status == 200 and headers["content-type"] == "application/json"
        request = urllib.request.Request(
            answer["upload_url"], data=b"data", method="PUT", headers=answer["headers"]
        )
        await asyncio.to_thread(urllib.request.urlopen, request)
        # mounted under a framework route: path relative to root_path
        status, _, done = await _asgi(
            app,
            "/complete",
            {"object_key": KEY, "size_bytes": 4},
            root_path="/internal/storage",
        )
        assert (status, done["status"]) == (200, "ok")
        status, _, refused = await _asgi(
            app, "/internal/storage/delete", {"object_key": "users/1/a.fit"}
        )
        assert (status, refused["error"]) == (403, "forbidden_key")

    run_async(flow())


def test_the_asgi_app_handles_lifespan_and_refuses_huge_bodies(broker: Broker) -> None:
    app = asgi_app(broker)

    async def flow() -> None:
        sent: list[MutableMapping[str, Any]] = []
        messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await app({"type": "lifespan"}, receive, send)
        assert [m["type"] for m in sent] == [
            "lifespan.startup.complete",
            "lifespan.shutdown.complete",
        ]
        big = [{"type": "http.request", "body": b"x" * 600_000, "more_body": True}] * 2
        big.append({"type": "http.request", "body": b"", "more_body": False})
        sent.clear()

        async def receive_big() -> dict[str, Any]:
            return big.pop(0)

        scope = {"type": "http", "method": "POST", "path": "/internal/storage/complete"}
        await app(scope, receive_big, send)
        assert sent[0]["status"] == 413

    run_async(flow())


# ----------------------------------------------------------------- python -m storage_runtime


def test_the_broker_runs_from_the_command_line(settings: Settings, s3_server: S3Server) -> None:
    env = {**cli_env(settings), "BACKEND_SERVICE_TOKEN": TOKEN}
    # moto keeps no checksums: the backend reads the object back to compare instead
    check = "refuse" if has(s3_server, "stored checksums") else "download"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "storage_runtime",
            "broker",
            "--port",
            "0",
            "--if-no-checksum",
            check,
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r" on (http://127\.0\.0\.1:\d+)/internal/storage/ presign-put", line)
        assert found and f"s3://{settings.bucket}/ (videos/)" in line, line
        uploader = BackendPresignedUploader(
            Settings(
                provider="backend_presigned",
                backend_base_url=found[1],
                backend_service_token=TOKEN,
            )
        )
        assert uploader.put_object(b"data", KEY, "video/mp4").size_bytes == 4
        assert ObjectStore(settings).get(KEY) == b"data"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err


@pytest.mark.parametrize(
    ("token", "argv", "fragment"),
    [
        (None, [], "BACKEND_SERVICE_TOKEN is not set"),
        ("short", [], "has 5 characters; accepted: at least 16"),
        (TOKEN, ["--allow-prefix", "/videos/"], "allowed prefix '/videos/'; accepted"),
        (TOKEN, ["--outputs", "/nonexistent.json", "--app", "x"], "--outputs /nonexistent.json"),
    ],
)
def test_broker_mistakes_are_one_line_with_exit_2(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
    argv: list[str],
    fragment: str,
) -> None:
    for name, value in cli_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BACKEND_SERVICE_TOKEN_PREVIOUS", raising=False)
    if token is None:
        monkeypatch.delenv("BACKEND_SERVICE_TOKEN", raising=False)
    else:
        monkeypatch.setenv("BACKEND_SERVICE_TOKEN", token)
    assert main(["broker", "--port", "0", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert fragment in err, err


def test_the_broker_needs_an_object_store(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("OBJECT_STORE", "STORAGE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BACKEND_SERVICE_TOKEN", TOKEN)
    assert main(["broker", "--port", "0"]) == 2
    assert "needs an object store" in capsys.readouterr().err
