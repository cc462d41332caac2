"""AWS for the `ops` commands that read it (`import --discover`, `doctor --check-aws`): boto3
pointed at moto's server, with its test credentials and no profile of the machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.seaweed import S3Server

REGION = "ap-northeast-2"


@pytest.fixture(scope="module")
def aws(moto_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`aws(service, region="ap-northeast-2")` makes a client of moto's server; `ops` reads
    the same environment (`AWS_ENDPOINT_URL`) while the module runs."""
    none = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_CONFIG_FILE", str(none / "config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(none / "credentials"))
        env.delenv("AWS_PROFILE", raising=False)

        def client(service: str, region: str = REGION) -> Any:
            return boto3.session.Session().client(service, region_name=region)

        yield client


@pytest.fixture
def no_aws_credentials(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
