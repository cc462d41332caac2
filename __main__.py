"""The storage platform: read the stack config, build the components, export the endpoints.

Stack output `endpoints` is the runtime contract (see README): per app, what each service
needs to reach its storage. `pulumi stack output endpoints --json --show-secrets` feeds
`storage_runtime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.alarms import StorageAlarms, StorageAlarmsArgs
from components.alerts import AlertTopic, AlertTopicArgs
from components.budgets import APP_TAG, AppBudgets, AppBudgetsArgs, PlannedBudget
from components.cdn import US_EAST_1, CdnArgs, CdnDistribution
from components.config import AppConfig, StackConfig, load
from components.config.alarms import report_bucket_key
from components.config.names import CdnNames, EfsNames, OperationsNames
from components.efs import SharedFileSystem, SharedFileSystemArgs
from components.r2 import R2BucketArgs, R2DataBucket
from components.r2_tokens import R2ApiToken, R2TokenArgs
from components.replication import BucketReplica, BucketReplicaArgs
from components.s3 import DataBucket, DataBucketArgs
from ops.cost import estimate


@dataclass
class Watched:
    """An app's resources the alarms watch, by config key."""

    replicas: dict[str, BucketReplica] = field(default_factory=dict)
    file_systems: dict[str, SharedFileSystem] = field(default_factory=dict)
    distributions: dict[str, CdnDistribution] = field(default_factory=dict)


def stack_tags(cfg: StackConfig) -> dict[str, str]:
    return {**cfg.tags, "stack": cfg.stack, "managed-by": "pulumi"}


def app_tags(cfg: StackConfig, app: str) -> dict[str, str]:
    """The stack's tags plus the cost-allocation tag the app's budget filters on."""
    return {**stack_tags(cfg), APP_TAG: app}


def build_s3(cfg: StackConfig, app: str, app_cfg: AppConfig) -> dict[str, DataBucket]:
    tags = app_tags(cfg, app)
    buckets: dict[str, DataBucket] = {}
    # Log targets first: a bucket's access logs need their target to exist.
    for key, spec in sorted(app_cfg.s3.items(), key=lambda kv: kv[1].access_logs is not None):
        target = buckets[spec.access_logs.bucket] if spec.access_logs else None
        buckets[key] = DataBucket(
            f"{app}-{key}",
            DataBucketArgs(
                spec=spec, tags=tags, log_target=target, imports=cfg.imports(app, "s3", key)
            ),
        )
    return buckets


def s3_endpoint(
    cfg: StackConfig, app: str, key: str, s3: dict[str, DataBucket], watched: Watched
) -> dict[str, Any]:
    bucket = s3[key]
    out: dict[str, Any] = {
        "bucket": bucket.bucket_name,
        "region": cfg.aws_region,
        "arn": bucket.arn,
        "regionalDomainName": bucket.regional_domain_name,
    }
    replication = bucket.spec.replication
    if replication is not None:
        report = report_bucket_key(bucket.spec)
        replica = BucketReplica(
            f"{app}-{key}-crr",
            BucketReplicaArgs(
                source=bucket,
                spec=replication,
                source_region=cfg.aws_region,
                batch_role_name=OperationsNames(cfg.stack).batch_replication_role(app, key),
                report_bucket=s3[report] if report else None,
                tags=app_tags(cfg, app),
                imports=cfg.imports(app, "replication", key),
                replica_imports=cfg.imports(app, "replica", key),
            ),
        )
        watched.replicas[key] = replica
        out["replica"] = {
            "bucket": replica.replica_bucket_name,
            "region": replication.region,
            "arn": replica.replica_arn,
        }
    return out


def build_r2(cfg: StackConfig, app: str, app_cfg: AppConfig) -> dict[str, Any]:
    """R2 buckets and their tokens; per bucket the endpoint a service needs, with the active
    key of the app's token on it (read-write preferred)."""
    if not app_cfg.r2:
        return {}
    assert cfg.cloudflare is not None  # validated: R2 needs cloudflare.accountId
    account = cfg.cloudflare.account_id
    buckets = {
        key: R2DataBucket(
            f"{app}-{key}",
            R2BucketArgs(spec=spec, account_id=account, imports=cfg.imports(app, "r2", key)),
        )
        for key, spec in app_cfg.r2.items()
    }
    tokens = {
        key: R2ApiToken(
            f"{app}-{key}",
            R2TokenArgs(
                spec=spec,
                account_id=account,
                buckets={b: buckets[b] for b in spec.buckets},
                token_name=f"{app}-{key}",
            ),
        )
        for key, spec in app_cfg.r2_tokens.items()
    }
    out: dict[str, Any] = {}
    for key, bucket in buckets.items():
        entry: dict[str, Any] = {
            "bucket": bucket.bucket_name,
            "endpoint": bucket.s3_endpoint,
            "region": "auto",
            "jurisdiction": bucket.jurisdiction,
            "publicBaseUrl": bucket.public_base_url,
        }
        users = sorted(
            (t for t in tokens.items() if key in t[1].spec.buckets),
            key=lambda t: (t[1].spec.access != "read-write", t[0]),
        )
        if users:
            token_key, token = users[0]
            entry.update(
                token=token_key,
                generation=token.active_generation,
                accessKeyId=token.access_key_id,
                secretAccessKey=token.secret_access_key,
            )
        out[key] = entry
    return out


def r2_token_summary(app_cfg: AppConfig) -> dict[str, Any]:
    return {
        key: {
            "access": spec.access,
            "buckets": list(spec.buckets),
            "activeGeneration": spec.active,
            "generations": list(spec.generations),
            "services": list(spec.services),
        }
        for key, spec in app_cfg.r2_tokens.items()
    }


def build_cdn(
    cfg: StackConfig, app: str, app_cfg: AppConfig, s3: dict[str, DataBucket], watched: Watched
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in app_cfg.cdn.items():
        logs = spec.access_logs
        cdn = CdnDistribution(
            f"{app}-{key}-cdn",
            CdnArgs(
                spec=spec,
                origins={origin: s3[origin] for origin in spec.origins},
                log_bucket=s3[logs.bucket] if logs else None,
                log_prefix=(logs.prefix or f"cloudfront/{key}/") if logs else "",
                names=CdnNames.of(cfg.stack, app, key, len(spec.behaviors)),
                tags=app_tags(cfg, app),
                imports=cfg.imports(app, "cdn", key),
            ),
        )
        watched.distributions[key] = cdn
        out[key] = {
            "domain": cdn.domain_name,
            "aliases": cdn.aliases,
            "baseUrl": cdn.base_url,
            "distributionId": cdn.distribution_id,
            "hostedZoneId": cdn.hosted_zone_id,
            "origins": list(spec.origins),
        }
    return out


def build_efs(cfg: StackConfig, app: str, app_cfg: AppConfig, watched: Watched) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, spec in app_cfg.efs.items():
        usage = app_cfg.usage.efs.get(key)
        fs = SharedFileSystem(
            f"{app}-{key}-efs",
            SharedFileSystemArgs(
                spec=spec,
                names=EfsNames.of(cfg.stack, app, key, spec.creation_token),
                expected_standard_gb=usage.standard_gb if usage else None,
                tags=app_tags(cfg, app),
                imports=cfg.imports(app, "efs", key),
            ),
        )
        watched.file_systems[key] = fs
        out[key] = {
            "fileSystemId": fs.file_system_id,
            "arn": fs.arn,
            "dnsName": fs.dns_name,
            "accessPointId": fs.access_point_id,
            "mountTargetIds": fs.mount_target_ids,
            "securityGroupId": fs.security_group_id,
            "volumeHandle": fs.volume_handle,
            "path": spec.access_point.path if spec.access_point else "/",
        }
    return out


def alarm_regions(cfg: StackConfig, watched: dict[str, Watched]) -> list[str | None]:
    """The regions that need an alert topic: the stack's own (None: backups, replication
    failures, EFS, budgets), each replica's (replication latency is published there), and
    us-east-1 for CloudFront."""
    regions: list[str | None] = [None]
    settings = cfg.alarms
    for w in watched.values():
        if settings.replication.enabled:
            regions += [r.spec.region for r in w.replicas.values() if r.spec.metrics]
        if settings.cdn.enabled and w.distributions:
            regions.append(US_EAST_1)
    normal = [None if r == cfg.aws_region else r for r in regions]
    return sorted(set(normal), key=lambda r: (r is not None, r or ""))


def build_operations(cfg: StackConfig, watched: dict[str, Watched]) -> dict[str, Any]:
    """Alert topics, the alarms of every app, the budgets; what the plan's diagram shows."""
    names = OperationsNames(cfg.stack)
    tags = stack_tags(cfg)
    topics = {
        region: AlertTopic(
            f"alerts-{region or cfg.aws_region}",
            AlertTopicArgs(
                topic_name=names.alert_topic,
                name_prefix=names.prefix,
                region=region,
                publishers=("cloudwatch", "events", "budgets")
                if region is None
                else ("cloudwatch",),
                subscriptions=cfg.alarms.subscriptions,
                protect=cfg.alarms.protect,
                tags=tags,
            ),
        )
        for region in alarm_regions(cfg, watched)
    }

    def topic_for(region: str | None) -> pulumi.Output[str]:
        return topics[None if region == cfg.aws_region else region].topic_arn

    apps: dict[str, Any] = {}
    for app, w in watched.items():
        if not (w.replicas or w.file_systems or w.distributions):
            continue
        alarms = StorageAlarms(
            f"{app}-alarms",
            StorageAlarmsArgs(
                app=app,
                settings=cfg.alarms,
                names=names,
                topic_for=topic_for,
                primary_region=cfg.aws_region,
                replicas=w.replicas,
                file_systems=w.file_systems,
                distributions=w.distributions,
                tags=app_tags(cfg, app),
            ),
        )
        apps[app] = {"alarms": alarms.alarms, "budget": None}

    budgets = cfg.alarms.budgets
    aws_estimate = estimate(cfg).by_app(provider="aws")
    planned = [
        PlannedBudget(
            app=app,
            name=names.budget(app),
            estimate_usd=aws_estimate.get(app, 0.0),
            headroom_percent=budgets.headroom_percent_of(app_cfg.budget),
        )
        for app, app_cfg in cfg.apps.items()
        if app_cfg.budget.enabled and (app_cfg.s3 or app_cfg.cdn or app_cfg.efs)
    ]
    if budgets.enabled and planned:
        app_budgets = AppBudgets(
            "budgets",
            AppBudgetsArgs(budgets=planned, settings=budgets, topic_arn=topic_for(None), tags=tags),
        )
        for app, summary in app_budgets.summary.items():
            apps.setdefault(app, {"alarms": []})["budget"] = summary
    return {
        "primaryRegion": cfg.aws_region,
        "topics": {region or cfg.aws_region: t.topic_arn for region, t in topics.items()},
        "apps": apps,
    }


cfg = load()
endpoints: dict[str, dict[str, Any]] = {}
all_buckets: list[DataBucket] = []
watched: dict[str, Watched] = {}
for app, app_cfg in cfg.apps.items():
    s3 = build_s3(cfg, app, app_cfg)
    all_buckets += s3.values()
    w = watched[app] = Watched()
    endpoints[app] = {
        "description": app_cfg.description,
        "s3": {key: s3_endpoint(cfg, app, key, s3, w) for key in s3},
        "cdn": build_cdn(cfg, app, app_cfg, s3, w),
        "efs": build_efs(cfg, app, app_cfg, w),
        "r2": build_r2(cfg, app, app_cfg),
        "r2Tokens": r2_token_summary(app_cfg),
    }

# Every grant is in place: write each bucket's single policy.
for bucket in all_buckets:
    bucket.seal_policy()

pulumi.export("endpoints", endpoints)
pulumi.export("monitoring", build_operations(cfg, watched))
