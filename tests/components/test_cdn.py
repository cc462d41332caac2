"""CdnDistribution: OAC/OAI, bucket-policy grants beside the TLS statement, behaviours, TLS,
CORS through the CDN, the us-east-1 certificate, standard logs after the bucket policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.cdn import CdnArgs, CdnDistribution
from components.config import Cdn, ConfigError, S3Bucket, parse_stack_config
from components.config.names import CdnNames
from components.s3 import DataBucket, DataBucketArgs
from ops.mocks import UNKNOWN
from tests.conftest import Recorded, spec, stack_problems

DIST = "aws:cloudfront/distribution:Distribution"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"


def cdn(
    pulumi_run: Any,
    raw: dict[str, Any] | None = None,
    *,
    encryption: str = "sse-s3",
    logs: bool = False,
    images_cors: list[dict[str, Any]] | None = None,
    mode: str = "preview",
) -> Recorded:
    def build() -> CdnDistribution:
        images = DataBucket(
            "app-images",
            DataBucketArgs(
                spec=spec(
                    S3Bucket,
                    {
                        "name": "app-images",
                        "encryption": {"type": encryption},
                        "cors": images_cors or [],
                    },
                )
            ),
        )
        thumbs = DataBucket(
            "app-thumbs", DataBucketArgs(spec=spec(S3Bucket, {"name": "app-thumbs"}))
        )
        log_bucket = DataBucket(
            "app-logs",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "app-logs", "versioning": False})),
        )
        config = {"origins": ["images", "thumbs"], **(raw or {})}
        if logs:
            config["accessLogs"] = {"bucket": "logs"}
        cdn_spec = spec(Cdn, config)
        d = CdnDistribution(
            "app-cdn",
            CdnArgs(
                spec=cdn_spec,
                origins={"images": images, "thumbs": thumbs},
                log_bucket=log_bucket if logs else None,
                log_prefix="cloudfront/cdn/",
                names=CdnNames.of("test", "app", "cdn", len(cdn_spec.behaviors)),
            ),
        )
        for b in (images, thumbs, log_bucket):
            b.seal_policy()
        return d

    return pulumi_run(build, mode=mode)


def dist(rec: Recorded) -> dict[str, Any]:
    return rec.one(DIST).inputs


def test_defaults_follow_seed_003(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run)
    d = dist(rec)
    b = d["defaultCacheBehavior"]
    assert b["viewerProtocolPolicy"] == "redirect-to-https"
    assert b["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert b["cachedMethods"] == ["GET", "HEAD"]
    assert b["compress"] is True
    assert b["targetOriginId"] == "s3-app-images"
    policy = rec.one("aws:cloudfront/cachePolicy:CachePolicy", "app-cdn-default-cache").inputs
    assert (policy["minTtl"], policy["defaultTtl"], policy["maxTtl"]) == (0, 86400, 31536000)
    keys = policy["parametersInCacheKeyAndForwardedToOrigin"]
    assert keys["enableAcceptEncodingGzip"] and keys["enableAcceptEncodingBrotli"]
    assert d["priceClass"] == "PriceClass_200"
    assert d["isIpv6Enabled"] is True
    assert d["httpVersion"] == "http2and3"
    assert d["restrictions"] == {"geoRestriction": {"restrictionType": "none"}}


def test_oac_by_default_reads_every_origin_and_the_grant_sits_beside_tls(
    pulumi_run: Any,
) -> None:
    rec = cdn(pulumi_run)
    assert rec.all("aws:cloudfront/originAccessIdentity:OriginAccessIdentity") == []
    oac = rec.one("aws:cloudfront/originAccessControl:OriginAccessControl").inputs
    assert (
        oac["originAccessControlOriginType"],
        oac["signingBehavior"],
        oac["signingProtocol"],
    ) == ("s3", "always", "sigv4")
    origins = dist(rec)["origins"]
    assert [o["originId"] for o in origins] == ["s3-app-images", "s3-app-thumbs"]
    for o in origins:
        assert "s3OriginConfig" not in o
        assert o["originAccessControlId"] == UNKNOWN, "the OAC's id, known once it exists"
        assert o["domainName"] in (
            "app-images.s3.ap-northeast-2.amazonaws.com",
            "app-thumbs.s3.ap-northeast-2.amazonaws.com",
        ), "known at preview: built from the bucket's name"
    for bucket in ("app-images", "app-thumbs"):
        statements = rec.policy(POLICY, f"{bucket}-policy")["Statement"]
        assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "CloudFrontReadAppCdn"]
        grant = statements[1]
        assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert grant["Action"] == "s3:GetObject"
        assert grant["Resource"] == f"arn:aws:s3:::{bucket}/*"
        # This account's distributions: a grant naming the distribution would leave the whole
        # policy unknown on a first preview.
        assert grant["Condition"] == {
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/*"},
        }
    assert len(rec.all(POLICY)) == 3, "one policy per bucket"


def test_oai_switch_grants_the_identity_whose_arn_is_unknown_at_preview(
    pulumi_run: Any,
) -> None:
    preview = cdn(pulumi_run, {"access": "oai"})
    assert preview.one(POLICY, "app-images-policy").inputs["policy"] == UNKNOWN
    rec = cdn(pulumi_run, {"access": "oai"}, mode="deployed")
    rec.one("aws:cloudfront/originAccessIdentity:OriginAccessIdentity")
    origins = dist(rec)["origins"]
    oai_id = origins[0]["s3OriginConfig"]["originAccessIdentity"].rsplit("/", 1)[1]
    for o in origins:
        assert o["s3OriginConfig"]["originAccessIdentity"].startswith(
            "origin-access-identity/cloudfront/E"
        )
    for bucket in ("app-images", "app-thumbs"):
        grant = rec.policy(POLICY, f"{bucket}-policy")["Statement"][1]
        assert grant["Principal"] == {
            "AWS": f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai_id}"
        }
        assert grant["Resource"] == f"arn:aws:s3:::{bucket}/*"


def test_oac_on_a_kms_origin_lets_only_this_distribution_decrypt(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run, encryption="sse-kms", mode="deployed")
    doc = json.loads(rec.one("aws:kms/keyPolicy:KeyPolicy").inputs["policy"])
    sids = [s["Sid"] for s in doc["Statement"]]
    assert sids == [
        "AccountAdministersTheKey",
        "UseOnlyThroughItsServices",
        "GrantOnlyToAwsResources",
        "CloudFrontDecryptAppCdn",
    ]
    decrypt = doc["Statement"][-1]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert decrypt["Condition"]["StringEquals"]["AWS:SourceArn"].startswith(
        "arn:aws:cloudfront::123456789012:distribution/E"
    )


def test_a_given_kms_key_gets_a_readable_grant_warning(pulumi_run: Any) -> None:
    """Finding 9: the warning named `<pulumi.output.Output object ...>` instead of the grant."""
    key = "arn:aws:kms:ap-northeast-2:123456789012:key/11111111-2222-3333-4444-555555555555"

    def build() -> None:
        images = DataBucket(
            "app-images",
            DataBucketArgs(
                spec=spec(
                    S3Bucket,
                    {"name": "app-images", "encryption": {"type": "sse-kms", "kmsKeyArn": key}},
                )
            ),
        )
        CdnDistribution(
            "app-cdn",
            CdnArgs(
                spec=spec(Cdn, {"origins": ["images"]}),
                origins={"images": images},
                names=CdnNames.of("test", "app", "cdn", 0),
            ),
        )
        images.seal_policy()

    (warning,) = [d for d in pulumi_run(build).run.diagnostics if "managed elsewhere" in d]
    assert "Output object" not in warning
    assert key in warning
    assert '"Sid": "CloudFrontDecryptAppCdn"' in warning
    assert '"AWS:SourceArn": "<computed>"' in warning


def test_ordered_behaviour_for_thumbnails(pulumi_run: Any) -> None:
    rec = cdn(
        pulumi_run,
        {
            "behaviors": [
                {
                    "pathPattern": "*/thumbnails/*",
                    "origin": "thumbs",
                    "minTtl": 86400,
                    "defaultTtl": 2592000,
                    "maxTtl": 31536000,
                }
            ]
        },
    )
    (b,) = dist(rec)["orderedCacheBehaviors"]
    assert b["pathPattern"] == "*/thumbnails/*"
    assert b["targetOriginId"] == "s3-app-thumbs"
    assert b["viewerProtocolPolicy"] == "redirect-to-https"
    assert b["allowedMethods"] == ["GET", "HEAD"]
    policy = rec.one("aws:cloudfront/cachePolicy:CachePolicy", "app-cdn-behavior-0-cache").inputs
    assert (policy["minTtl"], policy["defaultTtl"], policy["maxTtl"]) == (86400, 2592000, 31536000)
    # Unknown at preview: each behaviour's cache policy is its own resource.
    distribution = rec.one(DIST)
    assert (
        policy_urn(rec, "app-cdn-behavior-0-cache")
        in (distribution.property_dependencies["orderedCacheBehaviors"])
    )
    assert (
        policy_urn(rec, "app-cdn-behavior-0-cache")
        not in (distribution.property_dependencies["defaultCacheBehavior"])
    )


def policy_urn(rec: Recorded, name: str) -> str:
    return rec.one("aws:cloudfront/cachePolicy:CachePolicy", name).urn


def test_aliases_with_an_existing_certificate(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run, {"aliases": ["img.example.com"], "certificate": {"arn": CERT_ARN}})
    d = dist(rec)
    assert d["aliases"] == ["img.example.com"]
    assert d["viewerCertificate"] == {
        "acmCertificateArn": CERT_ARN,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    assert rec.all("aws:acm/certificate:Certificate") == []


def test_created_certificate_uses_the_default_provider_in_us_east_1(pulumi_run: Any) -> None:
    """Finding 4: an explicit `aws.Provider` ignores the stack's `aws:*` config."""
    rec = cdn(
        pulumi_run,
        {
            "aliases": ["img.example.com", "www.img.example.com"],
            "certificate": {"route53ZoneId": "Z0123456789ABC"},
        },
    )
    assert rec.all("pulumi:providers:aws") == []
    cert = rec.one("aws:acm/certificate:Certificate")
    assert cert.provider is None, "the default provider, with the stack's aws:* config"
    assert cert.inputs["region"] == "us-east-1"
    assert cert.inputs["domainName"] == "img.example.com"
    assert cert.inputs["subjectAlternativeNames"] == ["www.img.example.com"]
    assert cert.inputs["validationMethod"] == "DNS"
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    assert validation.provider is None
    assert validation.inputs["region"] == "us-east-1"
    assert dist(rec)["viewerCertificate"]["acmCertificateArn"] == UNKNOWN

    deployed = cdn(
        pulumi_run,
        {
            "aliases": ["img.example.com", "www.img.example.com"],
            "certificate": {"route53ZoneId": "Z0123456789ABC"},
        },
        mode="deployed",
    )
    records = deployed.all("aws:route53/record:Record")
    assert len(records) == 2
    assert {r.inputs["type"] for r in records} == {"CNAME"}
    assert all(r.inputs["zoneId"] == "Z0123456789ABC" for r in records)
    assert {r.inputs["name"].split(".", 1)[1] for r in records} == {
        "img.example.com.",
        "www.img.example.com.",
    }
    validation = deployed.one("aws:acm/certificateValidation:CertificateValidation")
    assert len(validation.inputs["validationRecordFqdns"]) == 2
    assert dist(deployed)["viewerCertificate"]["acmCertificateArn"].startswith(
        "arn:aws:acm:us-east-1:"
    )


def test_no_aliases_uses_the_cloudfront_certificate(pulumi_run: Any) -> None:
    d = dist(cdn(pulumi_run))
    assert d["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in d


def test_standard_logs_v2_go_to_the_logs_bucket(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run, logs=True)
    source = rec.one("aws:cloudwatch/logDeliverySource:LogDeliverySource").inputs
    assert source["logType"] == "ACCESS_LOGS" and source["region"] == "us-east-1"
    destination = rec.one("aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination").inputs
    assert destination["deliveryDestinationConfiguration"]["destinationResourceArn"] == (
        "arn:aws:s3:::app-logs/cloudfront/cdn"
    )
    statements = rec.policy(POLICY, "app-logs-policy")["Statement"]
    grant = next(s for s in statements if s["Sid"] == "CloudFrontLogsAppCdn")
    assert grant["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert grant["Resource"] == "arn:aws:s3:::app-logs/cloudfront/cdn/*"


def test_log_delivery_waits_for_the_log_bucket_policy(pulumi_run: Any) -> None:
    """Finding 9: started before the grant exists, the service edits the policy itself."""
    rec = cdn(pulumi_run, logs=True)
    delivery = rec.one("aws:cloudwatch/logDelivery:LogDelivery")
    policy = rec.one(POLICY, "app-logs-policy")
    assert policy.urn in delivery.depends_on


def test_physical_names_carry_the_stack(pulumi_run: Any) -> None:
    """Finding 8: without the stack, a second stack in the same account collides."""
    rec = cdn(pulumi_run, {"behaviors": [{"pathPattern": "*/t/*"}]}, logs=True)
    assert rec.one("aws:cloudfront/originAccessControl:OriginAccessControl").inputs["name"] == (
        "test-app-cdn"
    )
    policies = rec.all("aws:cloudfront/cachePolicy:CachePolicy")
    assert sorted(p.inputs["name"] for p in policies) == [
        "test-app-cdn-behavior-0",
        "test-app-cdn-default",
    ]
    names = {
        r.inputs["name"]
        for t in ("LogDeliverySource", "LogDeliveryDestination")
        for r in rec.all(f"aws:cloudwatch/log{t[3:]}:{t}")
    }
    assert names == {"test-app-cdn-logs", "test-app-cdn-logs-s3"}


CORS = [{"allowedOrigins": ["https://studio.example.com"], "allowedMethods": ["GET", "HEAD"]}]


def cache_headers(rec: Recorded, name: str) -> dict[str, Any]:
    policy = rec.one("aws:cloudfront/cachePolicy:CachePolicy", name).inputs
    return dict(policy["parametersInCacheKeyAndForwardedToOrigin"]["headersConfig"])


def test_cors_origin_gets_its_cors_headers_through_the_cdn(pulumi_run: Any) -> None:
    """Finding 3: CloudFront forwards only the headers a policy names; without Origin and the
    Access-Control-Request-* headers S3 never answers with CORS headers."""
    rec = cdn(
        pulumi_run,
        {"behaviors": [{"pathPattern": "*/thumbnails/*", "origin": "thumbs"}]},
        images_cors=CORS,
    )
    assert cache_headers(rec, "app-cdn-default-cache") == {
        "headerBehavior": "whitelist",
        "headers": {
            "items": ["Access-Control-Request-Headers", "Access-Control-Request-Method", "Origin"]
        },
    }
    assert "OPTIONS" in dist(rec)["defaultCacheBehavior"]["allowedMethods"]
    # The thumbnails bucket declares no CORS: its behaviour keeps a header-free cache key.
    assert cache_headers(rec, "app-cdn-behavior-0-cache") == {"headerBehavior": "none"}


def test_a_behaviour_to_a_cors_origin_passes_preflights(pulumi_run: Any) -> None:
    rec = cdn(
        pulumi_run,
        {"behaviors": [{"pathPattern": "*/img/*", "origin": "images"}]},
        images_cors=CORS,
    )
    (behavior,) = dist(rec)["orderedCacheBehaviors"]
    assert behavior["allowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert cache_headers(rec, "app-cdn-behavior-0-cache")["headerBehavior"] == "whitelist"


def test_waf_web_acl(pulumi_run: Any) -> None:
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/edge/11111111-2222-3333-4444-555555555555"
    assert dist(cdn(pulumi_run, {"webAclArn": arn}))["webAclId"] == arn


# ---------------------------------------------------------------------------- config


def problems(cdn_raw: dict[str, Any], encryption: str = "sse-s3") -> list[str]:
    raw = {
        "apps": {
            "app": {
                "s3": {
                    "images": {"name": "app-images", "encryption": {"type": encryption}},
                    "logs": {"name": "app-logs", "versioning": False},
                },
                "cdn": {"images": {"origins": ["images"], **cdn_raw}},
            }
        }
    }
    return stack_problems(raw)


C = "apps.app.cdn.images"


@pytest.mark.parametrize(
    ("raw", "path", "fragment"),
    [
        (
            {
                "aliases": ["img.example.com"],
                "certificate": {"arn": CERT_ARN.replace("us-east-1", "ap-northeast-2")},
            },
            f"{C}.certificate.arn",
            "is in ap-northeast-2; CloudFront only uses certificates in us-east-1",
        ),
        ({"minimumTlsVersion": "TLSv1.2_2019"}, f"{C}.minimumTlsVersion", "is below TLSv1.2_2021"),
        ({"minimumTlsVersion": "TLSv1"}, f"{C}.minimumTlsVersion", "is below TLSv1.2_2021"),
        ({"aliases": ["img.example.com"]}, f"{C}.certificate", "need a certificate"),
        (
            {"behaviors": [{"pathPattern": "thumb nails/*"}]},
            f"{C}.behaviors[0].pathPattern",
            "not a CloudFront path pattern",
        ),
        (
            {"behaviors": [{"pathPattern": ""}]},
            f"{C}.behaviors[0].pathPattern",
            "not a CloudFront path pattern",
        ),
        (
            {"behaviors": [{"pathPattern": "*/t/*", "minTtl": 10, "defaultTtl": 5}]},
            f"{C}.behaviors[0].defaultTtl",
            "not ordered",
        ),
        (
            {"defaultBehavior": {"defaultTtl": 100, "maxTtl": 50}},
            f"{C}.defaultBehavior.defaultTtl",
            "not ordered",
        ),
        ({"origins": ["photos"]}, f"{C}.origins[0]", "'photos' is not an S3 bucket of app 'app'"),
        (
            {"behaviors": [{"pathPattern": "*/t/*", "origin": "logs"}]},
            f"{C}.behaviors[0].origin",
            "not one of this CDN's origins",
        ),
        (
            {"webAclArn": "arn:aws:wafv2:ap-northeast-2:123456789012:regional/webacl/x/y"},
            f"{C}.webAclArn",
            "CloudFront-scope",
        ),
        ({"comment": "c" * 129}, f"{C}.comment", "is 129 characters; CloudFront allows 128"),
    ],
)
def test_bad_cdn_config_names_the_key(raw: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: "), found[0]
    assert fragment in found[0], found[0]


def test_oai_on_an_sse_kms_origin_is_refused() -> None:
    (line,) = problems({"access": "oai"}, encryption="sse-kms")
    assert line.startswith(f"{C}.access: 'oai' cannot read origin 'images', which is SSE-KMS")
    assert "accepted: access 'oac'" in line
    assert problems({"access": "oac"}, encryption="sse-kms") == []


@pytest.mark.parametrize("tls", ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"])
def test_tls_floor_accepted(tls: str) -> None:
    assert problems({"minimumTlsVersion": tls}) == []


def test_ttls_equal_at_the_limits_are_accepted() -> None:
    behavior = {"pathPattern": "*/t/*", "minTtl": 60, "defaultTtl": 60, "maxTtl": 60}
    assert problems({"behaviors": [behavior]}) == []


def test_derived_names_over_their_limits_fail_at_validation() -> None:
    """Finding 8: OAC names (64) and log delivery names (60) failed only at `pulumi up`."""
    key = "k" * 40
    raw = {
        "apps": {
            "app": {
                "s3": {"images": {"name": "app-images"}},
                "cdn": {key: {"origins": ["images"]}},
            }
        }
    }
    with pytest.raises(ConfigError) as info:
        parse_stack_config(raw, aws_region="ap-northeast-2", stack="staging-eu")
    lines = info.value.problems
    oac = f"apps.app.cdn.{key}: the CloudFront origin access control name 'staging-eu-app-{key}'"
    assert f"{oac} is 55 characters" not in "\n".join(lines), "under 64: accepted"
    source = f"the CloudWatch Logs delivery source name 'staging-eu-app-{key}-logs' is 60"
    assert not any(source in line for line in lines), "60 is the limit, accepted"
    destination = (
        f"apps.app.cdn.{key}: the CloudWatch Logs delivery destination name "
        f"'staging-eu-app-{key}-logs-s3' is 63 characters; AWS allows 60: shorten the stack "
        "name or this key; accepted: names of at most 60 characters"
    )
    assert lines == [destination]
    longer = parse_problems(raw, stack="staging-eu-central-12")
    assert any("origin access control name" in line and "AWS allows 64" in line for line in longer)


def parse_problems(raw: dict[str, Any], stack: str) -> list[str]:
    return stack_problems(raw, stack=stack)
