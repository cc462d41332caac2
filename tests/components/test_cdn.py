"""CdnDistribution: OAI/OAC, bucket-policy grants beside the TLS statement, behaviours, TLS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.cdn import CdnArgs, CdnDistribution
from components.config import Cdn, ConfigError, S3Bucket, parse_stack_config
from components.s3 import DataBucket, DataBucketArgs
from tests.conftest import Recorded, spec

DIST = "aws:cloudfront/distribution:Distribution"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"


def cdn(
    pulumi_run: Any,
    raw: dict[str, Any] | None = None,
    *,
    encryption: str = "sse-s3",
    logs: bool = False,
) -> Recorded:
    def build() -> CdnDistribution:
        images = DataBucket(
            "app-images",
            DataBucketArgs(
                spec=spec(S3Bucket, {"name": "app-images", "encryption": {"type": encryption}})
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
        d = CdnDistribution(
            "app-cdn",
            CdnArgs(
                spec=spec(Cdn, config),
                origins={"images": images, "thumbs": thumbs},
                log_bucket=log_bucket if logs else None,
                log_prefix="cloudfront/cdn/",
            ),
        )
        for b in (images, thumbs, log_bucket):
            b.seal_policy()
        return d

    return pulumi_run(build)


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


def test_oai_reads_every_origin_and_the_grant_sits_beside_tls(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run)
    rec.one("aws:cloudfront/originAccessIdentity:OriginAccessIdentity")
    origins = dist(rec)["origins"]
    oai_id = origins[0]["s3OriginConfig"]["originAccessIdentity"].rsplit("/", 1)[1]
    assert [o["originId"] for o in origins] == ["s3-app-images", "s3-app-thumbs"]
    for o in origins:
        assert o["s3OriginConfig"]["originAccessIdentity"].startswith(
            "origin-access-identity/cloudfront/E"
        )
        assert o["domainName"].endswith(".s3.ap-northeast-2.amazonaws.com")
    for bucket in ("app-images", "app-thumbs"):
        statements = rec.policy(POLICY, f"{bucket}-policy")["Statement"]
        assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "CloudFrontReadAppCdn"]
        grant = statements[1]
        assert grant["Principal"] == {
            "AWS": f"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity {oai_id}"
        }
        assert grant["Action"] == "s3:GetObject"
        assert grant["Resource"] == f"arn:aws:s3:::{bucket}/*"
    assert len(rec.all(POLICY)) == 3, "one policy per bucket"


def test_oac_switch_uses_the_service_principal_scoped_to_the_distribution(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run, {"access": "oac"})
    assert rec.all("aws:cloudfront/originAccessIdentity:OriginAccessIdentity") == []
    oac = rec.one("aws:cloudfront/originAccessControl:OriginAccessControl").inputs
    assert (
        oac["originAccessControlOriginType"],
        oac["signingBehavior"],
        oac["signingProtocol"],
    ) == (
        "s3",
        "always",
        "sigv4",
    )
    origin = dist(rec)["origins"][0]
    assert "s3OriginConfig" not in origin and origin["originAccessControlId"]
    grant = rec.policy(POLICY, "app-images-policy")["Statement"][1]
    assert grant["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert grant["Condition"]["StringEquals"]["AWS:SourceArn"].startswith(
        "arn:aws:cloudfront::123456789012:distribution/E"
    )


def test_oac_on_a_kms_origin_lets_only_this_distribution_decrypt(pulumi_run: Any) -> None:
    rec = cdn(pulumi_run, {"access": "oac"}, encryption="sse-kms")
    doc = json.loads(rec.one("aws:kms/keyPolicy:KeyPolicy").inputs["policy"])
    sids = [s["Sid"] for s in doc["Statement"]]
    assert sids == ["AccountAdministersTheKey", "CloudFrontDecryptAppCdn"]
    decrypt = doc["Statement"][1]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in decrypt["Condition"]["StringEquals"]


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
    assert b["cachePolicyId"] != dist(rec)["defaultCacheBehavior"]["cachePolicyId"]


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


def test_created_certificate_lives_in_us_east_1_through_its_own_provider(pulumi_run: Any) -> None:
    rec = cdn(
        pulumi_run,
        {
            "aliases": ["img.example.com", "www.img.example.com"],
            "certificate": {"route53ZoneId": "Z0123456789ABC"},
        },
    )
    provider = rec.one("pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    cert = rec.one("aws:acm/certificate:Certificate")
    assert cert.provider == provider.urn
    assert cert.inputs["domainName"] == "img.example.com"
    assert cert.inputs["subjectAlternativeNames"] == ["www.img.example.com"]
    assert cert.inputs["validationMethod"] == "DNS"
    records = rec.all("aws:route53/record:Record")
    assert len(records) == 2
    assert {r.inputs["type"] for r in records} == {"CNAME"}
    assert all(r.inputs["zoneId"] == "Z0123456789ABC" for r in records)
    assert {r.inputs["name"].split(".", 1)[1] for r in records} == {
        "img.example.com.",
        "www.img.example.com.",
    }
    validation = rec.one("aws:acm/certificateValidation:CertificateValidation")
    assert validation.provider == provider.urn
    assert len(validation.inputs["validationRecordFqdns"]) == 2
    assert dist(rec)["viewerCertificate"]["acmCertificateArn"].startswith("arn:aws:acm:us-east-1:")


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
    rec.one("aws:cloudwatch/logDelivery:LogDelivery")
    statements = rec.policy(POLICY, "app-logs-policy")["Statement"]
    grant = next(s for s in statements if s["Sid"] == "CloudFrontLogsAppCdn")
    assert grant["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert grant["Resource"] == "arn:aws:s3:::app-logs/cloudfront/cdn/*"


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
    try:
        parse_stack_config(raw, aws_region="ap-northeast-2", stack="test")
    except ConfigError as err:
        return err.problems
    return []


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
    ],
)
def test_bad_cdn_config_names_the_key(raw: dict[str, Any], path: str, fragment: str) -> None:
    found = problems(raw)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: "), found[0]
    assert fragment in found[0], found[0]


def test_oai_on_an_sse_kms_origin_is_refused() -> None:
    (line,) = problems({}, encryption="sse-kms")
    assert line.startswith(f"{C}.access: 'oai' cannot read origin 'images', which is SSE-KMS")
    assert "accepted: access 'oac'" in line
    assert problems({"access": "oac"}, encryption="sse-kms") == []


@pytest.mark.parametrize("tls", ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"])
def test_tls_floor_accepted(tls: str) -> None:
    assert problems({"minimumTlsVersion": tls}) == []


def test_ttls_equal_at_the_limits_are_accepted() -> None:
    behavior = {"pathPattern": "*/t/*", "minTtl": 60, "defaultTtl": 60, "maxTtl": 60}
    assert problems({"behaviors": [behavior]}) == []
