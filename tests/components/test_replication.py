"""BucketReplica: replica bucket, least-privilege role, and the replication rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import Replication, S3Bucket
from components.replication import BucketReplica, BucketReplicaArgs
from components.s3 import DataBucket, DataBucketArgs
from tests.conftest import Recorded, spec, stack_problems

RULE_TYPE = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def replicate(
    pulumi_run: Any,
    source: dict[str, Any] | None = None,
    mode: str = "preview",
    batch: bool = False,
    report: bool = True,
    **replication: Any,
) -> Recorded:
    def build() -> BucketReplica:
        src = DataBucket(
            "acme-data",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-data", **(source or {})})),
        )
        logs = DataBucket(
            "acme-logs",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-logs", "purpose": "logs"})),
        )
        rep = BucketReplica(
            "acme-data-crr",
            BucketReplicaArgs(
                source=src,
                spec=spec(
                    Replication,
                    {"region": "ap-northeast-1", "bucket": "acme-data-replica", **replication},
                ),
                source_region="ap-northeast-2",
                batch_role_name="t-app-data-batch-replication" if batch else None,
                report_bucket=logs if report else None,
            ),
        )
        src.seal_policy()
        logs.seal_policy()
        return rep

    return pulumi_run(build, mode=mode)


def rule(rec: Recorded) -> dict[str, Any]:
    (only,) = rec.one(RULE_TYPE).inputs["rules"]
    return only


def test_replica_bucket_lives_in_the_replica_region_and_is_versioned(pulumi_run: Any) -> None:
    rec = replicate(pulumi_run)
    replica = rec.one("aws:s3/bucket:Bucket", "acme-data-crr-replica-bucket")
    assert replica.inputs["bucket"] == "acme-data-replica"
    assert replica.inputs["region"] == "ap-northeast-1"
    assert replica.protect is True
    versioning = rec.one(
        "aws:s3/bucketVersioning:BucketVersioning", "acme-data-crr-replica-versioning"
    )
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    for child in rec.resources:
        if child.name.startswith("acme-data-crr-replica-"):
            assert child.inputs.get("region") == "ap-northeast-1", (
                f"{child.name} not in the replica region"
            )


def test_replica_is_private_and_tls_only(pulumi_run: Any) -> None:
    rec = replicate(pulumi_run)
    pab = rec.one(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "acme-data-crr-replica-public-access-block",
    )
    assert all(
        pab.inputs[f]
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    policy = rec.policy("aws:s3/bucketPolicy:BucketPolicy", "acme-data-crr-replica-policy")
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]


def test_rule_has_storage_class_rtc_and_metrics_at_15_minutes(pulumi_run: Any) -> None:
    r = rule(replicate(pulumi_run, storageClass="STANDARD_IA"))
    assert r["status"] == "Enabled"
    assert r["filter"] == {"prefix": ""}
    d = r["destination"]
    assert d["bucket"] == "arn:aws:s3:::acme-data-replica"
    assert d["storageClass"] == "STANDARD_IA"
    assert d["replicationTime"] == {"status": "Enabled", "time": {"minutes": 15}}
    assert d["metrics"] == {"status": "Enabled", "eventThreshold": {"minutes": 15}}


def test_existing_objects_are_left_to_batch_replication(pulumi_run: Any) -> None:
    """S3 refuses `existingObjectReplication` in a replication configuration (it is enabled
    only through AWS Support); the objects already there are copied by `ops
    replicate-existing` (tests/ops/test_replicate.py)."""
    r = rule(replicate(pulumi_run))
    assert "existingObjectReplication" not in r and "existing_object_replication" not in r


def test_rtc_can_be_turned_off_and_metrics_stay_on_for_the_alarms(pulumi_run: Any) -> None:
    d = rule(replicate(pulumi_run, replicationTimeControl=False))["destination"]
    assert "replicationTime" not in d
    # Without RTC there is no threshold (S3 ties it to RTC's missed-threshold events).
    assert d["metrics"] == {"status": "Enabled"}
    d = rule(replicate(pulumi_run, replicationTimeControl=False, metrics=False))["destination"]
    assert "replicationTime" not in d and "metrics" not in d


def test_rtc_without_metrics_is_refused() -> None:
    bucket = {
        "name": "acme-data",
        "replication": {
            "region": "ap-northeast-1",
            "bucket": "acme-data-replica",
            "metrics": False,
        },
    }
    (line,) = stack_problems({"apps": {"app": {"s3": {"data": bucket}}}}, stack="t")
    assert line.startswith(
        "apps.app.s3.data.replication.metrics: false with replicationTimeControl true"
    )


def test_delete_markers_are_not_replicated_unless_asked(pulumi_run: Any) -> None:
    assert rule(replicate(pulumi_run))["deleteMarkerReplication"] == {"status": "Disabled"}
    assert rule(replicate(pulumi_run, deleteMarkers=True))["deleteMarkerReplication"] == {
        "status": "Enabled"
    }


def test_replication_waits_for_versioning_on_both_sides(pulumi_run: Any) -> None:
    config = replicate(pulumi_run).one(RULE_TYPE)
    deps = "\n".join(config.depends_on)
    assert "acme-data-versioning" in deps
    assert "acme-data-crr-replica-versioning" in deps
    assert config.inputs["bucket"] == "acme-data"


def test_role_is_assumable_by_s3_only(pulumi_run: Any) -> None:
    trust = replicate(pulumi_run).policy("aws:iam/role:Role", key="assumeRolePolicy")
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_role_policy_is_least_privilege(pulumi_run: Any) -> None:
    statements = replicate(pulumi_run).policy(ROLE_POLICY, "acme-data-crr-role-policy")["Statement"]
    grants = {
        (tuple(sorted(s["Action"])), s["Resource"]) for s in statements if s["Effect"] == "Allow"
    }
    assert grants == {
        (("s3:GetReplicationConfiguration", "s3:ListBucket"), "arn:aws:s3:::acme-data"),
        (
            (
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionTagging",
            ),
            "arn:aws:s3:::acme-data/*",
        ),
        (
            ("s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"),
            "arn:aws:s3:::acme-data-replica/*",
        ),
    }
    assert all(s["Resource"] != "*" for s in statements)


def test_kms_source_replicates_encrypted_objects_with_a_replica_key(pulumi_run: Any) -> None:
    rec = replicate(pulumi_run, source={"encryption": {"type": "sse-kms"}}, mode="deployed")
    keys = {k.name: k for k in rec.all("aws:kms/key:Key")}
    assert set(keys) == {"acme-data-key", "acme-data-crr-replica-key"}
    assert keys["acme-data-crr-replica-key"].inputs["region"] == "ap-northeast-1"
    r = rule(rec)
    assert r["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    replica_key = r["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
    assert replica_key.startswith("arn:aws:kms:ap-northeast-1:")
    statements = {s["Sid"]: s for s in rec.policy(ROLE_POLICY)["Statement"]}
    assert statements["DecryptSourceObjects"]["Action"] == "kms:Decrypt"
    assert statements["DecryptSourceObjects"]["Resource"].startswith("arn:aws:kms:ap-northeast-2:")
    assert statements["DecryptSourceObjects"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.ap-northeast-2.amazonaws.com"
    }
    assert statements["EncryptReplicas"]["Action"] == "kms:Encrypt"
    assert statements["EncryptReplicas"]["Resource"] == replica_key
    assert statements["EncryptReplicas"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.ap-northeast-1.amazonaws.com"
    }


def test_sse_s3_source_has_no_kms_grants(pulumi_run: Any) -> None:
    rec = replicate(pulumi_run)
    assert rec.all("aws:kms/key:Key") == []
    assert "sourceSelectionCriteria" not in rule(rec)
    assert not any("kms:" in str(s["Action"]) for s in rec.policy(ROLE_POLICY)["Statement"])


def test_kms_conditions_accept_the_bucket_arn_that_bucket_keys_use(pulumi_run: Any) -> None:
    """Finding 5: with S3 Bucket Keys on, the encryption context is the bucket's ARN, so a
    condition on object ARNs only made KMS-encrypted objects never replicate. (Deployed mode:
    the role policy names the keys, whose ARNs are unknown at preview.)"""
    rec = replicate(pulumi_run, source={"encryption": {"type": "sse-kms"}}, mode="deployed")
    statements = {s["Sid"]: s for s in rec.policy(ROLE_POLICY)["Statement"]}
    context = "kms:EncryptionContext:aws:s3:arn"
    assert statements["DecryptSourceObjects"]["Condition"]["StringLike"][context] == [
        "arn:aws:s3:::acme-data",
        "arn:aws:s3:::acme-data/*",
    ]
    assert statements["EncryptReplicas"]["Condition"]["StringLike"][context] == [
        "arn:aws:s3:::acme-data-replica",
        "arn:aws:s3:::acme-data-replica/*",
    ]
    (sse,) = rec.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "acme-data-encryption",
    ).inputs["rules"]
    assert sse["bucketKeyEnabled"] is True


def test_replica_key_policy_lives_in_the_replica_region(pulumi_run: Any) -> None:
    """Finding 5: a key policy without `region` is sent to the provider's region, where the
    replica's key does not exist."""
    rec = replicate(pulumi_run, source={"encryption": {"type": "sse-kms"}})
    policies = {p.name: p for p in rec.all("aws:kms/keyPolicy:KeyPolicy")}
    assert set(policies) == {"acme-data-key-policy", "acme-data-crr-replica-key-policy"}
    replica = policies["acme-data-crr-replica-key-policy"]
    assert replica.inputs["region"] == "ap-northeast-1"
    doc = json.loads(replica.inputs["policy"])
    use = next(s for s in doc["Statement"] if s["Sid"] == "UseOnlyThroughItsServices")
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == ["s3.ap-northeast-1.amazonaws.com"]
    assert "region" not in policies["acme-data-key-policy"].inputs
    for child in rec.resources:
        if child.name.startswith("acme-data-crr-replica-") and child.custom:
            assert child.inputs.get("region") == "ap-northeast-1", child.name


@pytest.mark.parametrize("where", ["replication", "encryption"])
def test_kms_alias_arns_are_refused(where: str) -> None:
    """Finding 5: in an IAM `Resource`, an alias ARN matches the alias, not its key."""
    alias = "arn:aws:kms:ap-northeast-1:123456789012:alias/replicas"
    bucket: dict[str, Any] = {
        "name": "acme-data",
        "encryption": {"type": "sse-kms"},
        "replication": {"region": "ap-northeast-1", "bucket": "acme-data-replica"},
    }
    bucket[where]["kmsKeyArn"] = alias
    (line,) = stack_problems({"apps": {"app": {"s3": {"data": bucket}}}}, stack="t")
    assert line.startswith(f"apps.app.s3.data.{where}.kmsKeyArn: '{alias}' is an alias ARN")
    assert "accepted: the key ARN" in line


def test_replica_key_in_another_region_is_refused() -> None:
    key = "arn:aws:kms:ap-northeast-2:123456789012:key/11111111-2222-3333-4444-555555555555"
    bucket = {
        "name": "acme-data",
        "encryption": {"type": "sse-kms"},
        "replication": {
            "region": "ap-northeast-1",
            "bucket": "acme-data-replica",
            "kmsKeyArn": key,
        },
    }
    (line,) = stack_problems({"apps": {"app": {"s3": {"data": bucket}}}}, stack="t")
    assert "replication.kmsKeyArn" in line and "accepted: a key in ap-northeast-1" in line


# ------------------------------------------------------- S3 Batch Replication (existing objects)


def test_batch_replication_role_is_assumable_by_batch_operations_only(pulumi_run: Any) -> None:
    rec = replicate(pulumi_run, batch=True)
    role = rec.one("aws:iam/role:Role", "acme-data-crr-batch-role")
    assert role.inputs["name"] == "t-app-data-batch-replication"
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_batch_replication_role_policy_is_exactly_what_aws_documents(pulumi_run: Any) -> None:
    """S3 user guide, "Configuring IAM policies for Batch Replication", manifest generated by
    S3 and not stored: InitiateReplication on the objects, GetReplicationConfiguration and
    PutInventoryConfiguration on the bucket; plus the completion report under its prefix."""
    statements = replicate(pulumi_run, batch=True).policy(
        ROLE_POLICY, "acme-data-crr-batch-role-policy"
    )["Statement"]
    grants = {(tuple(sorted(_list(s["Action"]))), s["Resource"]) for s in statements}
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in statements)
    assert grants == {
        (
            ("s3:GetReplicationConfiguration", "s3:PutInventoryConfiguration"),
            "arn:aws:s3:::acme-data",
        ),
        (("s3:InitiateReplication",), "arn:aws:s3:::acme-data/*"),
        (("s3:PutObject",), "arn:aws:s3:::acme-logs/batch-replication/acme-data/*"),
    }


def test_without_a_report_bucket_the_role_cannot_write_anywhere(pulumi_run: Any) -> None:
    statements = replicate(pulumi_run, batch=True, report=False).policy(
        ROLE_POLICY, "acme-data-crr-batch-role-policy"
    )["Statement"]
    assert not any("s3:PutObject" in _list(s["Action"]) for s in statements)


def test_no_batch_role_unless_named(pulumi_run: Any) -> None:
    names = [r.name for r in replicate(pulumi_run).all("aws:iam/role:Role")]
    assert names == ["acme-data-crr-role"]


def _list(action: Any) -> list[str]:
    return action if isinstance(action, list) else [action]


def test_the_prod_images_bucket_has_its_batch_role_reporting_into_the_logs_bucket(
    prod_plan: Any,
) -> None:
    policy = json.loads(
        prod_plan.get("pingvas-studio-images-crr-batch-role-policy").inputs["policy"]
    )
    resources = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    assert resources == {
        "ReadRuleAndGenerateManifest": "arn:aws:s3:::pingvas-studio-images",
        "StartReplicationOfSourceObjects": "arn:aws:s3:::pingvas-studio-images/*",
        "WriteCompletionReport": "arn:aws:s3:::pingvas-studio-logs/batch-replication/pingvas-studio-images/*",
    }
    role = prod_plan.get("pingvas-studio-images-crr-batch-role")
    assert role.inputs["name"] == "prod-pingvas-studio-images-batch-replication"


@pytest.mark.parametrize(
    ("report", "fragment"),
    [
        ("nope", "'nope' is not a bucket of app 'app'; accepted: logs"),
        (
            "data",
            "a bucket cannot hold its own batch replication reports; accepted: another "
            "SSE-S3 bucket of app 'app'",
        ),
    ],
)
def test_batch_report_bucket_must_be_another_bucket_of_the_app(report: str, fragment: str) -> None:
    bucket = {
        "name": "acme-data",
        "replication": {
            "region": "ap-northeast-1",
            "bucket": "acme-data-replica",
            "batchReportBucket": report,
        },
    }
    raw = {
        "apps": {"app": {"s3": {"data": bucket, "logs": {"name": "acme-logs", "purpose": "logs"}}}}
    }
    (line,) = stack_problems(raw, stack="t")
    assert line == f"apps.app.s3.data.replication.batchReportBucket: {fragment}"


def test_batch_report_bucket_must_be_sse_s3() -> None:
    bucket = {
        "name": "acme-data",
        "replication": {
            "region": "ap-northeast-1",
            "bucket": "acme-data-replica",
            "batchReportBucket": "keys",
        },
    }
    raw = {
        "apps": {
            "app": {
                "s3": {
                    "data": bucket,
                    "keys": {"name": "acme-keys", "encryption": {"type": "sse-kms"}},
                }
            }
        }
    }
    (line,) = stack_problems(raw, stack="t")
    assert "'keys' uses sse-kms; accepted: an SSE-S3 bucket" in line
