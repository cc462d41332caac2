"""Two real S3 servers for the session (SeaweedFS and moto's server mode); every test that
takes `settings` or `store` runs against each, in a fresh bucket.

The servers disagree where it matters (../shared/reference/real-provider-behaviour.md, "S3
servers used in tests"); a test that can only hold on one calls `needs(server, feature)`,
which skips it on the other with the reason below, so the report says why.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from storage_runtime import ObjectStore, Settings
from tests.support.seaweed import S3Server, admin_client, seaweed

_counter = itertools.count()
T = TypeVar("T")

#: What only one of the servers does, and why the other cannot show it.
MISSING = {
    "moto": {
        "signatures": "moto checks no SigV4 signatures, presigned expiry or signed headers",
        "stored checksums": "moto keeps no x-amz-checksum-sha256 of an upload (HEAD never "
        "returns ChecksumSHA256)",
    },
    "seaweedfs": {
        "raw keys": "SeaweedFS normalises '//', a leading '/' and '\\' in keys",
        "exact content types": "SeaweedFS replaces application/octet-stream with a guess",
    },
}


def needs(server: S3Server, feature: str) -> None:
    why = MISSING[server.name].get(feature)
    if why:
        pytest.skip(f"only one server can show this: {why}")


def has(server: S3Server, feature: str) -> bool:
    """Whether `server` does `feature` (for a test that runs on both, configured for each)."""
    return feature not in MISSING[server.name]


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[S3Server]:
    with seaweed() as server:
        yield server


@pytest.fixture(scope="session", params=["seaweedfs", "moto"])
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """Each server is started once for the session (the parametrised fixture only picks one:
    pytest would otherwise restart a server whenever the order of tests switches)."""
    server: S3Server = request.getfixturevalue(f"{request.param}_server")
    return server


def make_settings(server: S3Server, **overrides: object) -> Settings:
    bucket = f"test-{next(_counter)}"
    admin_client(server).create_bucket(Bucket=bucket)
    values: dict[str, object] = {
        "provider": "minio",
        "bucket": bucket,
        "endpoint_url": server.endpoint,
        "region": "us-east-1",
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "max_concurrency": 4,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(s3_server: S3Server) -> Settings:
    return make_settings(s3_server)


@pytest.fixture
def store(settings: Settings) -> ObjectStore:
    return ObjectStore(settings)


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` on a loop of its own that is never made the thread's current loop:
    asyncio.run unsets the main thread's loop when it ends, after which the Pulumi mocks of
    later tests (asyncio.get_event_loop) fail with "There is no current event loop"."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
