"""One S3 client per Settings, created once and shared (clients are thread-safe; sessions are
not, so each client gets a session of its own, created under a lock).

The client is botocore's (what boto3 returns too), made from a botocore session: importing
boto3 would also import s3transfer, which nothing here uses (a tenth of a second at every
`python -m storage_runtime` start)."""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

from storage_runtime.settings import Settings

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def _client_key(settings: Settings) -> tuple[Any, ...]:
    """What a client is made of: endpoint, credentials and connection settings, not the bucket
    (a parameter of each call), so that every bucket on one endpoint shares one client."""
    return (
        settings.provider,
        settings.endpoint_url,
        settings.region,
        settings.access_key_id,
        settings.secret_access_key,
        settings.connect_timeout_seconds,
        settings.read_timeout_seconds,
        settings.max_concurrency,
        settings.max_attempts,
    )


def addressing_style(settings: Settings) -> str:
    if settings.is_r2:
        # R2 serves virtual-hosted URLs (<bucket>.<account>.r2...); names have no dots.
        return "virtual"
    if settings.provider == "minio" or settings.endpoint_url:
        # Self-hosted S3 APIs (MinIO, SeaweedFS) rarely have wildcard DNS for buckets.
        return "path"
    return "auto"


def client_config(settings: Settings) -> Config:
    """The botocore Config for a store, with the reason for every setting."""
    s3 = {"addressing_style": addressing_style(settings)}
    kwargs: dict[str, Any] = {}
    if settings.endpoint_url:
        # botocore >= 1.36 sends CRC32 trailers (aws-chunked) by default, which R2 and other
        # S3-compatible servers reject; checksums only where an operation requires them.
        kwargs.update(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    return Config(
        signature_version="s3v4",  # SigV4 everywhere: it signs content-length in presigned PUTs
        region_name=settings.region,
        s3=s3,
        # total attempts (STORAGE_MAX_ATTEMPTS, default 5), exponential backoff with jitter
        retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        # one connection per concurrent transfer plus headroom for presign/head calls
        max_pool_connections=max(10, settings.max_concurrency + 2),
        **kwargs,
    )


def make_client(settings: Settings) -> Any:
    """The shared S3 client for these settings (and any that differ only in the bucket)."""
    key = _client_key(settings)
    with _lock:
        client = _clients.get(key)
        if client is None:
            session = botocore.session.get_session()
            client = session.create_client(
                "s3",
                endpoint_url=settings.endpoint_url,
                aws_access_key_id=settings.access_key_id,
                aws_secret_access_key=settings.secret_access_key,
                config=client_config(settings),
            )
            _clients[key] = client
        return client
