"""The stack: applications, stack-wide settings, the rules that span resources."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from components.config.adoption import Imports, Kind, stack_imports
from components.config.alarms import Alarms, AppBudget, check_batch_reports
from components.config.cdn import Cdn
from components.config.common import SLUG, check_kms_region, check_region, parse_date, parse_time
from components.config.efs import Efs
from components.config.names import check_physical_names
from components.config.r2 import CloudflareSettings, KeyRotation, R2Bucket, R2Token
from components.config.s3 import S3Bucket
from components.config.usage import CostSettings, Usage
from components.schema import Problems, did_you_mean, is_secret, parse, setting

PROJECT = "storage-platform"
#: Config namespaces besides the project's: the providers the program uses (each with the SDK
#: whose config module lists its keys) and the engine's own (`pulumi:tags`, ...).
PROVIDER_SDKS = {"aws": "pulumi_aws", "cloudflare": "pulumi_cloudflare"}
ENGINE_NAMESPACE = "pulumi"


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
class StackConfig(StackSettings):
    """The validated settings, and the stack and region they apply to."""

    project: str
    stack: str
    aws_region: str

    @cached_property
    def _adopted(self) -> dict[tuple[str, Kind, str], Imports]:
        return {(a.app, a.kind, a.key): a.imports for a in stack_imports(self)}

    def imports(self, app: str, kind: Kind, key: str) -> Imports:
        """The import ids of one component's adopted children (`adoption.stack_imports`, the
        same ids `ops import` writes), by child role; empty when nothing is adopted."""
        return self._adopted.get((app, kind, key), {})


def _check_r2(cfg: StackSettings, problems: Problems) -> None:
    r2_names: dict[tuple[str, str], str] = {}
    for app, app_cfg in cfg.apps.items():
        if app_cfg.r2 and cfg.cloudflare is None:
            problems.add(
                "cloudflare.accountId",
                f"required key is missing (app {app!r} declares R2 buckets); accepted: "
                "'storage-platform:cloudflare: {accountId: <32 hex digits>}'",
            )
        for key, bucket in app_cfg.r2.items():
            path = f"apps.{app}.r2.{key}"
            if not SLUG.match(key):
                problems.add(path, f"bucket key {key!r} is not a slug; accepted: 2-40 of a-z 0-9 -")
            owner = r2_names.setdefault((bucket.jurisdiction, bucket.name), f"{path}.name")
            if owner != f"{path}.name":
                problems.add(
                    f"{path}.name",
                    f"R2 bucket {bucket.name!r} is already used by {owner}; accepted: a name "
                    "no other R2 bucket of the stack uses",
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


def _check_cdn(cfg: StackSettings, aws_region: str | None, problems: Problems) -> None:
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
                    f"{logs.bucket!r} is not an S3 bucket of app {app!r}; accepted: "
                    f"{', '.join(sorted(app_cfg.s3)) or 'none declared'}",
                )
        for key, efs in app_cfg.efs.items():
            if not SLUG.match(key):
                problems.add(
                    f"apps.{app}.efs.{key}",
                    f"key {key!r} is not a slug; accepted: 2-40 lowercase letters, digits, '-'",
                )
            for i, subnet in enumerate(efs.subnets):
                if aws_region is None or is_secret(subnet.az):
                    continue
                if not subnet.az.startswith(aws_region):
                    problems.add(
                        f"apps.{app}.efs.{key}.subnets[{i}].az",
                        f"{subnet.az!r} is not in aws:region {aws_region!r}; accepted: an "
                        f"availability zone of {aws_region}, e.g. '{aws_region}a'",
                    )
            check_kms_region(
                efs.kms_key_arn,
                aws_region,
                "the file system (aws:region)",
                f"apps.{app}.efs.{key}.kmsKeyArn",
                problems,
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


def _check_stack(cfg: StackSettings, aws_region: str | None, problems: Problems) -> None:
    """The rules across resources; `aws_region` None (unreadable) skips the regional ones."""
    _check_r2(cfg, problems)
    _check_usage(cfg, problems)
    _check_cdn(cfg, aws_region, problems)
    check_batch_reports(cfg.apps, problems)
    names: dict[str, str] = {}

    def claim(name: str, path: str) -> None:
        if is_secret(name):
            return  # an opaque secret offline: the engine checks the real name
        if name in names:
            problems.add(
                path,
                f"bucket name {name!r} is already used by {names[name]}; accepted: a name no "
                "other bucket of the stack uses",
            )
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
            check_kms_region(
                bucket.encryption.kms_key_arn,
                aws_region,
                "the bucket (aws:region)",
                f"{path}.encryption.kmsKeyArn",
                problems,
            )
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
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        "a bucket cannot log into itself; accepted: another bucket of the app",
                    )
                elif target.encryption.type != "sse-s3":
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} uses {target.encryption.type}; S3 server access logs "
                        "can only be delivered to an SSE-S3 bucket; accepted: a logs bucket "
                        "with encryption.type 'sse-s3'",
                    )
                elif target.access_logs is not None:
                    problems.add(
                        f"{path}.accessLogs.bucket",
                        f"{logs.bucket!r} itself logs into another bucket; accepted: a logs "
                        "bucket without accessLogs",
                    )


def _check_dates(cfg: StackSettings, today: dt.date, problems: Problems) -> None:
    """The rules that depend on the day: a token that has already expired would be created
    dead; a rotation dated in the future makes every age negative."""
    now = dt.datetime.combine(today, dt.time(), dt.UTC)
    for app, app_cfg in cfg.apps.items():
        for key, token in app_cfg.r2_tokens.items():
            path = f"apps.{app}.r2Tokens.{key}"
            expires = parse_time(token.expires_on)
            if expires is not None and expires <= now:
                problems.add(
                    f"{path}.expiresOn",
                    f"{token.expires_on!r} is in the past (today is {today}): the key would be "
                    "dead on arrival; accepted: a later time, or no expiresOn",
                )
            rotated = parse_date(token.rotated_on)
            if rotated is not None and rotated > today + dt.timedelta(days=1):
                problems.add(
                    f"{path}.rotatedOn",
                    f"{token.rotated_on!r} is in the future (today is {today}); accepted: the "
                    "day the active generation was added, at most tomorrow",
                )


@cache
def provider_keys(namespace: str) -> frozenset[str] | None:
    """The config keys the installed provider SDK reads (its `config/vars.py`), found without
    importing the SDK; None when it is not installed (the keys are then not checked)."""
    try:
        spec = importlib.util.find_spec(PROVIDER_SDKS[namespace])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(next(iter(spec.submodule_search_locations))) / "config" / "vars.py"
    try:
        text = source.read_text()
    except OSError:
        return None
    return frozenset(re.findall(r"__config__\.get\w*\('(\w+)'", text))


def check_config_keys(keys: Iterable[str], project: str, problems: Problems) -> None:
    """Every key of the stack's config belongs to a namespace something reads: a misspelled
    one (`storage-platfrom:tags`, `aws:regoin`) would otherwise be ignored silently."""
    namespaces = [project, *PROVIDER_SDKS, ENGINE_NAMESPACE]
    for key in keys:
        namespace, _, name = key.partition(":")
        if namespace not in namespaces:
            hint = did_you_mean(namespace, namespaces, f"{{}}:{name}")
            problems.add(
                key,
                f"unknown namespace {namespace!r}{hint}; accepted: "
                + ", ".join(f"{n}:<key>" for n in namespaces),
            )
        elif namespace in PROVIDER_SDKS:
            known = provider_keys(namespace)
            setting_name = name.split(":")[-1]  # legacy `aws:config:region` form
            if known is not None and setting_name not in known:
                hint = did_you_mean(setting_name, sorted(known), f"{namespace}:{{}}")
                problems.add(
                    key,
                    f"the {namespace} provider has no setting {setting_name!r}{hint}; accepted: "
                    + ", ".join(sorted(known)),
                )


def parse_stack_config(
    raw: dict[str, Any],
    *,
    aws_region: Any,
    stack: str,
    project: str = PROJECT,
    config_keys: Iterable[str] = (),
    today: dt.date | None = None,
) -> StackConfig:
    """Validate the project-namespace config (`raw`: key without namespace -> parsed value).

    `config_keys`: every key of the stack's config (all namespaces), checked for typos.
    `today`: apply the rules that depend on the date (None: leave them to the caller)."""
    problems = Problems()
    check_config_keys(config_keys, project, problems)
    region: str | None = None
    if aws_region is None:
        problems.add("aws:region", "required key is missing; accepted: e.g. 'ap-northeast-2'")
    elif is_secret(aws_region) or not isinstance(aws_region, str):
        problems.add(
            "aws:region",
            f"{'a `secure:` value' if is_secret(aws_region) else repr(aws_region)} is not a "
            "region name; accepted: a plain region name, e.g. 'ap-northeast-2'",
        )
        aws_region = None
    else:
        mark = len(problems.lines)
        check_region(aws_region, "aws:region", problems)
        region = aws_region if len(problems.lines) == mark else None
    settings = parse(StackSettings, raw, "", problems)
    if settings is not None:
        _check_stack(settings, region, problems)
        check_physical_names(settings.apps, stack, problems)
        if today is not None:
            _check_dates(settings, today, problems)
    elif not problems:
        problems.add("(root)", "the config could not be read; accepted: a mapping of keys")
    problems.raise_if_any()
    assert settings is not None and aws_region is not None
    return StackConfig(
        project=project,
        stack=stack,
        aws_region=aws_region,
        **{f.name: getattr(settings, f.name) for f in fields(settings)},
    )
