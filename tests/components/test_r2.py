"""R2DataBucket: private by default, lifecycle in seconds, jurisdiction endpoints, domains."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.config import ConfigError, R2Bucket, parse_stack_config
from components.r2 import R2BucketArgs, R2DataBucket
from tests.conftest import Recorded, spec, stack_problems

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"


def r2(pulumi_run: Any, raw: dict[str, Any] | None = None, mode: str = "preview") -> Recorded:
    def build() -> R2DataBucket:
        b = R2DataBucket(
            "app-files",
            R2BucketArgs(
                spec=spec(R2Bucket, {"name": "app-files", **(raw or {})}), account_id=ACCOUNT
            ),
        )
        pulumi.export("endpoint", b.s3_endpoint)
        pulumi.export("public", b.public_base_url)
        return b

    return pulumi_run(build, mode=mode)


def test_bucket_inputs_and_protection(pulumi_run: Any) -> None:
    rec = r2(pulumi_run, {"location": "apac", "storageClass": "InfrequentAccess"})
    b = rec.one("cloudflare:index/r2Bucket:R2Bucket")
    assert b.inputs == {
        "accountId": ACCOUNT,
        "name": "app-files",
        "location": "apac",
        "jurisdiction": "default",
        "storageClass": "InfrequentAccess",
    }
    assert b.protect is True
    assert (
        r2(pulumi_run, {"protect": False}).one("cloudflare:index/r2Bucket:R2Bucket").protect
        is False
    )


def test_public_dev_url_is_explicitly_off_by_default(pulumi_run: Any) -> None:
    rec = r2(pulumi_run)
    dev = rec.one("cloudflare:index/r2ManagedDomain:R2ManagedDomain")
    assert dev.inputs["enabled"] is False
    assert rec.outputs.get("public") is None
    assert rec.all("cloudflare:index/r2CustomDomain:R2CustomDomain") == []


def test_public_dev_url_only_when_opted_in(pulumi_run: Any) -> None:
    assert r2(pulumi_run, {"publicDevUrl": True}).outputs["public"] == "[unknown]"
    rec = r2(pulumi_run, {"publicDevUrl": True}, mode="deployed")
    assert rec.one("cloudflare:index/r2ManagedDomain:R2ManagedDomain").inputs["enabled"] is True
    assert rec.outputs["public"].startswith("https://pub-") and rec.outputs["public"].endswith(
        ".r2.dev"
    )


def test_custom_domain_gives_the_public_base_url(pulumi_run: Any) -> None:
    rec = r2(pulumi_run, {"customDomain": {"domain": "files.example.com", "zoneId": ZONE}})
    domain = rec.one("cloudflare:index/r2CustomDomain:R2CustomDomain")
    assert domain.inputs["domain"] == "files.example.com"
    assert domain.inputs["zoneId"] == ZONE
    assert domain.inputs["enabled"] is True
    assert domain.inputs["minTls"] == "1.2"
    assert rec.outputs["public"] == "https://files.example.com"


def test_disabled_custom_domain_serves_nothing(pulumi_run: Any) -> None:
    rec = r2(
        pulumi_run,
        {"customDomain": {"domain": "files.example.com", "zoneId": ZONE, "enabled": False}},
    )
    assert rec.one("cloudflare:index/r2CustomDomain:R2CustomDomain").inputs["enabled"] is False
    assert rec.outputs.get("public") is None


@pytest.mark.parametrize(
    ("jurisdiction", "endpoint"),
    [
        ("default", f"https://{ACCOUNT}.r2.cloudflarestorage.com"),
        ("eu", f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"),
        ("fedramp", f"https://{ACCOUNT}.fedramp.r2.cloudflarestorage.com"),
    ],
)
def test_jurisdiction_selects_the_s3_endpoint(
    pulumi_run: Any, jurisdiction: str, endpoint: str
) -> None:
    rec = r2(pulumi_run, {"jurisdiction": jurisdiction})
    assert rec.outputs["endpoint"] == endpoint
    for child in rec.resources:
        if child.custom and child.type != "cloudflare:index/r2Bucket:R2Bucket":
            assert child.inputs["jurisdiction"] == jurisdiction, child.name


def test_lifecycle_rules_in_seconds_with_the_multipart_cleanup(pulumi_run: Any) -> None:
    rec = r2(
        pulumi_run,
        {
            "lifecycle": [
                {"id": "expire-uploads", "prefix": "uploads/", "deleteAfterDays": 1},
                {"id": "to-ia", "prefix": "archive/", "transitionToIaAfterDays": 30},
            ]
        },
    )
    rules = {
        r["id"]: r
        for r in rec.one("cloudflare:index/r2BucketLifecycle:R2BucketLifecycle").inputs["rules"]
    }
    assert rules["expire-uploads"] == {
        "id": "expire-uploads",
        "enabled": True,
        "conditions": {"prefix": "uploads/"},
        "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 86400}},
    }
    assert rules["to-ia"]["storageClassTransitions"] == [
        {"condition": {"type": "Age", "maxAge": 30 * 86400}, "storageClass": "InfrequentAccess"}
    ]
    assert rules["abort-incomplete-multipart-uploads"]["abortMultipartUploadsTransition"] == {
        "condition": {"type": "Age", "maxAge": 7 * 86400}
    }


def test_cors_uses_r2s_nested_shape(pulumi_run: Any) -> None:
    rec = r2(
        pulumi_run,
        {
            "cors": [
                {
                    "allowedOrigins": ["https://fit.example.com"],
                    "allowedMethods": ["PUT"],
                    "allowedHeaders": ["Content-Type"],
                }
            ]
        },
    )
    assert rec.one("cloudflare:index/r2BucketCors:R2BucketCors").inputs["rules"] == [
        {
            "allowed": {
                "methods": ["PUT"],
                "origins": ["https://fit.example.com"],
                "headers": ["Content-Type"],
            },
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 3600,
        }
    ]


# ---------------------------------------------------------------------------- config


def problems(r2_buckets: dict[str, Any], **app: Any) -> list[str]:
    raw = {"cloudflare": {"accountId": ACCOUNT}, "apps": {"app": {"r2": r2_buckets, **app}}}
    return stack_problems(raw)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("jokbo.dude", "contains a dot"),
        ("Jokbodude", "contains uppercase letters"),
        ("jb", "is not a valid R2 bucket name"),
        ("-jokbodude", "is not a valid R2 bucket name"),
        ("a" * 64, "is not a valid R2 bucket name"),
    ],
)
def test_r2_bucket_names_are_validated(name: str, fragment: str) -> None:
    (line,) = problems({"files": {"name": name}})
    assert line.startswith(f"apps.app.r2.files.name: {name!r} {fragment}"), line
    assert "no dots" in line


@pytest.mark.parametrize("name", ["abc", "s3-images", "a" * 63])
def test_r2_bucket_names_accepted(name: str) -> None:
    assert problems({"files": {"name": name}}) == []


def test_unknown_jurisdiction_is_refused() -> None:
    (line,) = problems({"files": {"name": "files", "jurisdiction": "us-east"}})
    assert line.startswith("apps.app.r2.files.jurisdiction: 'us-east' is not accepted")
    assert "'default', 'eu', 'fedramp'" in line


def test_r2_lifecycle_rule_needs_an_action_and_positive_days() -> None:
    assert problems({"files": {"name": "files", "lifecycle": [{"id": "r", "prefix": "a/"}]}}) == [
        "apps.app.r2.files.lifecycle[0]: rule has no action; "
        "accepted: deleteAfterDays or transitionToIaAfterDays"
    ]
    (line,) = problems(
        {"files": {"name": "files", "lifecycle": [{"id": "r", "deleteAfterDays": 0}]}}
    )
    assert line.startswith("apps.app.r2.files.lifecycle[0].deleteAfterDays: 0 is not positive")


def test_post_in_r2_cors_is_refused() -> None:
    raw = {
        "name": "files",
        "cors": [{"allowedOrigins": ["https://a.example"], "allowedMethods": ["POST"]}],
    }
    (line,) = problems({"files": raw})
    assert "presigned POST" in line and line.startswith(
        "apps.app.r2.files.cors[0].allowedMethods[0]"
    )


def test_r2_without_a_cloudflare_account_is_refused() -> None:
    raw = {"apps": {"app": {"r2": {"files": {"name": "files"}}}}}
    with pytest.raises(
        ConfigError, match=r"cloudflare.accountId: required key is missing \(app 'app'"
    ):
        parse_stack_config(raw, aws_region="ap-northeast-2", stack="test")
