"""The stack: applications, stack-wide settings, the rules that span resources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.config.alarms import Alarms, AppBudget, check_batch_reports
from components.config.cdn import Cdn
from components.config.common import SLUG, check_region
from components.config.efs import Efs
from components.config.names import check_physical_names
from components.config.r2 import CloudflareSettings, KeyRotation, R2Bucket, R2Token
from components.config.s3 import S3Bucket
from components.config.usage import CostSettings, Usage
from components.schema import Problems, parse, setting

PROJECT = "storage-platform"


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    description: str = setting("", doc="what the application is, for people reading the plan")
    s3: dict[str, S3Bucket] = setting(factory=dict, doc="AWS S3 data buckets by key")
    r2: dict[str, R2Bucket] = setting(factory=dict, doc="Cloudflare R2 buckets by key")
    r2_tokens: dict[str, R2Token] = setting(
        factory=dict, doc="bucket-scoped R2 API tokens (S3 keys) by key"
    )
    cdn: dict[str, Cdn] = setting(factory=dict, doc="CloudFront distributions over `s3` buckets")
    efs: dict[str, Efs] = setting(factory=dict, doc="encrypted EFS file systems by key")
    usage: Usage = setting(factory=Usage, doc="monthly usage assumptions for the cost estimate")
    budget: AppBudget = setting(factory=AppBudget, doc="this app's AWS Budget")


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """The project-namespace keys (`storage-platform:<key>`)."""

    apps: dict[str, AppConfig] = setting(doc="the applications and the storage each uses")
    tags: dict[str, str] = setting(factory=dict, doc="tags added to every taggable resource")
    cloudflare: CloudflareSettings | None = setting(
        None, doc="required when any app declares R2 buckets"
    )
    key_rotation: KeyRotation = setting(factory=KeyRotation, doc="R2 key age policy")
    cost: CostSettings = setting(factory=CostSettings, doc="cost estimate settings")
    alarms: Alarms = setting(
        factory=Alarms, doc='alert topics, alarms and budgets (README, "Operating")'
    )


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    project: str
    stack: str
    aws_region: str
    apps: dict[str, AppConfig]
    tags: dict[str, str]
    cloudflare: CloudflareSettings | None = None
    key_rotation: KeyRotation = field(default_factory=KeyRotation)
    cost: CostSettings = field(default_factory=CostSettings)
    alarms: Alarms = field(default_factory=Alarms)


def _check_r2(cfg: StackSettings, problems: Problems) -> None:
    r2_names: dict[tuple[str, str], str] = {}
    for app, app_cfg in cfg.apps.items():
        if app_cfg.r2 and cfg.cloudflare is None:
            problems.add(
                "cloudflare.accountId",
                f"required key is missing (app {app!r} declares R2 buckets)",
            )
        for key, bucket in app_cfg.r2.items():
            path = f"apps.{app}.r2.{key}"
            if not SLUG.match(key):
                problems.add(path, f"bucket key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            owner = r2_names.setdefault((bucket.jurisdiction, bucket.name), f"{path}.name")
            if owner != f"{path}.name":
                problems.add(
                    f"{path}.name", f"R2 bucket {bucket.name!r} is already used by {owner}"
                )
        for key, token in app_cfg.r2_tokens.items():
            path = f"apps.{app}.r2Tokens.{key}"
            if not SLUG.match(key):
                problems.add(path, f"token key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            for i, ref in enumerate(token.buckets):
                if ref not in app_cfg.r2 and f"apps.{app}.r2.{ref}" not in problems.broken:
                    problems.add(
                        f"{path}.buckets[{i}]",
                        f"{ref!r} is not an R2 bucket of app {app!r}; accepted: "
                        f"{', '.join(sorted(app_cfg.r2)) or 'none declared'}",
                    )


def _check_cdn(cfg: StackSettings, aws_region: str, problems: Problems) -> None:
    for app, app_cfg in cfg.apps.items():
        for key, cdn in app_cfg.cdn.items():
            path = f"apps.{app}.cdn.{key}"
            for i, origin in enumerate(cdn.origins):
                bucket = app_cfg.s3.get(origin)
                if bucket is None:
                    if f"apps.{app}.s3.{origin}" not in problems.broken:
                        problems.add(
                            f"{path}.origins[{i}]",
                            f"{origin!r} is not an S3 bucket of app {app!r}; accepted: "
                            f"{', '.join(sorted(app_cfg.s3)) or 'none declared'}",
                        )
                elif cdn.access == "oai" and bucket.encryption.type == "sse-kms":
                    problems.add(
                        f"{path}.access",
                        f"'oai' cannot read origin {origin!r}, which is SSE-KMS encrypted (an "
                        "origin access identity cannot use KMS); accepted: access 'oac', or "
                        "sse-s3 on the bucket",
                    )
            logs = cdn.access_logs
            if logs is not None and logs.bucket not in app_cfg.s3:
                problems.add(
                    f"{path}.accessLogs.bucket",
                    f"{logs.bucket!r} is not an S3 bucket of app {app!r}",
                )
        for key, efs in app_cfg.efs.items():
            if not SLUG.match(key):
                problems.add(f"apps.{app}.efs.{key}", f"key {key!r} is not a slug")
            for i, subnet in enumerate(efs.subnets):
                if not subnet.az.startswith(aws_region):
                    problems.add(
                        f"apps.{app}.efs.{key}.subnets[{i}].az",
                        f"{subnet.az!r} is not in aws:region {aws_region!r}",
                    )


def _check_usage(cfg: StackSettings, problems: Problems) -> None:
    for app, app_cfg in cfg.apps.items():
        for kind, declared in (
            ("s3", app_cfg.s3),
            ("efs", app_cfg.efs),
            ("cdn", app_cfg.cdn),
            ("r2", app_cfg.r2),
        ):
            for key in getattr(app_cfg.usage, kind):
                if key not in declared:
                    problems.add(
                        f"apps.{app}.usage.{kind}.{key}",
                        f"{key!r} is not a declared {kind} resource of app {app!r}; accepted: "
                        f"{', '.join(sorted(declared)) or 'none declared'}",
                    )


def _check_stack(cfg: StackSettings, aws_region: str, problems: Problems) -> None:
    _check_r2(cfg, problems)
    _check_usage(cfg, problems)
    _check_cdn(cfg, aws_region, problems)
    check_batch_reports(cfg.apps, problems)
    names: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        if name in names:
            problems.add(path, f"bucket name {name!r} is already used by {names[name]}")
        else:
            names[name] = path

    for app, app_cfg in cfg.apps.items():
        app_path = f"apps.{app}"
        if not SLUG.match(app):
            problems.add(
                app_path,
                f"app name {app!r} is not a slug; accepted: 2-40 lowercase letters, digits, '-'",
            )
        for key, bucket in app_cfg.s3.items():
            path = f"{app_path}.s3.{key}"
            if not SLUG.match(key):
                problems.add(path, f"bucket key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            claim(bucket.name, f"{path}.name")
            if bucket.replication is not None:
                claim(bucket.replication.bucket, f"{path}.replication.bucket")
                if bucket.replication.region == aws_region:
                    problems.add(
                        f"{path}.replication.region",
                        f"{aws_region!r} is the source bucket's region (aws:region); accepted: "
                        "any other region",
                    )
            logs = bucket.access_logs
            if logs is not None:
                target = app_cfg.s3.get(logs.bucket)
                if target is None and f"{app_path}.s3.{logs.bucket}" in problems.broken:
                    pass
                elif target is None:
                    others = sorted(k for k in app_cfg.s3 if k != key)
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} is not a bucket of app {app!r}; accepted: "
                        f"{', '.join(others) or 'none declared'}",
                    )
                elif logs.bucket == key:
                    problems.add(f"{path}.accessLogs.bucket", "a bucket cannot log into itself")
                elif target.encryption.type != "sse-s3":
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} uses {target.encryption.type}; S3 server access logs "
                        "can only be delivered to an SSE-S3 bucket",
                    )
                elif target.access_logs is not None:
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} itself logs into another bucket; accepted: a logs "
                        "bucket without accessLogs",
                    )


def parse_stack_config(
    raw: dict[str, Any], *, aws_region: str | None, stack: str, project: str = PROJECT
) -> StackConfig:
    """Validate the project-namespace config (`raw`: key without namespace -> parsed value)."""
    problems = Problems()
    if aws_region is None:
        problems.add("aws:region", "required key is missing; accepted: e.g. 'ap-northeast-2'")
    else:
        check_region(aws_region, "aws:region", problems)
    settings = parse(StackSettings, raw, "", problems)
    if settings is not None and aws_region is not None:
        _check_stack(settings, aws_region, problems)
        check_physical_names(settings.apps, stack, problems)
    elif settings is None and not problems:
        problems.add("(root)", "the config could not be read")
    problems.raise_if_any()
    assert settings is not None and aws_region is not None
    return StackConfig(
        project=project,
        stack=stack,
        aws_region=aws_region,
        apps=settings.apps,
        tags=settings.tags,
        cloudflare=settings.cloudflare,
        key_rotation=settings.key_rotation,
        cost=settings.cost,
        alarms=settings.alarms,
    )
