"""DataBucket: the properties that make a bucket private, encrypted, tidy and undeletable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import S3Bucket
from components.s3 import DataBucket, DataBucketArgs
from ops.mocks import UNKNOWN
from tests.conftest import Recorded, spec, stack_problems

B = "aws:s3/bucket:Bucket"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def bucket(
    pulumi_run: Any, raw: dict[str, Any] | None = None, mode: str = "preview", **kw: Any
) -> Recorded:
    def build() -> DataBucket:
        b = DataBucket(
            "acme-data",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-data", **(raw or {})}), **kw),
        )
        b.seal_policy()
        return b

    return pulumi_run(build, mode=mode)


def test_bucket_is_named_and_protected_by_default(pulumi_run: Any) -> None:
    rec = bucket(pulumi_run)
    b = rec.one(B)
    assert b.inputs["bucket"] == "acme-data"
    assert b.inputs["forceDestroy"] is False
    assert b.protect is True, "data buckets must be protected against deletion"
    assert b.parent and b.parent.endswith("storage:index:DataBucket::acme-data")


def test_protect_can_be_turned_off_explicitly(pulumi_run: Any) -> None:
    assert bucket(pulumi_run, {"protect": False}).one(B).protect is False


def test_all_four_public_access_blocks_are_on(pulumi_run: Any) -> None:
    pab = bucket(pulumi_run).one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert pab.inputs[flag] is True, f"{flag} is off on {pab.name}"


def test_acls_are_disabled(pulumi_run: Any) -> None:
    own = bucket(pulumi_run).one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert own.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_versioning_enabled_by_default_and_absent_when_off(pulumi_run: Any) -> None:
    v = bucket(pulumi_run).one("aws:s3/bucketVersioning:BucketVersioning")
    assert v.inputs["versioningConfiguration"] == {"status": "Enabled"}
    assert (
        bucket(pulumi_run, {"versioning": False}).all("aws:s3/bucketVersioning:BucketVersioning")
        == []
    )


def test_sse_s3_by_default(pulumi_run: Any) -> None:
    rules = bucket(pulumi_run).one(SSE).inputs["rules"]
    assert rules == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]


def test_sse_kms_creates_a_rotating_key_and_enables_bucket_keys(pulumi_run: Any) -> None:
    rec = bucket(pulumi_run, {"encryption": {"type": "sse-kms"}})
    key = rec.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is True, "losing the key loses the data"
    (rule,) = rec.one(SSE).inputs["rules"]
    assert rule["bucketKeyEnabled"] is True
    default = rule["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"] == UNKNOWN
    (deployed,) = (
        bucket(pulumi_run, {"encryption": {"type": "sse-kms"}}, mode="deployed")
        .one(SSE)
        .inputs["rules"]
    )
    assert deployed["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith(
        "arn:aws:kms:ap-northeast-2:123456789012:key/"
    )


def test_created_key_is_usable_only_through_s3_of_its_region(pulumi_run: Any) -> None:
    """Finding 5: a created key had no explicit key policy."""
    rec = bucket(pulumi_run, {"encryption": {"type": "sse-kms"}})
    doc = json.loads(rec.one("aws:kms/keyPolicy:KeyPolicy").inputs["policy"])
    use = next(s for s in doc["Statement"] if s["Sid"] == "UseOnlyThroughItsServices")
    assert use["Condition"]["StringEquals"] == {
        "kms:CallerAccount": "123456789012",
        "kms:ViaService": ["s3.ap-northeast-2.amazonaws.com"],
    }
    assert all(s["Action"] != "kms:*" for s in doc["Statement"])


def test_sse_kms_with_a_given_key_creates_none(pulumi_run: Any) -> None:
    arn = "arn:aws:kms:ap-northeast-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    rec = bucket(pulumi_run, {"encryption": {"type": "sse-kms", "kmsKeyArn": arn}})
    assert rec.all("aws:kms/key:Key") == []
    (rule,) = rec.one(SSE).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == arn


def rules_by_id(rec: Recorded) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rec.one(LIFECYCLE).inputs["rules"]}


def test_lifecycle_rules_carry_days_classes_and_expiries(pulumi_run: Any) -> None:
    rec = bucket(
        pulumi_run,
        {
            "lifecycle": [
                {
                    "id": "archive",
                    "transitions": [
                        {"days": 30, "storageClass": "GLACIER_IR"},
                        {"days": 90, "storageClass": "DEEP_ARCHIVE"},
                    ],
                    "noncurrentTransitions": [{"days": 30, "storageClass": "STANDARD_IA"}],
                    "noncurrentExpirationDays": 60,
                    "keepNoncurrentVersions": 3,
                }
            ]
        },
    )
    rule = rules_by_id(rec)["archive"]
    assert rule["status"] == "Enabled"
    assert rule["transitions"] == [
        {"days": 30, "storageClass": "GLACIER_IR"},
        {"days": 90, "storageClass": "DEEP_ARCHIVE"},
    ]
    assert rule["noncurrentVersionTransitions"] == [
        {"noncurrentDays": 30, "storageClass": "STANDARD_IA"}
    ]
    assert rule["noncurrentVersionExpiration"] == {
        "noncurrentDays": 60,
        "newerNoncurrentVersions": 3,
    }
    assert "prefix" not in rule, "the rule-level prefix is deprecated; use filter"


def test_incomplete_multipart_uploads_are_aborted_after_7_days_by_default(pulumi_run: Any) -> None:
    rule = rules_by_id(bucket(pulumi_run))["abort-incomplete-multipart-uploads"]
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    rule = rules_by_id(bucket(pulumi_run, {"abortIncompleteMultipartDays": 2}))[
        "abort-incomplete-multipart-uploads"
    ]
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 2}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({}, {"prefix": ""}),
        ({"prefix": "tmp/"}, {"prefix": "tmp/"}),
        ({"tags": {"class": "thumb"}}, {"tag": {"key": "class", "value": "thumb"}}),
        (
            {"prefix": "a/", "tags": {"class": "thumb"}},
            {"and": {"prefix": "a/", "tags": {"class": "thumb"}}},
        ),
    ],
)
def test_lifecycle_filters_are_always_explicit(pulumi_run: Any, rule: dict, expected: dict) -> None:
    rec = bucket(pulumi_run, {"lifecycle": [{"id": "r", "expirationDays": 5, **rule}]})
    for r in rec.one(LIFECYCLE).inputs["rules"]:
        assert r["filter"], f"rule {r['id']} has an empty filter (perpetual diff in the provider)"
    assert rules_by_id(rec)["r"]["filter"] == expected


def test_cors_rules(pulumi_run: Any) -> None:
    rec = bucket(
        pulumi_run,
        {"cors": [{"allowedOrigins": ["https://a.example"], "allowedMethods": ["GET", "HEAD"]}]},
    )
    cors = rec.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert cors.inputs["corsRules"] == [
        {
            "allowedOrigins": ["https://a.example"],
            "allowedMethods": ["GET", "HEAD"],
            "allowedHeaders": ["*"],
            "exposeHeaders": ["ETag"],
            "maxAgeSeconds": 3600,
        }
    ]
    assert bucket(pulumi_run).all("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration") == []


def test_policy_denies_every_non_tls_request(pulumi_run: Any) -> None:
    rec = bucket(pulumi_run)
    (stmt,) = rec.policy(POLICY)["Statement"]
    assert stmt == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::acme-data", "arn:aws:s3:::acme-data/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert any("public-access-block" in d for d in rec.one(POLICY).depends_on)


def test_added_statements_sit_beside_the_tls_statement(pulumi_run: Any) -> None:
    def build() -> None:
        b = DataBucket("acme-data", DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-data"})))
        b.add_policy_statement({"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject"})
        b.add_policy_statement({"Sid": "B", "Effect": "Allow", "Action": "s3:GetObject"})
        b.seal_policy()
        b.seal_policy()  # idempotent: still one policy

    rec = pulumi_run(build)
    assert [s["Sid"] for s in rec.policy(POLICY)["Statement"]] == [
        "DenyInsecureTransport",
        "A",
        "B",
    ]


def test_statements_after_sealing_are_refused(pulumi_run: Any) -> None:
    def build() -> None:
        b = DataBucket("acme-data", DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-data"})))
        b.seal_policy()
        with pytest.raises(RuntimeError, match="already sealed"):
            b.add_policy_statement({"Sid": "Late"})

    pulumi_run(build)


def logged(pulumi_run: Any) -> Recorded:
    def build() -> None:
        logs = DataBucket(
            "acme-logs",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-logs", "versioning": False})),
        )
        data = DataBucket(
            "acme-data",
            DataBucketArgs(
                spec=spec(S3Bucket, {"name": "acme-data", "accessLogs": {"bucket": "logs"}}),
                log_target=logs,
            ),
        )
        logs.seal_policy()
        data.seal_policy()

    return pulumi_run(build)


def test_access_logs_go_to_the_logs_bucket_which_allows_only_that_source(pulumi_run: Any) -> None:
    rec = logged(pulumi_run)
    logging = rec.one("aws:s3/bucketLogging:BucketLogging")
    assert logging.inputs["targetBucket"] == "acme-logs"
    assert logging.inputs["targetPrefix"] == "s3/acme-data/"
    statements = rec.policy(POLICY, "acme-logs-policy")["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "ServerAccessLogsS3AcmeData"]
    grant = statements[1]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Action"] == "s3:PutObject"
    assert grant["Resource"] == "arn:aws:s3:::acme-logs/s3/acme-data/*"
    assert grant["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:s3:::acme-data"}
    assert grant["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_access_logs_without_a_target_is_a_programming_error(pulumi_run: Any) -> None:
    def build() -> None:
        raw = {"name": "acme-data", "accessLogs": {"bucket": "logs"}}
        with pytest.raises(ValueError, match="no log_target"):
            DataBucket("acme-data", DataBucketArgs(spec=spec(S3Bucket, raw)))

    pulumi_run(build)


def test_children_are_parented_and_named_after_the_component(pulumi_run: Any) -> None:
    rec = bucket(pulumi_run, {"cors": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"]}]})
    component = rec.one("storage:index:DataBucket")
    children = [r for r in rec.resources if r.parent == component.urn]
    assert len(children) == 8
    for child in children:
        assert child.name.startswith("acme-data-"), child.name
        assert "V2" not in child.type, f"{child.name} uses deprecated {child.type}"


def test_tags_reach_the_bucket(pulumi_run: Any) -> None:
    tags = bucket(pulumi_run, tags={"app": "acme"}).one(B).inputs["tags"]
    assert tags == {"app": "acme", "Name": "acme-data", "purpose": "data"}


def test_policy_json_is_valid_for_every_bucket_in_a_run(pulumi_run: Any) -> None:
    for p in bucket(pulumi_run).all(POLICY):
        doc = json.loads(p.inputs["policy"])
        assert doc["Version"] == "2012-10-17"


def test_access_logging_starts_after_the_target_policy(pulumi_run: Any) -> None:
    """Logs are written under the target's policy grant: the grant exists first."""
    rec = logged(pulumi_run)
    logging = rec.one("aws:s3/bucketLogging:BucketLogging")
    assert rec.one(POLICY, "acme-logs-policy").urn in logging.depends_on


def test_what_the_policy_rules_read_is_known_at_preview(pulumi_run: Any) -> None:
    """Children name their bucket by its name and the policy is built from it: a first
    preview knows both (an id or an ARN from the provider it would not)."""
    rec = bucket(pulumi_run, {"lifecycle": [{"id": "r", "expirationDays": 5}]})
    b = rec.one(B)
    assert b.id == UNKNOWN
    children = [r for r in rec.resources if r.custom and r.type != B]
    assert len(children) == 6
    for child in children:
        assert child.inputs["bucket"] == "acme-data", child.name
        assert b.urn in child.property_dependencies["bucket"], child.name
    assert UNKNOWN not in json.dumps([c.inputs for c in children])


def test_transition_minimum_object_size_is_explicit(pulumi_run: Any) -> None:
    lifecycle = bucket(pulumi_run).one(LIFECYCLE).inputs
    assert lifecycle["transitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    varies = bucket(pulumi_run, {"transitionMinimumObjectSize": "varies_by_storage_class"})
    assert varies.one(LIFECYCLE).inputs["transitionDefaultMinimumObjectSize"] == (
        "varies_by_storage_class"
    )


def test_typical_object_size_is_tagged_for_the_policy(pulumi_run: Any) -> None:
    tags = bucket(pulumi_run, {"typicalObjectSizeKb": 30}).one(B).inputs["tags"]
    assert tags["typical-object-size-kb"] == "30"
    assert "typical-object-size-kb" not in bucket(pulumi_run).one(B).inputs["tags"]


# ---------------------------------------------------------------------------- config


def problems(bucket_raw: dict[str, Any]) -> list[str]:
    raw = {"apps": {"app": {"s3": {"data": {"name": "app-data", **bucket_raw}}}}}
    return stack_problems(raw)


def test_one_zone_ia_to_glacier_ir_is_refused() -> None:
    """Finding 6: S3 moves ONEZONE_IA objects on only to GLACIER or DEEP_ARCHIVE."""
    steps = [{"days": 30, "storageClass": "ONEZONE_IA"}, {"days": 60, "storageClass": "GLACIER_IR"}]
    (line,) = problems({"lifecycle": [{"id": "r", "transitions": steps}]})
    assert line.startswith(
        "apps.app.s3.data.lifecycle[0].transitions[1].storageClass: 'GLACIER_IR' after "
        "'ONEZONE_IA' is not a transition S3 supports; accepted after ONEZONE_IA: GLACIER, "
        "DEEP_ARCHIVE"
    )
    steps[1]["storageClass"] = "GLACIER"
    assert problems({"lifecycle": [{"id": "r", "transitions": steps}]}) == []


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"transitionMinimumObjectSize": "64K"}, "transitionMinimumObjectSize: '64K'"),
        ({"typicalObjectSizeKb": 0}, "typicalObjectSizeKb: 0.0 is not positive"),
        (
            {
                "encryption": {
                    "type": "sse-kms",
                    "kmsKeyArn": "arn:aws:kms:ap-northeast-2:123456789012:alias/data",
                }
            },
            "encryption.kmsKeyArn: 'arn:aws:kms:ap-northeast-2:123456789012:alias/data' is an alias",
        ),
    ],
)
def test_bad_bucket_config_names_the_key(raw: dict[str, Any], fragment: str) -> None:
    (line,) = problems(raw)
    assert line.startswith("apps.app.s3.data."), line
    assert fragment in line, line
