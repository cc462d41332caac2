"""R2ApiToken: least-privilege, bucket-scoped tokens; S3 credentials as secrets; overlap."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pytest

from components.config import R2Bucket, R2Token
from components.r2 import R2BucketArgs, R2DataBucket
from components.r2_tokens import R2ApiToken, R2TokenArgs
from ops.mocks import CLOUDFLARE_PERMISSION_GROUPS, mock_token_id, mock_token_value
from tests.conftest import Recorded, spec, stack_problems

ACCOUNT = "0123456789abcdef0123456789abcdef"
ACCOUNT_TOKEN = "cloudflare:index/accountToken:AccountToken"
USER_TOKEN = "cloudflare:index/apiToken:ApiToken"


def group_id(name: str) -> str:
    """The id the mocked Cloudflare API gives a permission group."""
    return hashlib.sha256(f"permission-group/{name}".encode()).hexdigest()[:32]


def token(
    pulumi_run: Any,
    raw: dict[str, Any] | None = None,
    buckets: dict[str, dict[str, Any]] | None = None,
    mode: str = "preview",
) -> Recorded:
    buckets = buckets or {"files": {"name": "app-files"}}

    def build() -> R2ApiToken:
        components = {
            key: R2DataBucket(
                f"app-{key}", R2BucketArgs(spec=spec(R2Bucket, b), account_id=ACCOUNT)
            )
            for key, b in buckets.items()
        }
        token_spec = spec(
            R2Token,
            {
                "buckets": list(buckets),
                "access": "read-write",
                "generations": ["2026q4"],
                **(raw or {}),
            },
        )
        t = R2ApiToken(
            "app-service",
            R2TokenArgs(
                spec=token_spec, account_id=ACCOUNT, buckets=components, token_name="app-service"
            ),
        )
        pulumi.export("accessKeyId", t.access_key_id)
        pulumi.export("secretAccessKey", t.secret_access_key)
        pulumi.export("secretAccessKeyPlain", pulumi.Output.unsecret(t.secret_access_key))
        return t

    return pulumi_run(build, mode=mode)


def policies(reg: Any) -> list[dict[str, Any]]:
    return reg.inputs["policies"]


def test_read_write_token_holds_exactly_the_object_groups_on_the_named_bucket(
    pulumi_run: Any,
) -> None:
    rec = token(pulumi_run)
    (policy,) = policies(rec.one(ACCOUNT_TOKEN))
    assert policy["effect"] == "allow"
    assert {g["id"] for g in policy["permissionGroups"]} == {
        group_id("Workers R2 Storage Bucket Item Read"),
        group_id("Workers R2 Storage Bucket Item Write"),
    }
    assert json.loads(policy["resources"]) == {
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_app-files": "*"
    }


def test_read_token_holds_only_item_read(pulumi_run: Any) -> None:
    (policy,) = policies(token(pulumi_run, {"access": "read"}).one(ACCOUNT_TOKEN))
    assert [g["id"] for g in policy["permissionGroups"]] == [
        group_id("Workers R2 Storage Bucket Item Read")
    ]


def test_no_account_wide_or_admin_scope(pulumi_run: Any) -> None:
    rec = token(pulumi_run)
    account_wide = {
        group_id(n)
        for n, scope in CLOUDFLARE_PERMISSION_GROUPS.items()
        if scope == "com.cloudflare.api.account"
    }
    for policy in policies(rec.one(ACCOUNT_TOKEN)):
        assert not account_wide & {g["id"] for g in policy["permissionGroups"]}
        for key in json.loads(policy["resources"]):
            assert key.startswith("com.cloudflare.edge.r2.bucket.") and "*" not in key, key


def test_permission_groups_are_looked_up_by_scope_never_by_an_encoded_name(
    pulumi_run: Any,
) -> None:
    """Finding 7: the name was URL-encoded, which the provider encodes again ("%2520"): the
    real lookup matched nothing while the mock un-quoted it. Now the lookup filters by scope
    and picks the exact name in code; the mock refuses encoded names."""
    rec = token(pulumi_run)
    lookups = [c for c in rec.run.mocks.calls if "PermissionGroupsList" in c.token]
    assert lookups, "the ids come from Cloudflare"
    assert all(c.args.get("scope") == "com.cloudflare.edge.r2.bucket" for c in lookups)
    assert all("%" not in str(c.args.get("name", "")) for c in lookups)
    assert all(c.args["accountId"] == ACCOUNT for c in lookups)


def test_the_mock_refuses_a_url_encoded_name(pulumi_run: Any) -> None:
    def build() -> None:
        import pulumi_cloudflare as cloudflare

        cloudflare.get_account_api_token_permission_groups_list_output(
            account_id=ACCOUNT, name="Workers%20R2%20Storage%20Bucket%20Item%20Read"
        )

    with pytest.raises(Exception, match="URL-encoded; the provider encodes query parameters"):
        pulumi_run(build)


def test_policy_resources_are_the_compact_json_the_provider_stores(pulumi_run: Any) -> None:
    """Finding 1: `{"k": "*"}` was sent, the provider stores Cloudflare's `{"k":"*"}`, and
    every refresh showed a change to every token."""
    rec = token(
        pulumi_run,
        buckets={"files": {"name": "app-files"}, "eu": {"name": "app-eu", "jurisdiction": "eu"}},
    )
    (policy,) = policies(rec.one(ACCOUNT_TOKEN))
    text = policy["resources"]
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert ": " not in text and ", " not in text


def test_token_spans_exactly_its_buckets_with_their_jurisdictions(pulumi_run: Any) -> None:
    rec = token(
        pulumi_run,
        buckets={"files": {"name": "app-files"}, "eu": {"name": "app-eu", "jurisdiction": "eu"}},
    )
    (policy,) = policies(rec.one(ACCOUNT_TOKEN))
    assert json.loads(policy["resources"]) == {
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_app-files": "*",
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_eu_app-eu": "*",
    }


def test_account_owned_by_default_user_token_as_an_option(pulumi_run: Any) -> None:
    rec = token(pulumi_run)
    assert rec.one(ACCOUNT_TOKEN).inputs["accountId"] == ACCOUNT
    user = token(pulumi_run, {"owner": "user"})
    assert user.all(ACCOUNT_TOKEN) == []
    assert "accountId" not in user.one(USER_TOKEN).inputs
    assert any("getApiTokenPermissionGroupsList" in c.token for c in user.run.mocks.calls)


def test_ip_lists_and_validity_window(pulumi_run: Any) -> None:
    rec = token(
        pulumi_run,
        {
            "allowIps": ["203.0.113.0/24"],
            "denyIps": ["203.0.113.66/32"],
            "notBefore": "2026-10-01T00:00:00Z",
            "expiresOn": "2027-04-01T00:00:00Z",
        },
    )
    inputs = rec.one(ACCOUNT_TOKEN).inputs
    assert inputs["condition"] == {
        "requestIp": {"ins": ["203.0.113.0/24"], "notIns": ["203.0.113.66/32"]}
    }
    assert inputs["notBefore"] == "2026-10-01T00:00:00Z"
    assert inputs["expiresOn"] == "2027-04-01T00:00:00Z"
    assert "condition" not in token(pulumi_run).one(ACCOUNT_TOKEN).inputs


def test_s3_credentials_are_token_id_and_secret_sha256_of_the_value(pulumi_run: Any) -> None:
    preview = token(pulumi_run).outputs
    assert preview["accessKeyId"] == "[unknown]", "a token id exists once the token does"
    assert preview["secretAccessKey"] == "[secret]"
    rec = token(pulumi_run, mode="deployed")
    name = "app-service-2026q4"
    assert rec.outputs["accessKeyId"] == mock_token_id(ACCOUNT_TOKEN, name)
    assert rec.outputs["secretAccessKey"] == "[secret]"
    expected = hashlib.sha256(mock_token_value(ACCOUNT_TOKEN, name).encode()).hexdigest()
    assert rec.outputs["secretAccessKeyPlain"] == expected
    assert len(expected) == 64


def test_secret_is_a_pulumi_secret(pulumi_run: Any) -> None:
    seen: dict[str, bool] = {}

    def build() -> None:
        bucket = R2DataBucket(
            "app-files",
            R2BucketArgs(spec=spec(R2Bucket, {"name": "app-files"}), account_id=ACCOUNT),
        )
        t = R2ApiToken(
            "app-service",
            R2TokenArgs(
                spec=spec(
                    R2Token, {"buckets": ["files"], "access": "read", "generations": ["2026q4"]}
                ),
                account_id=ACCOUNT,
                buckets={"files": bucket},
                token_name="app-service",
            ),
        )

        async def check() -> None:
            seen["secret"] = await t.secret_access_key.is_secret()
            seen["id"] = await t.access_key_id.is_secret()

        pulumi.Output.from_input(check())  # type: ignore[arg-type]

    pulumi_run(build)
    assert seen == {"secret": True, "id": False}


def test_overlap_keeps_both_generations_and_exports_only_the_active(pulumi_run: Any) -> None:
    rec = token(pulumi_run, {"generations": ["2026q3", "2026q4"]}, mode="deployed")
    tokens = {t.name: t for t in rec.all(ACCOUNT_TOKEN)}
    assert set(tokens) == {"app-service-2026q3", "app-service-2026q4"}
    assert tokens["app-service-2026q3"].inputs["name"] == "app-service-2026q3"
    assert rec.outputs["accessKeyId"] == mock_token_id(ACCOUNT_TOKEN, "app-service-2026q4")
    assert mock_token_id(ACCOUNT_TOKEN, "app-service-2026q3") not in json.dumps(rec.outputs)
    for t in tokens.values():
        assert t.replace_on_changes == ["name"]
        assert t.delete_before_replace is False, "the new key must exist before the old goes"


# ---------------------------------------------------------------------------- config


def problems(token_raw: dict[str, Any]) -> list[str]:
    raw = {
        "cloudflare": {"accountId": ACCOUNT},
        "apps": {
            "app": {
                "r2": {"files": {"name": "app-files"}},
                "r2Tokens": {
                    "service": {
                        "buckets": ["files"],
                        "access": "read-write",
                        "generations": ["2026q4"],
                        **token_raw,
                    }
                },
            }
        },
    }
    return stack_problems(raw)


T = "apps.app.r2Tokens.service"


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        ({"access": "admin"}, f"{T}.access", "'admin' is not accepted"),
        ({"generations": ["2026q3", "2026q3"]}, f"{T}.generations", "lists a generation twice"),
        ({"generations": ["2026q4", "2026q3"]}, f"{T}.generations", "out of order"),
        ({"generations": ["2026q2", "2026q3", "2026q4"]}, f"{T}.generations", "has 3 generations"),
        ({"generations": []}, f"{T}.generations", "has 0 generations"),
        ({"generations": ["2026-q4"]}, f"{T}.generations[0]", "not a generation label"),
        ({"allowIps": ["203.0.113.0/33"]}, f"{T}.allowIps[0]", "is not a CIDR"),
        ({"denyIps": ["203.0.113.5/24"]}, f"{T}.denyIps[0]", "has host bits set"),
        (
            {"buckets": ["photos"]},
            f"{T}.buckets[0]",
            "'photos' is not an R2 bucket of app 'app'; accepted: files",
        ),
        ({"expiresOn": "2027-01-01"}, f"{T}.expiresOn", "not an RFC 3339 time"),
        ({"rotatedOn": "01/10/2026"}, f"{T}.rotatedOn", "not a date"),
    ],
)
def test_bad_token_config_names_the_key(raw: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: "), found[0]
    assert fragment in found[0], found[0]


@pytest.mark.parametrize(
    "raw",
    [
        {"generations": ["2026q3", "2026q4"]},
        {"generations": ["2026q4", "2026q4b"]},
        {"allowIps": ["203.0.113.0/24", "2001:db8::/32"]},
        {"access": "read"},
    ],
)
def test_good_token_config_is_accepted(raw: dict[str, Any]) -> None:
    assert problems(raw) == []
