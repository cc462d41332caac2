"""An HTTP proxy on 127.0.0.1 in front of the S3 server that injects faults into a fraction of
requests: 503 SlowDown answers, connection resets, and answers delayed past the client's read
timeout (after the server executed the request). Bounded: at most `max_faults` faults, then it only forwards. Can also hold requests
that match a pattern (to freeze a transfer mid-way)."""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
NO_SUCH_UPLOAD = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code>'
    b"<Message>The specified upload does not exist.</Message></Error>"
)


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.2,
        modes: tuple[str, ...] = ("503", "reset", "stall"),
        stall_seconds: float = 2.5,
        max_faults: int = 60,
        seed: int = 7,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate, self.modes, self.stall_seconds, self.max_faults = (
            rate,
            modes,
            stall_seconds,
            max_faults,
        )
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.injected: list[tuple[str, str, str]] = []  # (mode, method, path) of every fault
        self.requests = 0
        self.hold_after: tuple[str, int] | None = None  # (substring of the path, how many pass)
        # stall the first request whose "METHOD /path?query" this regular expression finds
        self.stall_once: str | None = None
        # answer the retry of the stalled request 404 NoSuchUpload, as S3 may answer a retried
        # CompleteMultipartUpload whose first attempt completed the upload
        self.retry_finds_no_upload = False
        self._stalled: str | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self._seen: Counter[str] = Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _fault(self, method: str, path: str) -> str | None:
        with self.lock:
            self.requests += 1
            if sum(self.faults.values()) >= self.max_faults or self.random.random() >= self.rate:
                return None
            mode = self.random.choice(self.modes)
            self.faults[mode] += 1
            self.injected.append((mode, method, path))
            return mode

    def lost_creates(self) -> int:
        """CreateMultipartUpload requests the server executed but whose answer the client
        never saw (stalled past its read timeout): each leaves an upload nobody knows."""
        return sum(
            1
            for mode, method, path in self.injected
            if mode == "stall" and method == "POST" and "?uploads" in path
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _error(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                if proxy.hold_after is not None:
                    needle, passes = proxy.hold_after
                    if needle in self.path:
                        with proxy.lock:
                            proxy._seen[needle] += 1
                            seen = proxy._seen[needle]
                        if seen > passes:
                            proxy.held.set()
                            proxy.release.wait(30)
                mode = proxy._fault(self.command, self.path)
                with proxy.lock:
                    if proxy.retry_finds_no_upload and proxy._stalled == self.command + self.path:
                        proxy._stalled = None
                        proxy.injected.append(("no-such-upload", self.command, self.path))
                        mode = "no-such-upload"
                    elif proxy.stall_once is not None and re.search(
                        proxy.stall_once, f"{self.command} {self.path}"
                    ):
                        proxy.stall_once = None
                        proxy._stalled = self.command + self.path
                        proxy.faults["stall"] += 1
                        proxy.injected.append(("stall", self.command, self.path))
                        mode = "stall"
                if mode == "503":
                    return self._error(503, SLOW_DOWN)
                if mode == "no-such-upload":
                    return self._error(404, NO_SUCH_UPLOAD)
                if mode == "reset":
                    # RST instead of FIN: the client sees "connection reset by peer"
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                if mode == "stall":
                    # the server has done the work; its answer arrives after the client gave up
                    time.sleep(proxy.stall_seconds)
                self.send_response(response.status)
                # a HEAD answer has no body but the length of the object: keep the server's
                length = response.getheader("Content-Length", "0")
                for k, v in response.getheaders():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header(
                    "Content-Length", length if self.command == "HEAD" else str(len(data))
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        return Handler
