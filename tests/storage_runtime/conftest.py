"""One SeaweedFS server for the session; a fresh bucket per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from storage_runtime import ObjectStore, Settings
from tests.support.seaweed import SeaweedServer, admin_client, seaweed

_counter = itertools.count()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    with seaweed() as server:
        yield server


@pytest.fixture
def settings(s3_server: SeaweedServer) -> Settings:
    bucket = f"test-{next(_counter)}"
    admin_client(s3_server).create_bucket(Bucket=bucket)
    return Settings(
        provider="minio",
        bucket=bucket,
        endpoint_url=s3_server.endpoint,
        region="us-east-1",
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
        max_concurrency=4,
    )


@pytest.fixture
def store(settings: Settings) -> ObjectStore:
    return ObjectStore(settings)
