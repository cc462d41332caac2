"""The second, strict S3 server for tests and benchmarks: moto's server mode (`moto_server`,
from the moto[server] extra) on 127.0.0.1 and a free port, stopped on exit.

moto keeps keys exactly as written (`//`, a leading `/`, `\\`), stores `binary/octet-stream`
when no Content-Type is sent and refuses a missing bucket, like Amazon S3 and R2 (SeaweedFS
is lenient on all three). It checks no signatures and no presigned expiry, and reports a
fixed multipart `Initiated` date: tests of those hold on SeaweedFS only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.seaweed import S3Server, installed, serving


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto(timeout: float = 60.0) -> Iterator[S3Server]:
    """A moto S3 server; any keys are accepted, these are what the clients send."""
    data = Path(tempfile.mkdtemp(prefix="moto-"))
    port = _free_port()
    args = [installed("moto_server", "'moto[server]'"), "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    with serving("moto_server", args, dict(os.environ), endpoint + "/moto-api", data, timeout):
        yield S3Server("moto", endpoint, "moto-access-key", "moto-secret-key", data)
