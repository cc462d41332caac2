"""DirectPut: the lean signed PUT used for small files by sync."""

from __future__ import annotations

import hashlib

import pytest

from storage_runtime import ObjectStore, Settings, StorageError
from storage_runtime.direct import DirectPut
from tests.storage_runtime.conftest import needs
from tests.support.seaweed import S3Server

R2 = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"


def test_addressing_follows_the_client_configuration() -> None:
    r2 = Settings(
        provider="s3",
        bucket="jokbodude",
        endpoint_url=R2,
        region="auto",
        access_key_id="k",
        secret_access_key="s",
    )
    assert DirectPut(r2, R2, 4).url("jokbodude", "results/j 1/a+b.pdf") == (
        "https://jokbodude.0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com/results/j%201/a%2Bb.pdf"
    )
    minio = Settings(
        provider="minio",
        bucket="b",
        endpoint_url="http://127.0.0.1:9000",
        access_key_id="k",
        secret_access_key="s",
    )
    assert (
        DirectPut(minio, "http://127.0.0.1:9000", 4).url("b", "x/y")
        == "http://127.0.0.1:9000/b/x/y"
    )


def test_put_round_trips_and_returns_the_md5_etag(store: ObjectStore) -> None:
    direct = DirectPut(store.settings, store.settings.endpoint_url or "", 4)
    etag, retries = direct.put(store.bucket, "direct/a b.bin", b"payload", "text/plain")
    assert etag.strip('"') == hashlib.md5(b"payload").hexdigest() and retries == 0
    assert store.get("direct/a b.bin") == b"payload"
    assert store.head("direct/a b.bin").content_type == "text/plain"


def test_refused_signature_is_a_clear_non_transient_error(
    settings: Settings, s3_server: S3Server
) -> None:
    needs(s3_server, "signatures")
    bad = Settings(**{**settings.__dict__, "secret_access_key": "wrong"})
    direct = DirectPut(bad, bad.endpoint_url or "", 2)
    with pytest.raises(
        StorageError, match=rf"put s3://{settings.bucket}/k failed: HTTP 403 SignatureDoesNotMatch"
    ) as info:
        direct.put(settings.bucket, "k", b"x")
    assert not isinstance(info.value, ConnectionError)
