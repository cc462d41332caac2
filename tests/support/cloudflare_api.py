"""A local stand-in for Cloudflare's API-token listing on 127.0.0.1 (a free port), answering
the way `GET /accounts/{account_id}/tokens` and `GET /user/tokens` do: the v4 envelope
(`success`, `errors`, `messages`, `result`, `result_info`), `page`/`per_page` pagination
(per_page 5-50), `Authorization: Bearer <token>` required, errors as
`{"success": false, "errors": [{"code": ..., "message": ...}]}` with the HTTP status.

It also answers `GET /accounts/{account_id}/r2/buckets/{bucket_name}` (Get Bucket) for the
jurisdiction in the `cf-r2-jurisdiction` header (`default` without it), with the bucket or a
404 and Cloudflare's error 10006."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.local_http import serving

API_TOKEN = "test-token-with-api-tokens-read"


@dataclass
class FakeCloudflare:
    account_id: str
    account_tokens: list[dict[str, Any]] = field(default_factory=list)
    user_tokens: list[dict[str, Any]] = field(default_factory=list)
    r2_buckets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(jurisdiction, name) -> the bucket as Get Bucket returns it."""
    fail_with: tuple[int, int, str] | None = None
    """(HTTP status, Cloudflare error code, message) to answer every request with."""
    requests: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)
    """(path, query, Authorization header) of every request."""
    base_url: str = ""


def token(name: str, last_used_on: str | None, token_id: str | None = None) -> dict[str, Any]:
    """One token as the API lists it (no value: Cloudflare never lists token values)."""
    return {
        "id": token_id or f"{abs(hash(name)):032x}"[:32],
        "name": name,
        "status": "active",
        "issued_on": "2026-07-01T00:00:00Z",
        "modified_on": "2026-07-01T00:00:00Z",
        "last_used_on": last_used_on,
        "not_before": None,
        "expires_on": None,
        "policies": [],
        "condition": {},
    }


def _handler(api: FakeCloudflare) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: int, message: str) -> None:
            self._answer(
                status,
                {"success": False, "errors": [{"code": code, "message": message}], "messages": []},
            )

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            auth = self.headers.get("Authorization", "")
            api.requests.append((url.path, query, auth))
            if auth != f"Bearer {API_TOKEN}":
                return self._error(400, 6003, "Invalid request headers")
            if api.fail_with is not None:
                return self._error(*api.fail_with)
            r2 = f"/client/v4/accounts/{api.account_id}/r2/buckets/"
            if url.path.startswith(r2):
                name = urllib.parse.unquote(url.path[len(r2) :])
                jurisdiction = self.headers.get("cf-r2-jurisdiction") or "default"
                bucket = api.r2_buckets.get((jurisdiction, name))
                if bucket is None:
                    return self._error(404, 10006, "The specified bucket does not exist.")
                return self._answer(
                    200, {"success": True, "errors": [], "messages": [], "result": bucket}
                )
            if url.path == f"/client/v4/accounts/{api.account_id}/tokens":
                tokens = api.account_tokens
            elif url.path == "/client/v4/user/tokens":
                tokens = api.user_tokens
            else:
                return self._error(
                    404,
                    7003,
                    "Could not route to /path, perhaps your object identifier is invalid?",
                )
            page = int(query.get("page", ["1"])[0])
            per_page = int(query.get("per_page", ["20"])[0])
            if not 5 <= per_page <= 50:
                return self._error(400, 1001, "per_page must be between 5 and 50")
            chunk = tokens[(page - 1) * per_page : page * per_page]
            total_pages = max(1, -(-len(tokens) // per_page))
            self._answer(
                200,
                {
                    "success": True,
                    "errors": [],
                    "messages": [],
                    "result": chunk,
                    "result_info": {
                        "page": page,
                        "per_page": per_page,
                        "count": len(chunk),
                        "total_count": len(tokens),
                        "total_pages": total_pages,
                    },
                },
            )

    return Handler


@contextmanager
def serve(api: FakeCloudflare) -> Iterator[FakeCloudflare]:
    with serving(_handler(api)) as url:
        api.base_url = f"{url}/client/v4"
        yield api
