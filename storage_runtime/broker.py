"""The backend side of seed 001's backend-presigned uploads, framework-neutral.

A service without storage credentials (the AI video renderer) asks this backend, with a
service bearer token, for presigned URLs; the backend holds the credentials, limits what may
be written where, and checks that an upload really arrived before it records it.

    POST {base}/presign-put          object_key, content_type?, content_length, checksum_sha256?
                                     -> upload_url, public_url, headers, expires_sec
    POST {base}/complete             object_key, size_bytes, etag?, checksum_sha256?, ...
                                     -> status ok, once the object is there as declared
    POST {base}/delete               object_key -> status ok
    POST {base}/presign-multipart    object_key, content_type?, content_length
                                     -> upload_id, part_size, parts [{part_number, upload_url,
                                        size}]
    POST {base}/complete-multipart   object_key, upload_id, size_bytes, parts? -> status ok
    POST {base}/abort-multipart      object_key, upload_id -> status ok

`base` is `/internal/storage` (the seed's paths). Every answer is JSON; an error is
`{"status": "error", "error": CODE, "message": ..., "field": FIELD?, "object_key": ...}`
with the seed's field names, and its status says who must act: 400 a malformed request,
401 no or a wrong token, 403 a key outside the allowed prefixes, 404 an unknown path, 409 an
upload that is not what was declared (`check`: missing, size, etag, checksum, no-checksum,
parts), 413 over the size limit, 502 the object store failed.

`Broker.handle(method, path, headers, body)` is the whole logic (no I/O but the object
store's), `asgi_app(broker)` mounts it in any ASGI server or framework, and `serve(...)`
(`python -m storage_runtime broker`) runs it on the standard library's HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.exceptions import ClientError

from storage_runtime.checksums import (
    NO_CHECKSUM_CHOICES,
    ConfirmedUpload,
    NoChecksum,
    plain_etag,
    sha256_base64,
)
from storage_runtime.errors import (
    InvalidChecksumError,
    InvalidKeyError,
    PresignError,
    StorageError,
    UploadNotConfirmedError,
    UploadTooLargeError,
)
from storage_runtime.files import content_type_for, valid_content_type
from storage_runtime.keys import validate_key
from storage_runtime.store import (
    MAX_SINGLE_PUT,
    MIN_PART_BYTES,
    MiB,
    ObjectStore,
    multipart_upload,
    part_size_for,
)
from storage_runtime.urls import public_url

log = logging.getLogger(__name__)

#: The largest request body read (a complete-multipart listing 10,000 parts is ~700 KB).
MAX_BODY_BYTES = 1024 * 1024
MAX_PART_BYTES = 5 * 1024 * MiB
MIN_TOKEN_CHARS = 16
_JSON: tuple[tuple[str, str], ...] = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
)


@dataclass(frozen=True, kw_only=True)
class BrokerConfig:
    """What one deployment of the backend allows."""

    tokens: tuple[str, ...]
    """Service tokens accepted (BACKEND_SERVICE_TOKEN; a second one while rotating), each at
    least 16 characters, compared in constant time."""
    allowed_prefixes: tuple[str, ...] = ("videos/",)
    """Key prefixes that may be written and deleted; each ends in '/'."""
    part_size_bytes: int = 16 * MiB
    """Part size of multipart uploads, bytes (5 MiB-5 GiB; larger when 10,000 parts would not
    hold the upload)."""
    multipart_expires_seconds: int = 3600
    """Expiry of part URLs (a 2 GiB render on a slow link takes longer than 10 minutes)."""
    if_no_checksum: NoChecksum = "refuse"
    """`complete` with a checksum_sha256 for an object stored without one: refuse,
    download (read it back and hash it) or accept (size and ETag only)."""
    base_path: str = "/internal/storage"

    def __post_init__(self) -> None:
        problems = []
        if not self.tokens:
            problems.append("no service token (BACKEND_SERVICE_TOKEN) is set")
        for i, token in enumerate(self.tokens):
            if not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS:
                problems.append(
                    f"service token #{i + 1} has {len(token) if isinstance(token, str) else 0} "
                    f"characters; accepted: at least {MIN_TOKEN_CHARS} (e.g. `openssl rand "
                    "-hex 32`)"
                )
        if not self.allowed_prefixes:
            problems.append("allowed_prefixes is empty; accepted: prefixes such as 'videos/'")
        for prefix in self.allowed_prefixes:
            try:
                validate_key(prefix)
                ok = prefix.endswith("/")
            except InvalidKeyError:
                ok = False
            if not ok:
                problems.append(
                    f"allowed prefix {prefix!r}; accepted: a key prefix ending in '/' "
                    "(e.g. 'videos/'), no leading '/', no '..'"
                )
        if not MIN_PART_BYTES <= self.part_size_bytes <= MAX_PART_BYTES:
            problems.append(
                f"part_size_bytes={self.part_size_bytes}; accepted: {MIN_PART_BYTES}-"
                f"{MAX_PART_BYTES} (5 MiB-5 GiB)"
            )
        if not 1 <= self.multipart_expires_seconds <= 604_800:
            problems.append(
                f"multipart_expires_seconds={self.multipart_expires_seconds}; accepted: 1-604800"
            )
        if self.if_no_checksum not in NO_CHECKSUM_CHOICES:
            problems.append(
                f"if_no_checksum={self.if_no_checksum!r}; accepted: "
                + ", ".join(NO_CHECKSUM_CHOICES)
            )
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", self.base_path):
            problems.append(f"base_path {self.base_path!r}; accepted: e.g. /internal/storage")
        if problems:
            raise StorageError("broker: " + "; ".join(problems))

    def __repr__(self) -> str:
        return (
            f"BrokerConfig(tokens=<{len(self.tokens)} hidden>, "
            f"allowed_prefixes={self.allowed_prefixes!r}, part_size_bytes={self.part_size_bytes})"
        )


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = _JSON

    def encoded(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class CompletedUpload:
    """What `complete` / `complete-multipart` verified: hand it to `on_complete` to record it
    (the seed's backend saves it as a video asset)."""

    object_key: str
    size_bytes: int
    etag: str
    content_type: str | None
    public_url: str | None
    checksum_sha256: str | None = None
    multipart: bool = False
    checks: tuple[str, ...] = field(default=())


class Refusal(Exception):
    """A request answered with an error: status, error code, message, the field concerned."""

    def __init__(
        self, status: int, error: str, message: str, *, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.field, self.extra = (
            status,
            error,
            message,
            field,
            extra,
        )

    def reply(self, key: str | None = None) -> Reply:
        """The JSON error answer, naming `key` when the request named one."""
        body: dict[str, Any] = {"status": "error", "error": self.error, "message": self.message}
        if self.field:
            body["field"] = self.field
        if key is not None:
            body["object_key"] = key
        body.update(self.extra)
        headers = _JSON
        if self.status == 401:
            headers = (*_JSON, ("WWW-Authenticate", 'Bearer realm="storage"'))
        elif self.status == 405:
            headers = (*_JSON, ("Allow", "POST"))
        return Reply(self.status, body, headers)


def _text(payload: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if required:
            raise Refusal(400, "invalid_request", f"{name} is required", field=name)
        return None
    if not isinstance(value, str):
        raise Refusal(400, "invalid_request", f"{name} must be a string, not {value!r}", field=name)
    return value


def _count(payload: Mapping[str, Any], name: str, *, low: int = 0) -> int:
    value = payload.get(name)
    if value is None:
        raise Refusal(400, "invalid_request", f"{name} is required", field=name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise Refusal(
            400,
            "invalid_request",
            f"{name} {value!r} is not a whole number of bytes >= {low}",
            field=name,
        )
    return value


def _checksum(payload: Mapping[str, Any]) -> str | None:
    value = _text(payload, "checksum_sha256", required=False)
    if value is None:
        return None
    try:
        return sha256_base64(value)
    except InvalidChecksumError as err:
        raise Refusal(400, "invalid_request", str(err), field="checksum_sha256") from None


def _client_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class Broker:
    """The presign/complete/delete API of seed 001 on one bucket (`store`)."""

    def __init__(
        self,
        store: ObjectStore,
        config: BrokerConfig,
        on_complete: Callable[[CompletedUpload], None] | None = None,
    ) -> None:
        self.store, self.config, self.on_complete = store, config, on_complete
        self._tokens = [t.encode() for t in config.tokens]
        endpoints: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "presign-put": self.presign_put,
            "complete": self.complete,
            "delete": self.delete,
            "presign-multipart": self.presign_multipart,
            "complete-multipart": self.complete_multipart,
            "abort-multipart": self.abort_multipart,
        }
        self._routes = {f"{config.base_path}/{name}": call for name, call in endpoints.items()}

    def __repr__(self) -> str:
        return f"Broker({self.store!r}, {self.config!r})"

    # ------------------------------------------------------------------------ the request

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request. `headers` keys in any case; `body` the raw bytes."""
        route = self._routes.get(path.split("?", 1)[0].rstrip("/") or "/")
        key: str | None = None
        try:
            if route is None:
                raise Refusal(
                    404, "not_found", f"no endpoint {path!r}; endpoints: " + ", ".join(self._routes)
                )
            if method.upper() != "POST":
                raise Refusal(405, "method_not_allowed", f"{method} {path}: only POST is accepted")
            self._authorise(headers)
            payload = self._payload(body)
            key = payload.get("object_key") if isinstance(payload.get("object_key"), str) else None
            return Reply(200, route(payload))
        except Refusal as refusal:
            return refusal.reply(key)
        except UploadNotConfirmedError as err:
            return Refusal(409, "upload_not_confirmed", str(err), check=err.check).reply(key)
        except UploadTooLargeError as err:
            return Refusal(413, "too_large", str(err), field="content_length").reply(key)
        except (PresignError, InvalidChecksumError) as err:
            return Refusal(400, "invalid_request", str(err)).reply(key)
        except StorageError as err:
            log.warning("object store failed for %s: %s", path, err)
            return Refusal(502, "storage_error", str(err)).reply(key)
        except Exception:
            log.exception("broker: %s %s failed", method, path)
            return Refusal(500, "internal_error", "internal error (logged)").reply(key)

    def _authorise(self, headers: Mapping[str, str]) -> None:
        given = ""
        for name, value in headers.items():
            if name.lower() == "authorization":
                given = value
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "unauthorized", "Authorization: Bearer <service token> is required")
        candidate = token.strip().encode()
        accepted = False
        for known in self._tokens:  # every token is compared: no early exit to time
            accepted |= hmac.compare_digest(candidate, known)
        if not accepted:
            raise Refusal(401, "unauthorized", "the service token is not accepted")

    @staticmethod
    def _payload(body: bytes) -> dict[str, Any]:
        if len(body) > MAX_BODY_BYTES:
            raise Refusal(413, "too_large", f"request body over {MAX_BODY_BYTES} bytes")
        try:
            payload = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise Refusal(400, "invalid_request", "the body is not JSON") from None
        if not isinstance(payload, dict):
            raise Refusal(400, "invalid_request", "the body must be a JSON object")
        return payload

    def _key(self, payload: Mapping[str, Any]) -> str:
        key = _text(payload, "object_key")
        assert key is not None
        try:
            validate_key(key)
        except InvalidKeyError as err:
            raise Refusal(400, "invalid_key", str(err), field="object_key") from None
        if key.endswith("/"):
            raise Refusal(400, "invalid_key", f"object key {key!r} ends in '/'", field="object_key")
        if not any(key.startswith(p) for p in self.config.allowed_prefixes):
            raise Refusal(
                403,
                "forbidden_key",
                f"object key {key!r} is outside the allowed prefixes "
                + ", ".join(repr(p) for p in self.config.allowed_prefixes),
                field="object_key",
            )
        return key

    def _size(self, payload: Mapping[str, Any], name: str, *, low: int = 0) -> int:
        size = _count(payload, name, low=low)
        limit = self.store.settings.max_upload_bytes
        if size > limit:
            raise Refusal(
                413,
                "too_large",
                f"File size {size / MiB:.1f}MB exceeds limit {limit / MiB:.1f}MB",
                field=name,
            )
        return size

    def _content_type(self, payload: Mapping[str, Any], key: str) -> str:
        content_type = _text(payload, "content_type", required=False) or content_type_for(key)
        if not valid_content_type(content_type):
            raise Refusal(
                400,
                "invalid_request",
                f"content_type {content_type!r} is not TYPE/SUBTYPE (e.g. video/mp4)",
                field="content_type",
            )
        return content_type

    def _public_url(self, key: str) -> str | None:
        base = self.store.settings.public_base_url
        return public_url(base, key) if base else None

    def _record(self, confirmed: ConfirmedUpload, *, multipart: bool) -> dict[str, Any]:
        done = CompletedUpload(
            confirmed.key,
            confirmed.size,
            confirmed.etag,
            confirmed.content_type,
            self._public_url(confirmed.key),
            confirmed.sha256,
            multipart=multipart,
            checks=confirmed.checks,
        )
        if self.on_complete is not None:
            self.on_complete(done)
        log.info("upload of %s confirmed (%d bytes)", done.object_key, done.size_bytes)
        return {
            "status": "ok",
            "object_key": done.object_key,
            "size_bytes": done.size_bytes,
            "etag": done.etag,
            "public_url": done.public_url,
        }

    @contextlib.contextmanager
    def _upload_errors(self, op: str, key: str) -> Iterator[None]:
        """The store's translation of client failures, but NoSuchUpload as a Refusal."""
        with self.store._errors(op, key):
            try:
                yield
            except ClientError as err:
                if _client_code(err) != "NoSuchUpload":
                    raise
                raise Refusal(
                    409,
                    "upload_not_found",
                    f"{op} {key!r}: no such multipart upload (completed, aborted or expired)",
                    field="upload_id",
                    check="missing",
                ) from None

    # ------------------------------------------------------------------------ endpoints

    def presign_put(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = self._key(payload)
        size = self._size(payload, "content_length")
        if size > MAX_SINGLE_PUT:
            raise Refusal(
                400,
                "multipart_required",
                f"content_length {size} is over the 5 GiB of one PUT; use presign-multipart",
                field="content_length",
            )
        content_type = self._content_type(payload, key)
        sha256 = _checksum(payload)
        presigned = self.store.presign_put(
            key, content_type=content_type, content_length=size, sha256=sha256
        )
        return {
            "upload_url": presigned.url,
            "public_url": self._public_url(key),
            "headers": presigned.browser_headers,
            "expires_sec": presigned.expires_in,
            "object_key": key,
            "content_type": content_type,
        }

    def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = self._key(payload)
        size = _count(payload, "size_bytes")
        etag = _text(payload, "etag", required=False)
        sha256 = _checksum(payload)
        confirmed = self.store.confirm_upload(
            key, size=size, etag=etag, sha256=sha256, if_no_checksum=self.config.if_no_checksum
        )
        return self._record(confirmed, multipart=False)

    def delete(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = self._key(payload)
        self.store.delete(key)
        log.info("deleted %s", key)
        return {"status": "ok", "object_key": key}

    def part_size(self, size: int) -> int:
        """The configured part size, larger when 10,000 parts would not hold `size`."""
        return part_size_for(size, self.config.part_size_bytes)

    def presign_multipart(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = self._key(payload)
        size = self._size(payload, "content_length", low=1)
        content_type = self._content_type(payload, key)
        part = self.part_size(size)
        count = math.ceil(size / part)
        client, bucket = self.store.client, self.store.bucket
        seconds = self.config.multipart_expires_seconds
        # multipart_upload aborts the new upload if presigning its parts fails
        with (
            self.store._errors("presign_multipart", key),
            multipart_upload(client, bucket, key, ContentType=content_type) as upload_id,
        ):
            parts = []
            for number in range(1, count + 1):
                length = min(part, size - (number - 1) * part)
                url = client.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": number,
                        "ContentLength": length,
                    },
                    ExpiresIn=seconds,
                )
                parts.append({"part_number": number, "upload_url": url, "size": length})
        log.info("multipart upload %s of %s: %d parts of %d bytes", upload_id, key, count, part)
        return {
            "object_key": key,
            "upload_id": upload_id,
            "part_size": part,
            "parts": parts,
            "headers": {},
            "expires_sec": seconds,
            "public_url": self._public_url(key),
            "content_type": content_type,
        }

    def _listed_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        paginator = self.store.client.get_paginator("list_parts")
        with self._upload_errors("list_parts", key):
            for page in paginator.paginate(Bucket=self.store.bucket, Key=key, UploadId=upload_id):
                parts += page.get("Parts", [])
        return sorted(parts, key=lambda p: int(p["PartNumber"]))

    def complete_multipart(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Completes from the server's own list of parts (the client's ETags, when sent, must
        match it), so a part that never arrived, arrived short or was replaced is refused
        before the object exists. A retried call whose first attempt completed answers ok
        once the object is there with the declared size."""
        key = self._key(payload)
        upload_id = _text(payload, "upload_id")
        assert upload_id is not None
        size = _count(payload, "size_bytes", low=1)
        declared = payload.get("parts")
        if declared is not None and not (
            isinstance(declared, list)
            and all(isinstance(p, dict) and isinstance(p.get("part_number"), int) for p in declared)
        ):
            raise Refusal(
                400,
                "invalid_request",
                "parts must be a list of {part_number, etag}",
                field="parts",
            )
        try:
            listed = self._listed_parts(key, upload_id)
        except Refusal as refusal:
            if refusal.error != "upload_not_found" or not self.store.exists(key):
                raise
            confirmed = self.store.confirm_upload(key, size=size)  # completed by a first try
            return self._record(confirmed, multipart=True)
        numbers = [int(p["PartNumber"]) for p in listed]
        if numbers != list(range(1, len(listed) + 1)) or not listed:
            raise UploadNotConfirmedError(
                key, "parts", f"parts {numbers} arrived; expected 1..N without gaps"
            )
        arrived = sum(int(p["Size"]) for p in listed)
        if arrived != size:
            raise UploadNotConfirmedError(
                key,
                "size",
                f"{arrived} bytes arrived in parts, {size} declared",
                expected=size,
                actual=arrived,
            )
        if declared is not None:
            by_number = {int(p["PartNumber"]): str(p["ETag"]) for p in listed}
            sent = {int(p["part_number"]): str(p.get("etag") or "") for p in declared}
            if set(sent) != set(by_number):
                raise UploadNotConfirmedError(
                    key, "parts", f"parts {sorted(sent)} declared, {sorted(by_number)} arrived"
                )
            for number, etag in sent.items():
                if plain_etag(etag) != plain_etag(by_number[number]):
                    raise UploadNotConfirmedError(
                        key,
                        "etag",
                        f"part {number}: ETag {by_number[number]} arrived, {etag} declared",
                    )
        with self._upload_errors("complete_multipart_upload", key):
            result = self.store.client.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed]
                },
            )
        confirmed = self.store.confirm_upload(key, size=size, etag=str(result.get("ETag", "")))
        return self._record(confirmed, multipart=True)

    def abort_multipart(self, payload: dict[str, Any]) -> dict[str, Any]:
        key = self._key(payload)
        upload_id = _text(payload, "upload_id")
        try:
            with self._upload_errors("abort_multipart_upload", key):
                self.store.client.abort_multipart_upload(
                    Bucket=self.store.bucket, Key=key, UploadId=upload_id
                )
        except Refusal as refusal:
            if refusal.error != "upload_not_found":
                raise  # already gone: aborting twice is not an error
        return {"status": "ok", "object_key": key}


# ----------------------------------------------------------------------------- adapters

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def asgi_app(broker: Broker) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The broker as an ASGI 3 application (uvicorn, hypercorn, or mounted under a
    framework's route): the blocking object-store calls run in a worker thread, so the event
    loop keeps serving. No framework is needed."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks, size, too_large = [], 0, False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                too_large = True
            elif chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        root, path = scope.get("root_path", ""), scope["path"]
        full = path if not root or path.startswith(root) else root + path
        if too_large:
            reply = Refusal(413, "too_large", "request body too large").reply()
        else:
            reply = await asyncio.to_thread(
                broker.handle, scope["method"], full, headers, b"".join(chunks)
            )
        data = reply.encoded()
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    *((k.lower().encode(), v.encode()) for k, v in reply.headers),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    return app


class BrokerServer(ThreadingHTTPServer):
    """The broker on the standard library's threaded HTTP server (`serve` below), for
    running it locally and in tests; production mounts `asgi_app` in its own server."""

    daemon_threads = True

    def __init__(self, broker: Broker, address: tuple[str, int]) -> None:
        self.broker = broker
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: BrokerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _answer(self) -> None:
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            size = -1
        if size < 0 or size > MAX_BODY_BYTES:
            status = 413 if size > 0 else 400
            reply = Refusal(status, "invalid_request", "bad Content-Length").reply()
            self.close_connection = True
        else:
            body = self.rfile.read(size) if size else b""
            reply = self.server.broker.handle(self.command, self.path, dict(self.headers), body)
        data = reply.encoded()
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _answer


def serve(broker: Broker, host: str = "127.0.0.1", port: int = 8080) -> BrokerServer:
    """A started-but-not-serving server: call `serve_forever()` (or run it in a thread)."""
    return BrokerServer(broker, (host, port))
