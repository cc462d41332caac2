"""Operating the stack: who is told when storage breaks, the alarm thresholds, the budgets.

Every alarm is on by default wherever its resource exists. Thresholds are in the units the
metric is published in (CloudWatch); each alarm evaluates 5-minute periods, and the number of
periods in a row it needs is fixed per alarm (README, "Alarms").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from components.config.common import HOSTNAME, in_range
from components.schema import Problems, join, setting

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True, kw_only=True)
class Subscription:
    protocol: Literal["email", "https"] = setting(
        doc="how SNS delivers: `email` (the address confirms once) or `https` (a webhook "
        "that confirms the SubscribeURL it is sent)"
    )
    endpoint: str = setting(doc="e-mail address, or `https://host[:port]/path` of the webhook")

    def check(self, path: str, problems: Problems) -> None:
        where = join(path, "endpoint")
        if self.protocol == "email":
            if not _EMAIL.match(self.endpoint):
                problems.add(
                    where,
                    f"{self.endpoint!r} is not an e-mail address; accepted: e.g. "
                    "'platform-alerts@example.com'",
                )
            return
        accepted = "'https://host[:port]/path' (e.g. 'https://alerts.example.com/sns')"
        parts = urlsplit(self.endpoint)
        if parts.scheme != "https":
            problems.add(
                where,
                f"{self.endpoint!r} is not an https URL (SNS would send alerts in clear text "
                f"over http); accepted: {accepted}",
            )
        elif parts.username is not None or parts.password is not None:
            problems.add(
                where,
                f"{self.endpoint!r} carries credentials, which a stack file would hold in plain "
                f"text; accepted: {accepted} authenticating the SNS signature instead",
            )
        elif not parts.hostname or not HOSTNAME.match(parts.hostname):
            problems.add(where, f"{self.endpoint!r} has no valid host name; accepted: {accepted}")
        elif parts.fragment:
            problems.add(where, f"{self.endpoint!r} has a fragment; accepted: {accepted}")


@dataclass(frozen=True, kw_only=True)
class ReplicationAlarms:
    enabled: bool = setting(
        True,
        doc="two alarms per replicated bucket: failed operations (in the source region) and "
        "latency (in the replica region, where S3 publishes it); the policy requires them",
    )
    failed_operations_above: int = setting(
        0,
        doc="OperationsFailedReplication, operations summed over 5 minutes, above which the "
        "failure alarm fires",
        check=in_range(0, 1_000_000),
    )
    latency_above_minutes: int = setting(
        15,
        doc="ReplicationLatency (maximum), minutes, above which the latency alarm fires when "
        "it lasts 15 minutes; 15 = the RTC threshold",
        check=in_range(1, 1440),
    )


@dataclass(frozen=True, kw_only=True)
class EfsAlarms:
    enabled: bool = setting(
        True,
        doc="per file system: burst credits running low (bursting mode) and the I/O limit "
        "(generalPurpose mode)",
    )
    burst_credits_below_gib: float = setting(
        512,
        doc="BurstCreditBalance (minimum), GiB of credits, below which the alarm fires when it "
        "lasts 15 minutes (a file system under 1 TiB holds at most 2.1 TiB of credits)",
        check=in_range(1, 1_000_000),
    )
    percent_io_limit_above: float = setting(
        90,
        doc="PercentIOLimit (average), percent of the generalPurpose I/O limit, above which "
        "the alarm fires when it lasts 15 minutes",
        check=in_range(1, 100),
    )


@dataclass(frozen=True, kw_only=True)
class BackupAlarms:
    enabled: bool = setting(
        True,
        doc="per backed-up file system: an EventBridge rule on its vault's backup jobs that "
        "end FAILED, ABORTED or EXPIRED; the policy requires it",
    )


@dataclass(frozen=True, kw_only=True)
class CdnAlarms:
    enabled: bool = setting(
        True, doc="per distribution: its 5xx error rate (the alarm lives in us-east-1)"
    )
    error_rate_above_percent: float = setting(
        5,
        doc="5xxErrorRate (average), percent of viewer requests, above which the alarm fires "
        "when it lasts 15 minutes",
        check=in_range(0.01, 100),
    )


@dataclass(frozen=True, kw_only=True)
class BudgetSettings:
    enabled: bool = setting(
        True,
        doc="per app with AWS costs: a monthly AWS Budget of the app's AWS cost estimate plus "
        "headroom, scoped by the `app` cost-allocation tag (which the stack activates)",
    )
    headroom_percent: float = setting(
        20,
        doc="percent added to the estimate (`ops cost`) to make the budget's limit",
        check=in_range(0, 1000),
    )
    forecast_percent: float = setting(
        100,
        doc="notify when the month's forecast exceeds this percent of the limit",
        check=in_range(1, 1000),
    )
    actual_percent: float = setting(
        100,
        doc="notify when the month's actual cost exceeds this percent of the limit",
        check=in_range(1, 1000),
    )
    minimum_usd: float = setting(
        1,
        doc="the smallest limit, USD (an app whose usage the stack file does not state)",
        check=in_range(0.01, 1_000_000),
    )

    def headroom_percent_of(self, app: AppBudget) -> float:
        """The app's own headroom, else the stack's."""
        return self.headroom_percent if app.headroom_percent is None else app.headroom_percent


@dataclass(frozen=True, kw_only=True)
class AppBudget:
    """Per app (`apps.<app>.budget`): what differs from the stack's `alarms.budgets`."""

    enabled: bool = setting(True, doc="false: no AWS Budget for this app")
    headroom_percent: float | None = setting(
        None,
        doc="percent added to this app's estimate; null = alarms.budgets.headroomPercent",
        check=in_range(0, 1000),
    )


@dataclass(frozen=True, kw_only=True)
class Alarms:
    """The stack's `alarms:` block."""

    subscriptions: tuple[Subscription, ...] = setting(
        (),
        doc="who is told: every alert topic (one per region with alarms) gets each of these; "
        "none leaves the alarms without a reader (advisory alert-topic-subscribed)",
    )
    replication: ReplicationAlarms = setting(factory=ReplicationAlarms, doc="replicated buckets")
    efs: EfsAlarms = setting(factory=EfsAlarms, doc="EFS file systems")
    backup: BackupAlarms = setting(factory=BackupAlarms, doc="AWS Backup jobs of file systems")
    cdn: CdnAlarms = setting(factory=CdnAlarms, doc="CloudFront distributions")
    budgets: BudgetSettings = setting(factory=BudgetSettings, doc="AWS Budgets per app")
    protect: bool = setting(
        True, doc="refuse deletion of the alert topics' KMS keys (false only in deletable stacks)"
    )

    def check(self, path: str, problems: Problems) -> None:
        seen: set[tuple[str, str]] = set()
        for i, sub in enumerate(self.subscriptions):
            key = (sub.protocol, sub.endpoint.lower())
            if key in seen:
                problems.add(
                    f"{join(path, 'subscriptions')}[{i}]",
                    f"{sub.endpoint!r} is listed twice; accepted: each endpoint once",
                )
            seen.add(key)


def check_batch_reports(apps: dict[str, Any], problems: Problems) -> None:
    """The bucket each replicated bucket's Batch Replication reports go to: a bucket of the
    same app, SSE-S3 (the Batch Operations role gets no KMS grant), not the source itself."""
    for app, app_cfg in apps.items():
        for key, bucket in app_cfg.s3.items():
            replication = bucket.replication
            if replication is None or replication.batch_report_bucket is None:
                continue
            path = f"apps.{app}.s3.{key}.replication.batchReportBucket"
            target_key = replication.batch_report_bucket
            target = app_cfg.s3.get(target_key)
            if target is None:
                others = sorted(k for k in app_cfg.s3 if k != key)
                problems.add(
                    path,
                    f"{target_key!r} is not a bucket of app {app!r}; accepted: "
                    f"{', '.join(others) or 'none declared'}",
                )
            elif target_key == key:
                problems.add(
                    path,
                    "a bucket cannot hold its own batch replication reports; accepted: "
                    f"another SSE-S3 bucket of app {app!r}",
                )
            elif target.encryption.type != "sse-s3":
                problems.add(
                    path,
                    f"{target_key!r} uses {target.encryption.type}; accepted: an SSE-S3 bucket "
                    "(the Batch Operations role has no KMS grant)",
                )


def report_bucket_key(bucket: Any) -> str | None:
    """Key of the bucket receiving a replicated bucket's Batch Replication reports."""
    replication = bucket.replication
    if replication is not None and replication.batch_report_bucket is not None:
        return str(replication.batch_report_bucket)
    return str(bucket.access_logs.bucket) if bucket.access_logs is not None else None
