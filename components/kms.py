"""Customer-managed KMS keys, created the same way for every component that encrypts."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def customer_managed_key(
    name: str,
    *,
    description: str,
    parent: pulumi.Resource,
    protect: bool,
    tags: Mapping[str, str],
    region: str | None = None,
) -> aws.kms.Key:
    """A symmetric key with yearly automatic rotation and the longest deletion window.
    `protect` should follow the data's: without its key, the data is unreadable."""
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        region=region,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=protect),
    )
