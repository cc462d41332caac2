"""BucketReplica: replica bucket, least-privilege role, and the replication rule."""

from __future__ import annotations

from typing import Any

from components.config import Replication, S3Bucket
from components.replication import BucketReplica, BucketReplicaArgs
from components.s3 import DataBucket, DataBucketArgs
from tests.conftest import Recorded, spec

RULE_TYPE = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def replicate(
    pulumi_run: Any, source: dict[str, Any] | None = None, **replication: Any
) -> Recorded:
    def build() -> BucketReplica:
        src = DataBucket(
            "acme-data",
            DataBucketArgs(spec=spec(S3Bucket, {"name": "acme-data", **(source or {})})),
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
            ),
        )
        src.seal_policy()
        return rep

    return pulumi_run(build)


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


def test_rtc_can_be_turned_off(pulumi_run: Any) -> None:
    d = rule(replicate(pulumi_run, replicationTimeControl=False))["destination"]
    assert "replicationTime" not in d and "metrics" not in d


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
    statements = replicate(pulumi_run).policy(ROLE_POLICY)["Statement"]
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
    rec = replicate(pulumi_run, source={"encryption": {"type": "sse-kms"}})
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
