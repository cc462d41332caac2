"""The token listing `ops keys retire` asks Cloudflare for, against a local fake of the API."""

from __future__ import annotations

import datetime as dt

import pytest

from ops.cloudflare import CloudflareError, TokensApi
from tests.support.cloudflare_api import API_TOKEN, FakeCloudflare, serve, token

ACCOUNT = "0123456789abcdef0123456789abcdef"


def test_lists_every_page_with_the_bearer_token() -> None:
    tokens = [token(f"t-{i}", "2026-11-30T08:00:00Z" if i == 120 else None) for i in range(121)]
    with serve(FakeCloudflare(ACCOUNT, account_tokens=tokens)) as api:
        found = TokensApi(API_TOKEN, api.base_url).tokens("account", ACCOUNT)
    assert [t.name for t in found] == [f"t-{i}" for i in range(121)]
    assert found[120].last_used_on == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    assert found[0].last_used_on is None
    assert [q["page"] for _, q, _ in api.requests] == [["1"], ["2"], ["3"]]


def test_user_tokens_come_from_the_user_endpoint() -> None:
    with serve(FakeCloudflare(ACCOUNT, user_tokens=[token("mine", None)])) as api:
        found = TokensApi(API_TOKEN, api.base_url).tokens("user", ACCOUNT)
    assert [t.name for t in found] == ["mine"]
    assert [p for p, _, _ in api.requests] == ["/client/v4/user/tokens"]


def test_errors_carry_cloudflares_own_message() -> None:
    with serve(
        FakeCloudflare(ACCOUNT, fail_with=(403, 9109, "Unauthorized to access requested resource"))
    ) as api:
        with pytest.raises(
            CloudflareError, match="HTTP 403: 9109 Unauthorized to access requested resource"
        ):
            TokensApi(API_TOKEN, api.base_url).tokens("account", ACCOUNT)
        with pytest.raises(CloudflareError, match="HTTP 400: 6003 Invalid request headers"):
            TokensApi("wrong", api.base_url).tokens("account", ACCOUNT)


def test_an_unreachable_api_is_an_error_not_a_traceback() -> None:
    with serve(FakeCloudflare(ACCOUNT)) as api:
        base = api.base_url
    with pytest.raises(CloudflareError, match=r"cannot reach http://127\.0\.0\.1"):
        TokensApi(API_TOKEN, base, timeout=2).tokens("account", ACCOUNT)


def test_credentials_come_from_the_providers_variables() -> None:
    assert TokensApi.from_env({}) is None
    api = TokensApi.from_env({"CLOUDFLARE_API_TOKEN": "x"})
    assert api is not None and api.base_url == "https://api.cloudflare.com/client/v4"
    api = TokensApi.from_env(
        {"CLOUDFLARE_API_TOKEN": "x", "CLOUDFLARE_BASE_URL": "http://127.0.0.1:9/v4/"}
    )
    assert api is not None and api.base_url == "http://127.0.0.1:9/v4"
