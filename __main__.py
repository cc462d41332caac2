"""The storage platform: read the stack config, build the components, export the endpoints.

Stack output `endpoints` is the runtime contract (see README): per app, what each service
needs to reach its storage. `pulumi stack output endpoints --json --show-secrets` feeds
`storage_runtime`.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.config import AppConfig, StackConfig, load
from components.replication import BucketReplica, BucketReplicaArgs
from components.s3 import DataBucket, DataBucketArgs


def app_tags(cfg: StackConfig, app: str) -> dict[str, str]:
    return {**cfg.tags, "app": app, "stack": cfg.stack, "managed-by": "pulumi"}


def build_s3(cfg: StackConfig, app: str, app_cfg: AppConfig) -> dict[str, DataBucket]:
    tags = app_tags(cfg, app)
    buckets: dict[str, DataBucket] = {}
    # Log targets first: a bucket's access logs need their target to exist.
    for key, spec in sorted(app_cfg.s3.items(), key=lambda kv: kv[1].access_logs is not None):
        target = buckets[spec.access_logs.bucket] if spec.access_logs else None
        buckets[key] = DataBucket(
            f"{app}-{key}", DataBucketArgs(spec=spec, tags=tags, log_target=target)
        )
    return buckets


def s3_endpoint(cfg: StackConfig, app: str, key: str, bucket: DataBucket) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bucket": bucket.bucket_name,
        "region": cfg.aws_region,
        "arn": bucket.arn,
        "regionalDomainName": bucket.regional_domain_name,
    }
    replication = bucket.spec.replication
    if replication is not None:
        replica = BucketReplica(
            f"{app}-{key}-crr",
            BucketReplicaArgs(
                source=bucket,
                spec=replication,
                source_region=cfg.aws_region,
                tags=app_tags(cfg, app),
            ),
        )
        out["replica"] = {
            "bucket": replica.replica_bucket_name,
            "region": replication.region,
            "arn": replica.replica_arn,
        }
    return out


cfg = load()
endpoints: dict[str, dict[str, Any]] = {}
all_buckets: list[DataBucket] = []
for app, app_cfg in cfg.apps.items():
    s3 = build_s3(cfg, app, app_cfg)
    all_buckets += s3.values()
    endpoints[app] = {
        "description": app_cfg.description,
        "s3": {key: s3_endpoint(cfg, app, key, bucket) for key, bucket in s3.items()},
    }

# Every grant is in place: write each bucket's single policy.
for bucket in all_buckets:
    bucket.seal_policy()

pulumi.export("endpoints", endpoints)
