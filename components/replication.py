"""Cross-region replica of a data bucket.

Children: the replica (a `DataBucket` in the other region through pulumi-aws 7's per-resource
`region`, versioned, private, encrypted like the source), an IAM role that only S3 can assume
with a least-privilege inline policy, and the replication configuration on the source bucket:
one rule over the whole bucket, the replica's storage class, optional Replication Time Control
with metrics (15 minutes, the only value S3 accepts), optional delete-marker replication, and,
for SSE-KMS sources, replication of KMS-encrypted objects re-encrypted with the replica's key.
With S3 Bucket Keys on (as `DataBucket` sets them), the KMS encryption context of an object is
its bucket's ARN, not the object's: the role's KMS conditions accept both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import Encryption, Replication, S3Bucket
from components.s3 import DataBucket, DataBucketArgs

RTC_MINUTES = 15


def encryption_context(bucket_arn: pulumi.Output[str]) -> list[pulumi.Output[str]]:
    """The values of `kms:EncryptionContext:aws:s3:arn` for a bucket's objects: the bucket's
    ARN with S3 Bucket Keys on, the object's ARN without."""
    return [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")]


@dataclass(frozen=True, kw_only=True)
class BucketReplicaArgs:
    source: DataBucket
    """The versioned bucket to replicate."""
    spec: Replication
    """Replica region, name, storage class, RTC and delete-marker settings."""
    source_region: str
    """Region of the source bucket (for the KMS `kms:ViaService` conditions)."""
    tags: Mapping[str, str] = field(default_factory=dict)


def replica_spec(source: S3Bucket, spec: Replication) -> S3Bucket:
    """The replica's bucket config: versioned (required by S3), encrypted the way the source
    is, guarded like the source, no lifecycle beyond the multipart clean-up."""
    if source.encryption.type == "sse-kms":
        encryption = Encryption(type="sse-kms", kms_key_arn=spec.kms_key_arn)
    else:
        encryption = Encryption(type="sse-s3")
    return S3Bucket(
        name=spec.bucket, versioning=True, encryption=encryption, protect=source.protect
    )


class BucketReplica(pulumi.ComponentResource):
    """Outputs: `replica_bucket_name`, `replica_arn` (`arn:aws:s3:::<replica>`), `role_arn`."""

    replica: DataBucket
    role: aws.iam.Role
    configuration: aws.s3.BucketReplicationConfig

    def __init__(
        self, name: str, args: BucketReplicaArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:BucketReplica", name, None, opts)
        source, spec = args.source, args.spec
        if source.versioning is None:
            raise ValueError(f"{name}: the source bucket {source.spec.name} is not versioned")
        child = pulumi.ResourceOptions(parent=self)

        self.replica = DataBucket(
            f"{name}-replica",
            DataBucketArgs(
                spec=replica_spec(source.spec, spec), tags=args.tags, region=spec.region
            ),
            opts=child,
        )
        # The replica gets only its TLS-only statement; nothing else writes to it but S3.
        self.replica.seal_policy()
        kms = source.kms_key_arn is not None

        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"S3 replication {source.spec.name} -> {spec.bucket}",
            assume_role_policy=iam.assume_role_policy("s3.amazonaws.com"),
            tags=dict(args.tags),
            opts=child,
        )
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ReadReplicationConfiguration",
                "Effect": "Allow",
                "Action": list(iam.REPLICATION_SOURCE_BUCKET_ACTIONS),
                "Resource": source.arn,
            },
            {
                "Sid": "ReadSourceVersions",
                "Effect": "Allow",
                "Action": list(iam.REPLICATION_SOURCE_OBJECT_ACTIONS),
                "Resource": pulumi.Output.concat(source.arn, "/*"),
            },
            {
                "Sid": "WriteReplicas",
                "Effect": "Allow",
                "Action": list(iam.REPLICATION_DESTINATION_ACTIONS),
                "Resource": pulumi.Output.concat(self.replica.arn, "/*"),
            },
        ]
        if kms:
            assert source.kms_key_arn is not None and self.replica.kms_key_arn is not None
            statements += [
                {
                    "Sid": "DecryptSourceObjects",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": source.kms_key_arn,
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"s3.{args.source_region}.amazonaws.com"
                        },
                        "StringLike": {
                            "kms:EncryptionContext:aws:s3:arn": encryption_context(source.arn)
                        },
                    },
                },
                {
                    "Sid": "EncryptReplicas",
                    "Effect": "Allow",
                    "Action": "kms:Encrypt",
                    "Resource": self.replica.kms_key_arn,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{spec.region}.amazonaws.com"},
                        "StringLike": {
                            "kms:EncryptionContext:aws:s3:arn": encryption_context(self.replica.arn)
                        },
                    },
                },
            ]
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            policy=iam.document(statements),
            opts=child,
        )

        destination: dict[str, Any] = {
            "bucket": self.replica.arn,
            "storage_class": spec.storage_class,
        }
        if spec.replication_time_control:
            # RTC requires metrics; both are fixed at 15 minutes by S3.
            destination["replication_time"] = {
                "status": "Enabled",
                "time": {"minutes": RTC_MINUTES},
            }
            destination["metrics"] = {
                "status": "Enabled",
                "event_threshold": {"minutes": RTC_MINUTES},
            }
        rule: Any = {
            "id": f"replicate-to-{spec.region}",
            "status": "Enabled",
            "priority": 1,
            # A filter selects the V2 schema, which is what allows delete-marker replication.
            "filter": {"prefix": ""},
            "delete_marker_replication": {
                "status": "Enabled" if spec.delete_markers else "Disabled"
            },
            "destination": destination,
        }
        if kms:
            destination["encryption_configuration"] = {
                "replica_kms_key_id": self.replica.kms_key_arn
            }
            rule["source_selection_criteria"] = {"sse_kms_encrypted_objects": {"status": "Enabled"}}

        depends = [source.versioning, self.role_policy]
        if self.replica.versioning is not None:
            depends.append(self.replica.versioning)
        self.configuration = aws.s3.BucketReplicationConfig(
            f"{name}-configuration",
            bucket=source.bucket.bucket,
            role=self.role.arn,
            rules=[rule],
            region=source.region,
            # S3 refuses replication until both sides are versioned and the role can act.
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )

        self.replica_bucket_name = self.replica.bucket_name
        self.replica_arn = self.replica.arn
        self.role_arn = self.role.arn
        self.register_outputs(
            {
                "replica_bucket_name": self.replica_bucket_name,
                "replica_arn": self.replica_arn,
                "role_arn": self.role_arn,
            }
        )
