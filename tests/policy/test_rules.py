"""Every rule on a passing and a violating input, through the plain functions and through the
CrossGuard pack as pulumi-policy's analyzer runs it (with unknown values, as in a preview);
joins on what is known at preview; "cannot verify" instead of a silent pass; and the verdict
on the prod and staging plans in both modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from ops import stackfile
from ops.plan import Plan, run_plan
from policy import crossguard
from policy.rules import PLAN_UNKNOWN, RULES, Resource, Violation, evaluate

ROOT = stackfile.ROOT
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


def res(
    typ: str,
    name: str = "r",
    protect: bool = False,
    deps: dict[str, tuple[str, ...]] | None = None,
    stack: str = "test",
    **props: Any,
) -> Resource:
    return Resource(
        typ, name, f"urn:pulumi:{stack}::p::{typ}::{name}", props, protect, dependencies=deps or {}
    )


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


def thumbnails(storage_class: str, **lifecycle: Any) -> list[Resource]:
    """A bucket of 30 KB objects whose lifecycle moves them to `storage_class` at day 0."""
    transition = {"days": 0, "storageClass": storage_class}
    return [
        res(
            "aws:s3/bucket:Bucket", "thumbs", bucket="thumbs", tags={"typical-object-size-kb": "30"}
        ),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            bucket="thumbs",
            rules=[{"id": "r", "status": "Enabled", "transitions": [transition]}],
            **lifecycle,
        ),
    ]


TOKEN_RESOURCES = json.dumps({"com.cloudflare.edge.r2.bucket.acct_default_files": "*"})

TOPIC_T = "aws:sns/topic:Topic"
ALARM_T = "aws:cloudwatch/metricAlarm:MetricAlarm"
REPLICATION_T = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
EFS_T = "aws:efs/fileSystem:FileSystem"
RULE_T = "aws:cloudwatch/eventRule:EventRule"
TARGET_T = "aws:cloudwatch/eventTarget:EventTarget"
DIMENSIONS = {"SourceBucket": "data", "DestinationBucket": "replica", "RuleId": "to-tokyo"}


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:test::p::{typ}::{name}"


def named(typ: str, resource: str, physical: str, **props: Any) -> Resource:
    """`res` for types whose inputs have a `name` of their own."""
    deps = props.pop("deps", {})
    return Resource(
        typ, resource, urn(typ, resource), {"name": physical, **props}, dependencies=deps
    )


def alert_topic(region: str | None = None, subscribed: bool = True) -> list[Resource]:
    """A topic as a first preview sees it (its ARN unknown) and, if asked, a subscription."""
    extra: dict[str, Any] = {"region": region} if region else {}
    out = [named(TOPIC_T, "alerts", "t-storage-alerts", kmsMasterKeyId=PLAN_UNKNOWN, **extra)]
    if subscribed:
        out.append(
            res(
                "aws:sns/topicSubscription:TopicSubscription",
                "alerts-email",
                deps={"topic": (urn(TOPIC_T, "alerts"),)},
                topic=PLAN_UNKNOWN,
                protocol="email",
                endpoint="platform-alerts@example.com",
                **extra,
            )
        )
    return out


def replicated(
    *, alarmed: bool = True, dimensions: dict[str, str] | None = None, metrics: bool = True,
    alarm_region: str | None = None, topic_region: str | None = None, by_arn: bool = False,
) -> list[Resource]:  # fmt: skip
    destination: dict[str, Any] = {"bucket": "arn:aws:s3:::replica"}
    if metrics:
        destination["metrics"] = {"status": "Enabled"}
    out = [
        res(REPLICATION_T, "crr", bucket="data", rules=[{"id": "to-tokyo", "status": "Enabled", "destination": destination}]),
        *alert_topic(topic_region),
    ]  # fmt: skip
    if alarmed:
        where: dict[str, Any] = {"region": alarm_region} if alarm_region else {}
        actions: dict[str, Any] = (
            {"alarmActions": ["arn:aws:sns:ap-northeast-2:123456789012:t-storage-alerts"]}
            if by_arn
            else {
                "deps": {"alarmActions": (urn(TOPIC_T, "alerts"),)},
                "alarmActions": [PLAN_UNKNOWN],
            }
        )
        out.append(
            res(
                ALARM_T,
                "failed",
                namespace="AWS/S3",
                metricName="OperationsFailedReplication",
                dimensions=dimensions or DIMENSIONS,
                **where,
                **actions,
            )
        )
    # An EFS alarm whose dimension is unknown at preview: never read by the replication check.
    out.append(
        res(
            ALARM_T,
            "burst",
            namespace="AWS/EFS",
            metricName="BurstCreditBalance",
            dimensions={"FileSystemId": PLAN_UNKNOWN},
            deps={"dimensions": (urn(EFS_T, "fs"),), "alarmActions": (urn(TOPIC_T, "alerts"),)},
            alarmActions=[PLAN_UNKNOWN],
        )
    )
    return out


BACKUP_PATTERN = json.dumps(
    {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change"],
        "detail": {"backupVaultName": ["vault"], "state": ["FAILED", "ABORTED", "EXPIRED"]},
    }
)


def backed_up(
    *, rule: bool = True, target: bool = True, pattern: str = BACKUP_PATTERN, backup: bool = True
) -> list[Resource]:
    fs = res(EFS_T, "fs", protect=True, encrypted=True, kmsKeyId=PLAN_UNKNOWN)
    out = [fs, *alert_topic()]
    if backup:
        out += [
            named("aws:backup/plan:Plan", "plan", "daily", rules=[{"ruleName": "daily", "targetVaultName": "vault"}]),
            res(
                "aws:backup/selection:Selection",
                "selection",
                deps={"resources": (fs.urn,), "planId": (urn("aws:backup/plan:Plan", "plan"),)},
                resources=[PLAN_UNKNOWN],
                planId=PLAN_UNKNOWN,
            ),
        ]  # fmt: skip
    if rule:
        out.append(named(RULE_T, "backup-failed", "t-backup-failed", eventPattern=pattern))
    if target:
        out.append(
            res(
                TARGET_T,
                "backup-failed-to-topic",
                deps={"rule": (urn(RULE_T, "backup-failed"),), "arn": (urn(TOPIC_T, "alerts"),)},
                rule="t-backup-failed",
                arn=PLAN_UNKNOWN,
            )
        )
    return out


def bursting(gb: str, **props: Any) -> Resource:
    return res(
        EFS_T,
        "fs",
        protect=True,
        encrypted=True,
        kmsKeyId="k",
        tags={"expected-standard-gb": gb},
        **props,
    )


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
    (
        "lifecycle-small-objects-stay",
        thumbnails("GLACIER", transitionDefaultMinimumObjectSize="varies_by_storage_class"),
        thumbnails("INTELLIGENT_TIERING"),
    ),
    ("storage-failures-alarmed", replicated(), replicated(alarmed=False)),
    ("storage-failures-alarmed", replicated(by_arn=True), replicated(metrics=False)),
    (
        "storage-failures-alarmed",
        replicated(alarm_region="ap-northeast-1", topic_region="ap-northeast-1"),
        replicated(alarm_region="ap-northeast-1"),
    ),
    (
        "storage-failures-alarmed",
        replicated(),
        replicated(dimensions={**DIMENSIONS, "RuleId": "another-rule"}),
    ),
    ("storage-failures-alarmed", backed_up(), backed_up(rule=False)),
    ("storage-failures-alarmed", backed_up(backup=False, rule=False), backed_up(target=False)),
    (
        "storage-failures-alarmed",
        backed_up(),
        backed_up(pattern=BACKUP_PATTERN.replace(', "EXPIRED"', "")),
    ),
    ("alert-topic-subscribed", alert_topic(), alert_topic(subscribed=False)),
    ("efs-bursting-baseline", [bursting("5000")], [bursting("500")]),
    ("efs-bursting-baseline", [bursting("500", throughputMode="elastic")], [bursting("1")]),
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
    # The CrossGuard pack, as pulumi-policy's analyzer runs it (numbers arrive as doubles).
    for resources in (passing, violating):
        assert analyze(resources) == plain(evaluate(resources))


def test_every_rule_has_a_case() -> None:
    assert {r.name for r in RULES} == {c[0] for c in CASES}


# ------------------------------------------------------------- unknown values, joins

BUCKET_URN = "urn:pulumi:test::p::aws:s3/bucket:Bucket::data"


def with_unknown_bucket_refs(resources: list[Resource], deps: bool) -> list[Resource]:
    """The bucket's children as a program naming the bucket by its id would register them on
    a first preview: `bucket` unknown, with (or without) the declared dependency."""
    out = []
    for r in resources:
        if r.type == "aws:s3/bucket:Bucket" or "bucket" not in r.props:
            out.append(r)
        else:
            out.append(
                Resource(
                    r.type,
                    r.name,
                    r.urn,
                    {**r.props, "bucket": PLAN_UNKNOWN},
                    r.protect,
                    dependencies={"bucket": (BUCKET_URN,)} if deps else {},
                )
            )
    return out


def test_children_join_their_bucket_by_declared_dependency_when_the_value_is_unknown() -> None:
    """Finding 2: joining on `bucket` = `bucket.id` decided nothing on a first preview."""
    resources = with_unknown_bucket_refs(bucket_set(), deps=True)
    assert [v for v in evaluate(resources) if v.level == "mandatory"] == []
    broken = with_unknown_bucket_refs(bucket_set(tls=False), deps=True)
    assert names(evaluate(broken), "s3-tls-only") == [
        "bucket policy does not deny requests without TLS (aws:SecureTransport false)"
    ]


def test_an_unknown_value_is_a_mandatory_cannot_verify_never_a_pass() -> None:
    resources = with_unknown_bucket_refs(bucket_set(), deps=False)
    found = {(v.rule, v.name, v.message) for v in evaluate(resources) if v.unverified}
    assert (
        "s3-public-access-blocked",
        "data-pab",
        "cannot verify s3-public-access-blocked on data-pab: bucket unknown at preview",
    ) in found
    assert {rule for rule, _, _ in found} == {
        "s3-public-access-blocked",
        "s3-encrypted",
        "s3-data-buckets-versioned",
        "s3-tls-only",
        "incomplete-multipart-aborted",
    }
    assert all(v.level == "mandatory" for v in evaluate(resources) if v.unverified)


def test_replication_and_efs_joins_unknown_at_preview_cannot_be_verified() -> None:
    """The two other mandatory rules of finding 2: a replication configuration naming its
    source by an unknown id, and a file-system policy naming its file system by one, without
    the declared dependency, are mandatory "cannot verify", never a pass."""
    replication = res(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "data-crr",
        bucket=PLAN_UNKNOWN,
        rules=[{"destination": {"bucket": "arn:aws:s3:::dst"}}],
    )
    fs_policy = res(
        "aws:efs/fileSystemPolicy:FileSystemPolicy",
        "models-policy",
        fileSystemId=PLAN_UNKNOWN,
        policy=TLS_DENY,
    )
    resources = [
        *bucket_set("src"),
        *bucket_set("dst"),
        replication,
        res("aws:efs/fileSystem:FileSystem", "models", id=PLAN_UNKNOWN),
        fs_policy,
    ]
    unverified = {(v.rule, v.level) for v in evaluate(resources) if v.unverified}
    assert ("s3-replication-versioned", "mandatory") in unverified
    assert ("efs-tls-only", "mandatory") in unverified
    decided = {v.rule for v in evaluate(resources) if not v.unverified}  # a guess either way
    assert "s3-replication-versioned" not in decided and "efs-tls-only" not in decided


def test_a_policy_document_unknown_at_preview_cannot_be_verified() -> None:
    resources = [
        *[r for r in bucket_set() if "Policy" not in r.type],
        res("aws:s3/bucketPolicy:BucketPolicy", "data-policy", bucket="data", policy=PLAN_UNKNOWN),
    ]
    (tls,) = [v for v in evaluate(resources) if v.rule == "s3-tls-only"]
    assert tls.unverified and tls.level == "mandatory"
    assert str(tls) == (
        "[mandatory] s3-tls-only: data-policy: "
        "cannot verify s3-tls-only on data-policy: policy unknown at preview"
    )


def test_an_advisory_rule_that_cannot_decide_is_mandatory() -> None:
    lifecycle = res(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        bucket="b",
        rules=[{"id": "r", "transitions": PLAN_UNKNOWN}],
    )
    (v,) = [v for v in evaluate([lifecycle]) if v.rule == "lifecycle-minimum-storage-duration"]
    assert (v.level, v.unverified) == ("mandatory", True)
    assert v.message.endswith("rules.0.transitions unknown at preview")


def test_a_value_wired_to_another_resource_counts_as_set() -> None:
    """An OAC id, a KMS key ARN: unknown at preview, but given."""
    dist = res(
        "aws:cloudfront/distribution:Distribution",
        **{
            **DIST_OK,
            "origins": [
                {
                    "originId": "o",
                    "domainName": "data.s3.ap-northeast-2.amazonaws.com",
                    "originAccessControlId": PLAN_UNKNOWN,
                }
            ],
            "viewerCertificate": {
                "acmCertificateArn": PLAN_UNKNOWN,
                "minimumProtocolVersion": "TLSv1.2_2021",
            },
        },
    )
    efs = res("aws:efs/fileSystem:FileSystem", protect=True, encrypted=True, kmsKeyId=PLAN_UNKNOWN)
    assert [v for v in evaluate([dist, efs]) if v.rule != "efs-tls-only"] == []


def test_cdn_origins_never_serve_archived_objects_and_the_message_says_how() -> None:
    """Finding 10: seed 003's Deep Archive step would make every image older than 90 days
    answer 403 through the CDN; the rule was advisory, so `up` proceeded."""
    (v,) = [
        v
        for v in evaluate(
            [
                res("aws:cloudfront/distribution:Distribution", **DIST_OK),
                res(
                    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                    bucket="data",
                    rules=[
                        {
                            "id": "transition_to_glacier",
                            "status": "Enabled",
                            "transitions": [
                                {"days": 30, "storageClass": "GLACIER_IR"},
                                {"days": 90, "storageClass": "DEEP_ARCHIVE"},
                            ],
                        }
                    ],
                ),
            ]
        )
        if v.rule == "cloudfront-origin-not-archived"
    ]
    assert v.level == "mandatory"
    assert "moves objects to DEEP_ARCHIVE after 90 days" in v.message
    assert "403" in v.message and "Fix: transition to GLACIER_IR" in v.message


def test_only_deletable_stacks_may_leave_stateful_resources_unprotected() -> None:
    key = "aws:kms/key:Key"
    assert names(evaluate([res(key, stack="staging")]), "stateful-protected") == []
    assert names(evaluate([res(key, stack="prod")]), "stateful-protected") == [
        "stateful resource is not protected against deletion"
    ]


# --------------------------------------------------- CrossGuard, as the analyzer runs it


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Props as the engine sends them: unknowns as pulumi's unknown sentinel."""

    def engine(value: Any) -> Any:
        if value == PLAN_UNKNOWN:
            return UNKNOWN_STRING_VALUE
        if isinstance(value, dict):
            return {k: engine(v) for k, v in value.items()}
        if isinstance(value, list):
            return [engine(v) for v in value]
        return value

    return json_format.ParseDict(engine(dict(props)), struct_pb2.Struct())


def analyze(resources: list[Resource]) -> list[tuple[str, str, str, str]]:
    """Run the whole pack through pulumi-policy's analyzer servicer (its deserialisation, its
    unknown-checking proxies, its enforcement levels): (rule, level, urn, message)."""
    servicer = _PolicyAnalyzerServicer(
        "storage-guardrails", "0.0.1", crossguard.policies(), EnforcementLevel.MANDATORY
    )
    levels = {analyzer_pb2.MANDATORY: "mandatory", analyzer_pb2.ADVISORY: "advisory"}
    descriptions = {p.name: p.description for p in crossguard.policies()}
    found: list[tuple[str, str, str, str]] = []

    def collect(response: Any, urn: str = "") -> None:
        for d in response.diagnostics:
            assert "can't run policy" not in d.message, d.message
            message = d.message.removeprefix(descriptions[d.policyName] + "\n")
            found.append(
                (
                    crossguard.rule_of(d.policyName),
                    levels[d.enforcementLevel],
                    d.urn or urn,
                    message,
                )
            )

    for r in resources:
        options = analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent or "")
        request = analyzer_pb2.AnalyzeRequest(
            type=r.type, properties=_struct(dict(r.props)), urn=r.urn, name=r.name, options=options
        )
        collect(servicer.Analyze(request, None), r.urn)
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=r.type,
                properties=_struct(dict(r.props)),
                urn=r.urn,
                name=r.name,
                options=analyzer_pb2.AnalyzerResourceOptions(protect=r.protect),
                parent=r.parent or "",
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(v))
                    for k, v in r.dependencies.items()
                },
            )
            for r in resources
        ]
    )
    collect(servicer.AnalyzeStack(stack, None))
    return sorted(found)


def plain(violations: list[Violation]) -> list[tuple[str, str, str, str]]:
    return sorted((v.rule, v.level, v.urn, v.message) for v in violations)


def test_crossguard_pack_reports_what_the_plain_rules_report() -> None:
    resources = [*bucket_set(versioned=False, tls=False), res("aws:kms/key:Key", protect=False)]
    expected = plain(evaluate(resources))
    assert analyze(resources) == expected
    assert {"s3-data-buckets-versioned", "s3-tls-only", "stateful-protected"} <= {
        rule for rule, *_ in expected
    }


@pytest.mark.parametrize("deps", [True, False])
def test_crossguard_reports_cannot_verify_like_the_plain_rules(deps: bool) -> None:
    """pulumi-policy's proxies raise UnknownValueError; left alone, the analyzer would skip
    the whole policy with an advisory note. The pack reports what the plain rules report."""
    resources = [
        *with_unknown_bucket_refs(bucket_set(), deps=deps),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            "lc2",
            bucket="other",
            rules=[{"id": "r", "transitions": PLAN_UNKNOWN}],
        ),
    ]
    expected = plain(evaluate(resources))
    assert any("cannot verify" in message for *_, message in expected)
    assert analyze(resources) == expected


@pytest.mark.parametrize("stack", ["prod", "staging"])
@pytest.mark.parametrize("mode", ["preview", "deployed"])
def test_crossguard_on_the_stacks_reports_what_the_plain_rules_report(
    stack: str, mode: str, prod_plan: Plan, prod_deployed: Plan, staging_plan: Plan
) -> None:
    known = {("prod", "preview"): prod_plan, ("prod", "deployed"): prod_deployed}
    known[("staging", "preview")] = staging_plan
    plan = known.get((stack, mode)) or run_plan(stack, mode=mode)  # type: ignore[arg-type]
    resources = plan.policy_resources()
    assert analyze(resources) == plain(plan.violations())


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_stack_plans_pass_every_mandatory_rule_and_every_rule_runs(
    stack: str, prod_plan: Plan, staging_plan: Plan
) -> None:
    plan = prod_plan if stack == "prod" else staging_plan
    violations = plan.violations()
    assert [v for v in violations if v.level == "mandatory"] == []
    assert [v for v in violations if v.unverified] == []
    expected = ["efs-bursting-baseline"]
    if stack == "prod":
        expected.append("lifecycle-small-objects-stay")
    assert sorted(v.rule for v in violations) == expected


# ------------------------------------------------------------ alarms on silent failures


def test_replication_without_an_alarm_is_a_mandatory_violation_that_says_what_to_enable() -> None:
    (v,) = [v for v in evaluate(replicated(alarmed=False)) if v.rule == "storage-failures-alarmed"]
    assert v.level == "mandatory" and not v.unverified
    assert v.message == (
        "rule 'to-tokyo' ('data' -> 'replica') has no alarm on AWS/S3 OperationsFailedReplication "
        "with its SourceBucket, DestinationBucket and RuleId: failed replications go unnoticed; "
        "enable alarms.replication"
    )


def test_an_alarm_routed_to_a_topic_of_another_region_is_a_violation() -> None:
    """CloudWatch notifies only topics of the alarm's own region."""
    (v,) = [
        v
        for v in evaluate(replicated(alarm_region="us-east-1", topic_region="ap-northeast-1"))
        if v.rule == "storage-failures-alarmed"
    ]
    assert "notifies only topics of another region than its own (us-east-1)" in v.message


def test_a_backed_up_file_system_without_a_failure_rule_is_a_violation() -> None:
    (v,) = [v for v in evaluate(backed_up(rule=False)) if v.rule == "storage-failures-alarmed"]
    assert v.name == "fs" and v.level == "mandatory"
    assert v.message.startswith(
        "backed up to vault vault with no EventBridge rule on its backup jobs"
    )
    assert "enable alarms.backup" in v.message


def test_an_event_pattern_unknown_at_preview_cannot_be_verified() -> None:
    (v,) = [
        v for v in evaluate(backed_up(pattern=PLAN_UNKNOWN)) if v.rule == "storage-failures-alarmed"
    ]
    assert (v.level, v.unverified) == ("mandatory", True)
    assert (
        v.message
        == "cannot verify storage-failures-alarmed on backup-failed: eventPattern unknown at preview"
    )


def test_a_topic_without_subscription_is_advisory() -> None:
    (v,) = [
        v for v in evaluate(alert_topic(subscribed=False)) if v.rule == "alert-topic-subscribed"
    ]
    assert v.level == "advisory"
    assert "reach nobody; add alarms.subscriptions" in v.message


def test_the_bursting_baseline_advisory_states_the_baseline_from_the_expected_size() -> None:
    """Seed 003's 500 GB cache: 465.7 GiB x 50 KiB/s = 22.7 MiB/s once credits are spent."""
    (v,) = [v for v in evaluate([bursting("500")]) if v.rule == "efs-bursting-baseline"]
    assert (
        "its baseline of 22.7 MiB/s" in v.message and "up to 68.2 MiB/s of pure reads" in v.message
    )
    assert "use throughputMode 'elastic'" in v.message
    (tiny,) = [v for v in evaluate([bursting("1")]) if v.rule == "efs-bursting-baseline"]
    assert "its baseline of 1.0 MiB/s" in tiny.message  # the 1 MiB/s floor
    assert [v for v in evaluate([bursting("2200")]) if v.rule == "efs-bursting-baseline"] == []


def test_turning_the_alarms_off_fails_the_prod_plan(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    off = text.replace(
        "    replication: {failedOperationsAbove: 0, latencyAboveMinutes: 15}  # RTC: 15 minutes\n",
        "    replication: {enabled: false}\n    backup: {enabled: false}\n",
    )
    assert off != text
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(off)
    plan = run_plan("prod", stack_file=path)
    found = sorted((v.rule, v.name) for v in plan.violations() if v.level == "mandatory")
    assert found == [
        ("storage-failures-alarmed", "pingvas-studio-images-crr-configuration"),
        ("storage-failures-alarmed", "pingvas-studio-models-efs-file-system"),
    ]
    assert analyze(plan.policy_resources()) == plain(plan.violations())
