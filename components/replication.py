"""Cross-region replica of a data bucket.

Children: the replica (a `DataBucket` in the other region through pulumi-aws 7's per-resource
`region`, versioned, private, encrypted like the source), an IAM role that only S3 can assume
with a least-privilege inline policy, and the replication configuration on the source bucket:
one rule over the whole bucket, the replica's storage class, optional Replication Time Control
with metrics (15 minutes, the only value S3 accepts), optional delete-marker replication, and,
for SSE-KMS sources, replication of KMS-encrypted objects re-encrypted with the replica's key.
With S3 Bucket Keys on (as `DataBucket` sets them), the KMS encryption context of an object is
its bucket's ARN, not the object's: the role's KMS conditions accept both. Replication
metrics are on unless config turns them off (the replication alarms watch them; RTC needs
them).

Replication copies only objects written after the rule exists (`existing_object_replication`
is refused by S3), so the component also provisions the role an S3 Batch Replication job
assumes for the objects already there (`python -m ops replicate-existing`): exactly the
actions of the S3 user guide for a job whose manifest S3 generates without storing it, on this
source bucket, plus writing its completion report under one prefix of the report bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.adopted import Adoption
from components.config import Encryption, Replication, S3Bucket
from components.config.adoption import Imports
from components.config.names import batch_report_prefix
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
    batch_role_name: str | None = None
    """Name of the IAM role S3 Batch Operations assumes to replicate the objects that predate
    the rule (`ops replicate-existing`); None = no such role."""
    report_bucket: DataBucket | None = None
    """Bucket receiving the Batch Replication completion reports; None = no reports."""
    tags: Mapping[str, str] = field(default_factory=dict)
    imports: Imports = field(default_factory=dict)
    """The source's replication configuration when it exists (role `configuration`)."""
    replica_imports: Imports = field(default_factory=dict)
    """The replica bucket's children when it exists (`DataBucket` roles)."""


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
        adopt = Adoption(self, args.imports, {"configuration"})

        self.replica = DataBucket(
            f"{name}-replica",
            DataBucketArgs(
                spec=replica_spec(source.spec, spec),
                tags=args.tags,
                region=spec.region,
                imports=args.replica_imports,
            ),
            opts=child,
        )
        # The replica gets only its TLS-only statement; nothing else writes to it but S3.
        self.replica.seal_policy()
        kms = source.kms_key_arn is not None

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
        self.role, self.role_policy = iam.service_role(
            f"{name}-role",
            service="s3.amazonaws.com",
            description=f"S3 replication {source.spec.name} -> {spec.bucket}",
            statements=statements,
            tags=args.tags,
            parent=self,
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
        elif spec.metrics:
            # Metrics without RTC: no threshold (it belongs to RTC's missed-threshold events).
            destination["metrics"] = {"status": "Enabled"}
        self.rule_id = rule_id(spec)
        rule: Any = {
            "id": self.rule_id,
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
            opts=adopt.opts("configuration", depends_on=depends),
        )

        self.batch_role: aws.iam.Role | None = None
        if args.batch_role_name is not None:
            self.batch_role = self._batch_replication_role(name, args)

        self.spec = spec
        self.source_bucket_name = source.spec.name
        self.replica_bucket_name = self.replica.bucket_name
        self.replica_arn = self.replica.arn
        self.role_arn = self.role.arn
        self.register_outputs(
            {
                "replica_bucket_name": self.replica_bucket_name,
                "replica_arn": self.replica_arn,
                "role_arn": self.role_arn,
                "batch_role_arn": self.batch_role.arn if self.batch_role else None,
            }
        )

    def _batch_replication_role(self, name: str, args: BucketReplicaArgs) -> aws.iam.Role:
        """The role of `ops replicate-existing`'s S3 Batch Replication job: assumable by S3
        Batch Operations only, it may read this rule and generate the manifest on the source,
        start replication of the source's objects, and write the completion report under its
        prefix; the objects themselves are copied by S3 with the replication role."""
        source = args.source
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ReadRuleAndGenerateManifest",
                "Effect": "Allow",
                "Action": list(iam.BATCH_REPLICATION_SOURCE_BUCKET_ACTIONS),
                "Resource": source.arn,
            },
            {
                "Sid": "StartReplicationOfSourceObjects",
                "Effect": "Allow",
                "Action": list(iam.BATCH_REPLICATION_SOURCE_OBJECT_ACTIONS),
                "Resource": pulumi.Output.concat(source.arn, "/*"),
            },
        ]
        if args.report_bucket is not None:
            statements.append(
                {
                    "Sid": "WriteCompletionReport",
                    "Effect": "Allow",
                    "Action": list(iam.BATCH_REPLICATION_REPORT_ACTIONS),
                    "Resource": pulumi.Output.concat(
                        args.report_bucket.arn, "/", batch_report_prefix(source.spec.name), "*"
                    ),
                }
            )
        role, _ = iam.service_role(
            f"{name}-batch-role",
            role_name=args.batch_role_name,
            service="batchoperations.s3.amazonaws.com",
            description=f"S3 Batch Replication of the existing objects of {source.spec.name}",
            statements=statements,
            tags=args.tags,
            parent=self,
        )
        return role


def rule_id(spec: Replication) -> str:
    """The id of the replication rule (the `RuleId` dimension of its metrics)."""
    return f"replicate-to-{spec.region}"
