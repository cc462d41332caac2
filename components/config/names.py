"""Physical names the program gives resources, and the limits AWS puts on them.

Names that must be unique per account (and region) carry the stack, so that a second stack in
the same account (`staging` beside `prod`) never collides. Names of stateful resources come
from config instead, where changing them would replace what holds data: bucket names, and the
EFS creation token (`creationToken`, pinned in a stack deployed before the stack was part of
the name). Every limit is checked at config validation, before anything is registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from components.schema import Problems, join

#: AWS API limits (characters).
CLOUDFRONT_OAC_NAME = 64
CLOUDFRONT_CACHE_POLICY_NAME = 128
CLOUDFRONT_COMMENT = 128
LOG_DELIVERY_NAME = 60
BACKUP_NAME = 50
EFS_CREATION_TOKEN = 64
SNS_TOPIC_NAME = 256
CLOUDWATCH_ALARM_NAME = 255
EVENT_RULE_NAME = 64
BUDGET_NAME = 100
IAM_ROLE_NAME = 64

Check = tuple[str, str, int]
"""(what the name is for, the name, its limit)."""


@dataclass(frozen=True)
class CdnNames:
    """Per CloudFront distribution: `<stack>-<app>-<cdn key>[-...]`."""

    access_control: str
    log_source: str
    log_destination: str
    cache_policies: tuple[str, ...]
    """The default behaviour's, then one per ordered behaviour."""

    @classmethod
    def of(cls, stack: str, app: str, key: str, behaviors: int) -> CdnNames:
        prefix = f"{stack}-{app}-{key}"
        return cls(
            access_control=prefix,
            log_source=f"{prefix}-logs",
            log_destination=f"{prefix}-logs-s3",
            cache_policies=(
                f"{prefix}-default",
                *(f"{prefix}-behavior-{i}" for i in range(behaviors)),
            ),
        )

    def checks(self) -> Iterator[Check]:
        yield "CloudFront origin access control", self.access_control, CLOUDFRONT_OAC_NAME
        yield "CloudWatch Logs delivery source", self.log_source, LOG_DELIVERY_NAME
        yield "CloudWatch Logs delivery destination", self.log_destination, LOG_DELIVERY_NAME
        for name in self.cache_policies:
            yield "CloudFront cache policy", name, CLOUDFRONT_CACHE_POLICY_NAME


@dataclass(frozen=True)
class EfsNames:
    """Per EFS file system: its creation token (config, or `<stack>-<app>-<key>`) and its AWS
    Backup vault, plan and selection (`<stack>-<app>-<key>-...`)."""

    creation_token: str
    backup_vault: str
    backup_plan: str
    backup_selection: str

    @classmethod
    def of(cls, stack: str, app: str, key: str, creation_token: str | None) -> EfsNames:
        prefix = f"{stack}-{app}-{key}"
        return cls(
            creation_token=creation_token or prefix,
            backup_vault=f"{prefix}-backups",
            backup_plan=f"{prefix}-daily",
            backup_selection=prefix,
        )

    def checks(self) -> Iterator[Check]:
        yield "EFS creation token", self.creation_token, EFS_CREATION_TOKEN
        yield "AWS Backup vault", self.backup_vault, BACKUP_NAME
        yield "AWS Backup plan", self.backup_plan, BACKUP_NAME
        yield "AWS Backup selection", self.backup_selection, BACKUP_NAME


@dataclass(frozen=True)
class OperationsNames:
    """The names of what watches the stack, all `<stack>-...`: the alert topic (one name,
    one topic per region), alarms `<stack>-<app>-<key>-<what>`, the backup-failure rule of
    a file system, an app's budget, a replicated bucket's S3 Batch Operations role. Alarms
    and rules are found by these prefixes in the topic's and key's policies."""

    stack: str

    @property
    def alert_topic(self) -> str:
        return f"{self.stack}-storage-alerts"

    @property
    def prefix(self) -> str:
        """What every alarm, rule and budget name of the stack starts with."""
        return f"{self.stack}-"

    def alarm(self, app: str, key: str, what: str) -> str:
        return f"{self.stack}-{app}-{key}-{what}"

    def backup_failure_rule(self, app: str, key: str) -> str:
        return f"{self.stack}-{app}-{key}-backup-failed"

    def budget(self, app: str) -> str:
        return f"{self.stack}-{app}-monthly"

    def batch_replication_role(self, app: str, key: str) -> str:
        return f"{self.stack}-{app}-{key}-batch-replication"


def batch_report_prefix(source_bucket: str) -> str:
    """Where in the report bucket S3 Batch Replication writes a job's completion report
    (`<prefix>job-<id>/...`); the Batch Operations role may write there and nowhere else."""
    return f"batch-replication/{source_bucket}/"


def _too_long(path: str, what: str, name: str, limit: int, problems: Problems) -> None:
    if len(name) > limit:
        problems.add(
            path,
            f"the {what} name {name!r} is {len(name)} characters; AWS allows {limit}: "
            f"shorten the stack name or this key; accepted: names of at most {limit} characters",
        )


def check_physical_names(apps: dict[str, Any], stack: str, problems: Problems) -> None:
    """Every derived name within its AWS limit, reported on the config key it comes from."""
    ops = OperationsNames(stack)
    _too_long("alarms", "SNS topic", ops.alert_topic, SNS_TOPIC_NAME, problems)
    for app, app_cfg in apps.items():
        _too_long(f"apps.{app}", "AWS Budget", ops.budget(app), BUDGET_NAME, problems)
        for key, bucket in app_cfg.s3.items():
            if bucket.replication is not None:
                path = f"apps.{app}.s3.{key}.replication"
                role = ops.batch_replication_role(app, key)
                _too_long(path, "IAM role", role, IAM_ROLE_NAME, problems)
                alarm = ops.alarm(app, key, "replication-latency")
                _too_long(path, "CloudWatch alarm", alarm, CLOUDWATCH_ALARM_NAME, problems)
        for key in app_cfg.efs:
            rule = ops.backup_failure_rule(app, key)
            _too_long(f"apps.{app}.efs.{key}", "EventBridge rule", rule, EVENT_RULE_NAME, problems)
        for key, cdn in app_cfg.cdn.items():
            path = f"apps.{app}.cdn.{key}"
            for what, name, limit in CdnNames.of(stack, app, key, len(cdn.behaviors)).checks():
                _too_long(path, what, name, limit, problems)
        for key, efs in app_cfg.efs.items():
            path = f"apps.{app}.efs.{key}"
            names = EfsNames.of(stack, app, key, efs.creation_token)
            for what, name, limit in names.checks():
                given = efs.creation_token is not None and name == efs.creation_token
                where = join(path, "creationToken") if given else path
                _too_long(where, what, name, limit, problems)
