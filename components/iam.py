"""IAM policy documents shared by the components: statement builders, action lists, and the
service role (trust policy plus one inline policy) each component's grants sit on.

Every permission the stack grants is spelled out here, so a reviewer reads one file to know
what any role or bucket policy can do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

VERSION = "2012-10-17"

#: S3 replication, per the S3 user guide's minimal replication role policy.
REPLICATION_SOURCE_BUCKET_ACTIONS = ("s3:GetReplicationConfiguration", "s3:ListBucket")
REPLICATION_SOURCE_OBJECT_ACTIONS = (
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
)
REPLICATION_DESTINATION_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags")
#: S3 Batch Replication with a manifest S3 generates and does not store (S3 user guide,
#: "Configuring IAM policies for Batch Replication"), plus its completion report.
BATCH_REPLICATION_SOURCE_BUCKET_ACTIONS = (
    "s3:GetReplicationConfiguration",
    "s3:PutInventoryConfiguration",
)
BATCH_REPLICATION_SOURCE_OBJECT_ACTIONS = ("s3:InitiateReplication",)
BATCH_REPLICATION_REPORT_ACTIONS = ("s3:PutObject",)


def sid(*words: str) -> str:
    """A statement id (IAM allows only letters and digits): `sid("logs", "s3/a-b/")` ->
    `LogsS3AB`."""
    import re

    chunks = [c for w in words for c in re.split(r"[^A-Za-z0-9]+", w) if c]
    return "".join(c[:1].upper() + c[1:] for c in chunks)


def document(statements: Sequence[pulumi.Input[dict[str, Any]]]) -> pulumi.Output[str]:
    """A policy document as the JSON string the AWS resources take."""
    return pulumi.Output.json_dumps({"Version": VERSION, "Statement": list(statements)})


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service principal assume a role."""
    import json

    return json.dumps(
        {
            "Version": VERSION,
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def service_role(
    name: str,
    *,
    service: str,
    description: str,
    statements: Sequence[pulumi.Input[dict[str, Any]]],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    role_name: str | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role only the `service` principal can assume, and its one inline policy
    (`<name>-policy`) of `statements`; `role_name` fixes the role's physical name."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        name,
        name=role_name,
        description=description,
        assume_role_policy=assume_role_policy(service),
        tags=dict(tags),
        opts=child,
    )
    policy = aws.iam.RolePolicy(
        f"{name}-policy", role=role.id, policy=document(statements), opts=child
    )
    return role, policy


def deny_insecure_transport(
    sid: str, action: str, resources: Sequence[pulumi.Input[str]]
) -> dict[str, Any]:
    """Deny every request that does not arrive over TLS (aws:SecureTransport false), on
    `resources` (none: the resource the policy is attached to)."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    if resources:
        statement["Resource"] = list(resources)
    return statement
