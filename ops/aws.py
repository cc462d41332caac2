"""boto3 for the read-only AWS lookups of `ops import --discover` and `ops doctor --check-aws`
(credentials, profile and `AWS_ENDPOINT_URL` come from the usual environment)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

#: `client(service, region)`: a boto3 client.
ClientMaker = Callable[[str, str], Any]


def clients() -> ClientMaker:
    """The client maker of one command: one boto3 session, one client per (service, region).
    A new session loads the service models again (~0.1-0.3 s a client); a lookup that loops
    over every bucket must not pay that per bucket."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(retries={"mode": "standard"})

    @functools.cache
    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, config=config)

    return client


def error_code(err: Any) -> str:
    """The AWS error code of a botocore ClientError ("" when it carries none)."""
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))
