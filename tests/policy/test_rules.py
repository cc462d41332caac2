"""Every rule on a passing and a violating input, through the plain functions and through the
CrossGuard wrappers; and the prod plan's verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

from ops.plan import Plan
from policy import crossguard
from policy.rules import RULES, Resource, evaluate

TLS_DENY = json.dumps(
    {
        "Statement": [
            {
                "Sid": "D",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
)


def res(typ: str, name: str = "r", protect: bool = False, **props: Any) -> Resource:
    return Resource(f"{typ}", name, f"urn:pulumi:test::p::{typ}::{name}", props, protect)


def bucket_set(
    name: str = "data",
    *,
    pab: dict | None = None,
    versioned: bool = True,
    tls: bool = True,
    abort: bool = True,
    sse: str = "AES256",
    purpose: str = "data",
) -> list[Resource]:
    out = [
        res("aws:s3/bucket:Bucket", name, protect=True, bucket=name, tags={"purpose": purpose}),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-pab",
            bucket=name,
            **(
                pab
                or {
                    "blockPublicAcls": True,
                    "blockPublicPolicy": True,
                    "ignorePublicAcls": True,
                    "restrictPublicBuckets": True,
                }
            ),
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-sse",
            bucket=name,
            rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": sse}}],
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            bucket=name,
            policy=TLS_DENY if tls else json.dumps({"Statement": []}),
        ),
    ]
    if versioned:
        out.append(
            res(
                "aws:s3/bucketVersioning:BucketVersioning",
                f"{name}-v",
                bucket=name,
                versioningConfiguration={"status": "Enabled"},
            )
        )
    rules = (
        [
            {
                "id": "abort",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
            }
        ]
        if abort
        else []
    )
    out.append(
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{name}-lc",
            bucket=name,
            rules=rules,
        )
    )
    return out


DIST_OK: dict[str, Any] = {
    "origins": [
        {
            "originId": "o",
            "domainName": "data.s3.ap-northeast-2.amazonaws.com",
            "s3OriginConfig": {"originAccessIdentity": "origin-access-identity/cloudfront/E1"},
        }
    ],
    "defaultCacheBehavior": {"viewerProtocolPolicy": "redirect-to-https"},
    "viewerCertificate": {
        "acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x",
        "minimumProtocolVersion": "TLSv1.2_2021",
    },
}
TOKEN_RESOURCES = json.dumps({"com.cloudflare.edge.r2.bucket.acct_default_files": "*"})

CASES: list[tuple[str, list[Resource], list[Resource]]] = [
    (
        "s3-public-access-blocked",
        bucket_set(),
        bucket_set(
            pab={
                "blockPublicAcls": True,
                "blockPublicPolicy": False,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            }
        ),
    ),
    ("s3-public-access-blocked", bucket_set(), [r for r in bucket_set() if "Public" not in r.type]),
    (
        "s3-no-public-acl-or-policy",
        [
            res(
                "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                rule={"objectOwnership": "BucketOwnerEnforced"},
            )
        ],
        [
            res(
                "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
                rule={"objectOwnership": "ObjectWriter"},
            )
        ],
    ),
    ("s3-no-public-acl-or-policy", [], [res("aws:s3/bucketAcl:BucketAcl", acl="public-read")]),
    (
        "s3-no-public-acl-or-policy",
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                policy=json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::cloudfront:user/x"},
                                "Action": "s3:GetObject",
                            }
                        ]
                    }
                ),
            )
        ],
        [
            res(
                "aws:s3/bucketPolicy:BucketPolicy",
                policy=json.dumps(
                    {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]}
                ),
            )
        ],
    ),
    ("s3-encrypted", bucket_set(), [r for r in bucket_set() if "Encryption" not in r.type]),
    ("s3-encrypted", bucket_set(sse="aws:kms"), bucket_set(sse="none")),
    (
        "s3-data-buckets-versioned",
        bucket_set() + bucket_set("logs", versioned=False, purpose="logs"),
        bucket_set(versioned=False),
    ),
    ("s3-tls-only", bucket_set(), bucket_set(tls=False)),
    ("incomplete-multipart-aborted", bucket_set(), bucket_set(abort=False)),
    (
        "incomplete-multipart-aborted",
        [
            res(
                "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
                rules=[{"id": "a", "enabled": True, "abortMultipartUploadsTransition": {}}],
            )
        ],
        [
            res(
                "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
                rules=[{"id": "x", "enabled": True, "deleteObjectsTransition": {}}],
            )
        ],
    ),
    (
        "s3-replication-versioned",
        bucket_set("src")
        + bucket_set("dst")
        + [
            res(
                "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                bucket="src",
                rules=[{"destination": {"bucket": "arn:aws:s3:::dst"}}],
            )
        ],
        bucket_set("src")
        + bucket_set("dst", versioned=False)
        + [
            res(
                "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                bucket="src",
                rules=[{"destination": {"bucket": "arn:aws:s3:::dst"}}],
            )
        ],
    ),
    (
        "cloudfront-https-only",
        [res("aws:cloudfront/distribution:Distribution", **DIST_OK)],
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{
                    **DIST_OK,
                    "orderedCacheBehaviors": [
                        {"pathPattern": "*/t/*", "viewerProtocolPolicy": "allow-all"}
                    ],
                },
            )
        ],
    ),
    (
        "cloudfront-tls-floor",
        [res("aws:cloudfront/distribution:Distribution", **DIST_OK)],
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{
                    **DIST_OK,
                    "viewerCertificate": {
                        "acmCertificateArn": "a",
                        "minimumProtocolVersion": "TLSv1.2_2019",
                    },
                },
            )
        ],
    ),
    (
        "cloudfront-default-certificate",
        [res("aws:cloudfront/distribution:Distribution", **DIST_OK)],
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{**DIST_OK, "viewerCertificate": {"cloudfrontDefaultCertificate": True}},
            )
        ],
    ),
    (
        "cloudfront-origin-access",
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{
                    **DIST_OK,
                    "origins": [
                        {
                            "originId": "o",
                            "domainName": "d.s3.us-east-1.amazonaws.com",
                            "originAccessControlId": "E2",
                        }
                    ],
                },
            )
        ],
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{
                    **DIST_OK,
                    "origins": [{"originId": "o", "domainName": "d.s3.us-east-1.amazonaws.com"}],
                },
            )
        ],
    ),
    (
        "cloudfront-origin-access",
        [res("aws:cloudfront/distribution:Distribution", **DIST_OK)],
        [
            res(
                "aws:cloudfront/distribution:Distribution",
                **{
                    **DIST_OK,
                    "origins": [
                        {"originId": "w", "domainName": "d.s3-website.ap-northeast-2.amazonaws.com"}
                    ],
                },
            )
        ],
    ),
    (
        "cloudfront-origin-not-archived",
        [
            res("aws:cloudfront/distribution:Distribution", **DIST_OK),
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="data",
                rules=[{"id": "ir", "transitions": [{"days": 30, "storageClass": "GLACIER_IR"}]}],
            ),
        ],
        [
            res("aws:cloudfront/distribution:Distribution", **DIST_OK),
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="data",
                rules=[{"id": "da", "transitions": [{"days": 90, "storageClass": "DEEP_ARCHIVE"}]}],
            ),
        ],
    ),
    (
        "efs-encrypted-cmk",
        [res("aws:efs/fileSystem:FileSystem", encrypted=True, kmsKeyId="arn:aws:kms:x")],
        [res("aws:efs/fileSystem:FileSystem", encrypted=True)],
    ),
    ("efs-encrypted-cmk", [], [res("aws:efs/fileSystem:FileSystem", encrypted=False)]),
    (
        "efs-tls-only",
        [
            res("aws:efs/fileSystem:FileSystem", id="fs-1"),
            res("aws:efs/fileSystemPolicy:FileSystemPolicy", fileSystemId="fs-1", policy=TLS_DENY),
        ],
        [
            res("aws:efs/fileSystem:FileSystem", id="fs-1"),
            res(
                "aws:efs/fileSystemPolicy:FileSystemPolicy",
                fileSystemId="fs-1",
                policy=json.dumps({"Statement": []}),
            ),
        ],
    ),
    (
        "nfs-from-security-groups",
        [
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                ipProtocol="tcp",
                fromPort=2049,
                toPort=2049,
                referencedSecurityGroupId="sg-1",
            )
        ],
        [
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                ipProtocol="tcp",
                fromPort=2049,
                toPort=2049,
                cidrIpv4="10.0.0.0/16",
            )
        ],
    ),
    (
        "nfs-from-security-groups",
        [
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                ipProtocol="tcp",
                fromPort=443,
                toPort=443,
                cidrIpv4="0.0.0.0/0",
            )
        ],
        [
            res(
                "aws:ec2/securityGroup:SecurityGroup",
                ingress=[{"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]}],
            )
        ],
    ),
    (
        "r2-tokens-bucket-scoped",
        [
            res(
                "cloudflare:index/accountToken:AccountToken",
                policies=[{"resources": TOKEN_RESOURCES}],
            )
        ],
        [
            res(
                "cloudflare:index/accountToken:AccountToken",
                policies=[
                    {
                        "resources": json.dumps(
                            {
                                "com.cloudflare.api.account.acct": {
                                    "com.cloudflare.edge.r2.bucket.*": "*"
                                }
                            }
                        )
                    }
                ],
            )
        ],
    ),
    (
        "r2-tokens-bucket-scoped",
        [res("cloudflare:index/apiToken:ApiToken", policies=[{"resources": TOKEN_RESOURCES}])],
        [
            res(
                "cloudflare:index/apiToken:ApiToken",
                policies=[{"resources": json.dumps({"com.cloudflare.edge.r2.bucket.*": "*"})}],
            )
        ],
    ),
    (
        "stateful-protected",
        [res("aws:efs/fileSystem:FileSystem", protect=True, encrypted=True, kmsKeyId="k", id="x")],
        [res("aws:kms/key:Key", protect=False)],
    ),
    (
        "lifecycle-minimum-storage-duration",
        [
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="b",
                rules=[
                    {
                        "id": "r",
                        "transitions": [
                            {"days": 30, "storageClass": "GLACIER_IR"},
                            {"days": 120, "storageClass": "DEEP_ARCHIVE"},
                        ],
                    }
                ],
            )
        ],
        [
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="b",
                rules=[
                    {
                        "id": "r",
                        "transitions": [
                            {"days": 30, "storageClass": "GLACIER_IR"},
                            {"days": 90, "storageClass": "DEEP_ARCHIVE"},
                        ],
                    }
                ],
            )
        ],
    ),
    (
        "lifecycle-minimum-storage-duration",
        [
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="b",
                rules=[
                    {
                        "id": "r",
                        "noncurrentVersionTransitions": [
                            {"noncurrentDays": 30, "storageClass": "STANDARD_IA"}
                        ],
                        "noncurrentVersionExpiration": {"noncurrentDays": 60},
                    }
                ],
            )
        ],
        [
            res(
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                bucket="b",
                rules=[
                    {
                        "id": "r",
                        "noncurrentVersionTransitions": [
                            {"noncurrentDays": 30, "storageClass": "STANDARD_IA"}
                        ],
                        "noncurrentVersionExpiration": {"noncurrentDays": 45},
                    }
                ],
            )
        ],
    ),
]


def names(violations: list[Any], rule: str) -> list[str]:
    return [v.message for v in violations if v.rule == rule]


@pytest.mark.parametrize(
    ("rule", "passing", "violating"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_rule_passes_and_violates(
    rule: str, passing: list[Resource], violating: list[Resource]
) -> None:
    assert names(evaluate(passing), rule) == []
    found = names(evaluate(violating), rule)
    assert found, f"{rule} missed the violation"


def test_every_rule_has_a_case() -> None:
    assert {r.name for r in RULES} == {c[0] for c in CASES}


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=None,
    )


def through_crossguard(resources: list[Resource]) -> list[tuple[str, str]]:
    """Run every CrossGuard policy of the pack the way the analyzer would."""
    reported: list[tuple[str, str]] = []
    for policy in crossguard.policies():
        if hasattr(policy, "validate") and policy.__class__.__name__ == "ResourceValidationPolicy":
            for r in resources:
                args = ResourceValidationArgs(
                    r.type, r.props, r.urn, r.name, _opts(r.protect), None
                )
                policy.validate(
                    args, lambda msg, urn=None, p=policy: reported.append((p.name, msg))
                )
        else:
            prs = [
                PolicyResource(r.type, r.props, r.urn, r.name, _opts(r.protect), None, None, [], {})
                for r in resources
            ]
            policy.validate(
                StackValidationArgs(prs),
                lambda msg, urn=None, p=policy: reported.append((p.name, msg)),
            )
    return reported


def test_crossguard_pack_reports_what_the_plain_rules_report() -> None:
    resources = [*bucket_set(versioned=False, tls=False), res("aws:kms/key:Key", protect=False)]
    plain = sorted((v.rule, v.message) for v in evaluate(resources))
    guarded = sorted(
        (name.removesuffix("-stack"), msg) for name, msg in through_crossguard(resources)
    )
    assert guarded == plain
    assert {"s3-data-buckets-versioned", "s3-tls-only", "stateful-protected"} <= {
        r for r, _ in plain
    }


def test_prod_plan_passes_every_mandatory_rule(prod_plan: Plan) -> None:
    violations = prod_plan.violations()
    assert [v for v in violations if v.level == "mandatory"] == []
    assert sorted(v.rule for v in violations) == [
        "cloudfront-origin-not-archived",
        "lifecycle-minimum-storage-duration",
    ]
