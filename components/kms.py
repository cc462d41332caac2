"""Customer-managed KMS keys, created the same way for every component that encrypts, each with
an explicit least-privilege key policy instead of KMS's default ("the account may do anything").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components import iam

if TYPE_CHECKING:
    from components.adopted import Adoption

#: Managing the key (AWS's default key policy, "Allow access for Key Administrators"), never
#: using it: the account's IAM policies decide who administers.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:Create*",
    "kms:Delete*",
    "kms:Describe*",
    "kms:Disable*",
    "kms:Enable*",
    "kms:Get*",
    "kms:List*",
    "kms:Put*",
    "kms:Revoke*",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:Update*",
)
#: Using the key ("Allow use of the key").
KEY_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
#: Grants for AWS services holding the key on our behalf ("Allow attachment of persistent
#: resources"), e.g. EFS's grant for an encrypted file system.
KEY_GRANT_ACTIONS = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")


def customer_managed_key(
    name: str,
    *,
    description: str,
    parent: pulumi.Resource,
    protect: bool,
    tags: Mapping[str, str],
    region: str | None = None,
    adopt: Adoption | None = None,
) -> aws.kms.Key:
    """A symmetric key with yearly automatic rotation and the longest deletion window.
    `protect` should follow the data's: without its key, the data is unreadable. Give it its
    policy with `key_policy`. With `adopt`, an existing key (role `key`) is adopted."""
    opts = (
        adopt.opts("key", protect=protect)
        if adopt is not None
        else pulumi.ResourceOptions(parent=parent, protect=protect)
    )
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        region=region,
        tags=dict(tags),
        opts=opts,
    )


def key_policy(
    name: str,
    *,
    key: aws.kms.Key,
    services: Sequence[pulumi.Input[str]],
    parent: pulumi.Resource,
    region: str | None = None,
    extra: Sequence[pulumi.Input[dict[str, Any]]] = (),
    adopt: Adoption | None = None,
) -> aws.kms.KeyPolicy:
    """The key's policy: this account administers it; principals of this account may use it
    (as their IAM policies allow) only through `services` (`s3.<region>.amazonaws.com`, ...),
    and grant it only to AWS resources; plus `extra` statements (e.g. CloudFront's decrypt).
    `region` must be the key's own: a key policy is set in the key's region."""
    account = aws.get_caller_identity_output().account_id
    root = pulumi.Output.concat("arn:aws:iam::", account, ":root")
    through_services = {"kms:CallerAccount": account, "kms:ViaService": list(services)}
    return aws.kms.KeyPolicy(
        name,
        key_id=key.id,
        policy=iam.document(
            [
                {
                    "Sid": "AccountAdministersTheKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": list(KEY_ADMIN_ACTIONS),
                    "Resource": "*",
                },
                {
                    "Sid": "UseOnlyThroughItsServices",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": list(KEY_USE_ACTIONS),
                    "Resource": "*",
                    "Condition": {"StringEquals": through_services},
                },
                {
                    "Sid": "GrantOnlyToAwsResources",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": list(KEY_GRANT_ACTIONS),
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": through_services,
                        "Bool": {"kms:GrantIsForAWSResource": "true"},
                    },
                },
                *extra,
            ]
        ),
        region=region,
        opts=adopt.opts("key-policy")
        if adopt is not None
        else pulumi.ResourceOptions(parent=parent),
    )
