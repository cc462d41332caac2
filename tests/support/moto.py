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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.seaweed import S3Server


def moto_binary() -> str:
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
        "moto_server"
    )
    if not found:
        raise RuntimeError("the `moto_server` script is missing: pip install 'moto[server]'")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto(timeout: float = 60.0) -> Iterator[S3Server]:
    """A moto S3 server; described with the same record as SeaweedFS (endpoint and keys: any
    keys are accepted, these are what the clients send)."""
    data = Path(tempfile.mkdtemp(prefix="moto-"))
    port = _free_port()
    log = (data / "moto.log").open("wb")
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    proc = subprocess.Popen(
        [moto_binary(), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}: see {log.name}")
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # it answers: the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not come up in {timeout} s") from None
                time.sleep(0.1)
        yield S3Server("moto", endpoint, "moto-access-key", "moto-secret-key", data)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
