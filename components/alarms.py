"""The alarms on what fails silently in one app's storage.

Children, each where its resource exists and its `alarms.*` switch is on:

* per replicated bucket, two CloudWatch alarms on S3 Replication metrics (dimensions
  SourceBucket, DestinationBucket, RuleId; S3 user guide, "Using S3 Replication metrics"):
  `OperationsFailedReplication` (published in the source bucket's region) above its threshold,
  and `ReplicationLatency` (published in the *destination* bucket's region, so the alarm and
  its topic live there) above the RTC threshold for 15 minutes. S3 asks alarms on these
  metrics to ignore missing data (keep their state): a quiet bucket publishes nothing;
* per EFS file system, `BurstCreditBalance` below its threshold (bursting mode: once the
  credits are spent it runs at its baseline) and `PercentIOLimit` above its threshold
  (generalPurpose mode, the only one that publishes it), both for 15 minutes;
* per backed-up file system, an EventBridge rule on AWS Backup's "Backup Job State Change"
  events of its vault ending FAILED, ABORTED or EXPIRED, with the topic as target and a
  readable message;
* per CloudFront distribution, `5xxErrorRate` above its threshold for 15 minutes, in
  us-east-1 (CloudFront publishes its metrics there only, dimension `Region=Global`) through
  the default provider's per-resource `region`.

Every alarm notifies its region's alert topic on ALARM and on OK.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.cdn import US_EAST_1, CdnDistribution
from components.config.alarms import Alarms
from components.config.names import OperationsNames
from components.efs import SharedFileSystem
from components.replication import BucketReplica

PERIOD_SECONDS = 300
#: Periods in a row before a lasting condition alarms (15 minutes).
LASTING_PERIODS = 3
GIB = 1024**3
BACKUP_FAILED_STATES = ("FAILED", "ABORTED", "EXPIRED")

TopicFor = Callable[[str | None], pulumi.Input[str]]
"""The alert topic's ARN for a region (None = the stack's own)."""


@dataclass(frozen=True, kw_only=True)
class StorageAlarmsArgs:
    app: str
    settings: Alarms
    """Thresholds and switches (`alarms:`)."""
    names: OperationsNames
    topic_for: TopicFor
    primary_region: str
    """The stack's region (`aws:region`): an alarm there is created without `region`."""
    replicas: Mapping[str, BucketReplica] = field(default_factory=dict)
    """Replicated buckets by their `s3` key."""
    file_systems: Mapping[str, SharedFileSystem] = field(default_factory=dict)
    distributions: Mapping[str, CdnDistribution] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def backup_failure_pattern(vault: str) -> str:
    """The EventBridge pattern of this vault's backup jobs that did not complete."""
    return json.dumps(
        {
            "source": ["aws.backup"],
            "detail-type": ["Backup Job State Change"],
            "detail": {"backupVaultName": [vault], "state": list(BACKUP_FAILED_STATES)},
        },
        sort_keys=True,
    )


class StorageAlarms(pulumi.ComponentResource):
    """Outputs: `alarms`, one entry per alarm or rule: `name`, `region` (null = the stack's),
    `metric` (`AWS/S3 OperationsFailedReplication`, or the event), `threshold` (text with
    its unit), `watches` (`s3.<key>`, `efs.<key>`, `cdn.<key>`)."""

    def __init__(
        self, name: str, args: StorageAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:StorageAlarms", name, None, opts)
        self._given = args
        self.alarms: list[dict[str, Any]] = []
        settings = args.settings
        if settings.replication.enabled:
            for key, replica in args.replicas.items():
                if replica.spec.metrics:
                    self._replication(key, replica)
        for key, fs in args.file_systems.items():
            if settings.efs.enabled:
                self._throughput(key, fs)
            if settings.backup.enabled and fs.backup_vault_name is not None:
                self._backup_failures(key, fs, fs.backup_vault_name)
        if settings.cdn.enabled:
            for key, cdn in args.distributions.items():
                self._cdn_errors(key, cdn)
        self.register_outputs({"alarms": self.alarms})

    # ------------------------------------------------------------------------- helpers

    def _alarm(
        self,
        key: str,
        what: str,
        *,
        watches: str,
        region: str | None,
        namespace: str,
        metric: str,
        statistic: str,
        dimensions: Mapping[str, pulumi.Input[str]],
        comparison: str,
        threshold: float,
        shown: str,
        periods: int,
        missing: str,
        description: str,
    ) -> aws.cloudwatch.MetricAlarm:
        args = self._given
        alarm_name = args.names.alarm(args.app, key, what)
        if region == args.primary_region:
            region = None
        topic = args.topic_for(region)
        alarm = aws.cloudwatch.MetricAlarm(
            self._child_name(key, what),
            name=alarm_name,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            statistic=statistic,
            dimensions=dict(dimensions),
            period=PERIOD_SECONDS,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            comparison_operator=comparison,
            threshold=threshold,
            treat_missing_data=missing,
            alarm_actions=[topic],
            ok_actions=[topic],
            region=region,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alarms.append(
            {
                "name": alarm_name,
                "region": region,
                "metric": f"{namespace} {metric}",
                "threshold": shown,
                "watches": watches,
            }
        )
        return alarm

    def _child_name(self, key: str, what: str) -> str:
        return f"{self._given.app}-{key}-{what}"

    # ------------------------------------------------------------------------- alarms

    def _replication(self, key: str, replica: BucketReplica) -> None:
        settings = self._given.settings.replication
        source, spec = replica.source_bucket_name, replica.spec
        dimensions = {
            "SourceBucket": source,
            "DestinationBucket": spec.bucket,
            "RuleId": replica.rule_id,
        }
        failed = settings.failed_operations_above
        self._alarm(
            key,
            "replication-failed",
            watches=f"s3.{key}",
            region=None,
            namespace="AWS/S3",
            metric="OperationsFailedReplication",
            statistic="Sum",
            dimensions=dimensions,
            comparison="GreaterThanThreshold",
            threshold=failed,
            shown=f"> {failed} failed operations in 5 minutes",
            periods=1,
            missing="ignore",
            description=(
                f"Objects of s3://{source} fail to replicate to s3://{spec.bucket} (rule "
                f"{replica.rule_id}). First check: the replication role's policy, the replica "
                "bucket's policy and KMS key; S3 event s3:Replication:OperationFailedReplication "
                "names each object's failure reason."
            ),
        )
        minutes = settings.latency_above_minutes
        self._alarm(
            key,
            "replication-latency",
            watches=f"s3.{key}",
            region=spec.region,
            namespace="AWS/S3",
            metric="ReplicationLatency",
            statistic="Maximum",
            dimensions=dimensions,
            comparison="GreaterThanThreshold",
            threshold=minutes * 60,
            shown=f"> {minutes * 60} s ({minutes} min) for 15 minutes",
            periods=LASTING_PERIODS,
            missing="ignore",
            description=(
                f"s3://{spec.bucket} ({spec.region}) is more than {minutes} minutes behind "
                f"s3://{source}. First check: BytesPendingReplication and "
                "OperationsPendingReplication (a write burst drains by itself), then the AWS "
                "Health Dashboard for S3 in both regions."
            ),
        )

    def _throughput(self, key: str, fs: SharedFileSystem) -> None:
        settings = self._given.settings.efs
        spec = fs.spec
        dimensions = {"FileSystemId": fs.file_system_id}
        if spec.throughput_mode == "bursting":
            gib = settings.burst_credits_below_gib
            self._alarm(
                key,
                "burst-credits",
                watches=f"efs.{key}",
                region=None,
                namespace="AWS/EFS",
                metric="BurstCreditBalance",
                statistic="Minimum",
                dimensions=dimensions,
                comparison="LessThanThreshold",
                threshold=gib * GIB,
                shown=f"< {gib:g} GiB of credits for 15 minutes",
                periods=LASTING_PERIODS,
                missing="missing",
                description=(
                    f"EFS {key} is running out of burst credits; once they are spent it drops "
                    "to its baseline throughput (50 KiB/s per GiB in the Standard class). First "
                    "check: PermittedThroughput and MeteredIOBytes; switch throughputMode to "
                    "'elastic' if the load is real."
                ),
            )
        if spec.performance_mode == "generalPurpose":
            percent = settings.percent_io_limit_above
            self._alarm(
                key,
                "io-limit",
                watches=f"efs.{key}",
                region=None,
                namespace="AWS/EFS",
                metric="PercentIOLimit",
                statistic="Average",
                dimensions=dimensions,
                comparison="GreaterThanThreshold",
                threshold=percent,
                shown=f"> {percent:g} % for 15 minutes",
                periods=LASTING_PERIODS,
                missing="missing",
                description=(
                    f"EFS {key} is near the I/O operations limit of the generalPurpose mode. "
                    "First check: which clients drive metadata-heavy operations (many small "
                    "files, listing); spread them out or cache on the nodes."
                ),
            )

    def _backup_failures(self, key: str, fs: SharedFileSystem, vault: str) -> None:
        args = self._given
        child = pulumi.ResourceOptions(parent=self)
        rule_name = args.names.backup_failure_rule(args.app, key)
        rule = aws.cloudwatch.EventRule(
            self._child_name(key, "backup-failed"),
            name=rule_name,
            description=f"AWS Backup jobs of EFS {key} (vault {vault}) that did not complete",
            event_pattern=backup_failure_pattern(vault),
            tags=dict(args.tags),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            self._child_name(key, "backup-failed-to-topic"),
            rule=rule.name,
            target_id="storage-alerts",
            arn=args.topic_for(None),
            input_transformer={
                "input_paths": {
                    "job": "$.detail.backupJobId",
                    "resource": "$.detail.resourceArn",
                    "state": "$.detail.state",
                    "message": "$.detail.statusMessage",
                },
                "input_template": (
                    f'"AWS Backup job <job> of <resource> in vault {vault} ended <state>: '
                    "<message>. First check: the job's status message in the AWS Backup "
                    'console, then the backup role and the file system key policy."'
                ),
            },
            opts=child,
        )
        self.alarms.append(
            {
                "name": rule_name,
                "region": None,
                "metric": "aws.backup Backup Job State Change",
                "threshold": f"state {', '.join(BACKUP_FAILED_STATES)} in vault {vault}",
                "watches": f"efs.{key}",
            }
        )

    def _cdn_errors(self, key: str, cdn: CdnDistribution) -> None:
        percent = self._given.settings.cdn.error_rate_above_percent
        self._alarm(
            key,
            "cdn-5xx",
            watches=f"cdn.{key}",
            region=US_EAST_1,
            namespace="AWS/CloudFront",
            metric="5xxErrorRate",
            statistic="Average",
            dimensions={"DistributionId": cdn.distribution_id, "Region": "Global"},
            comparison="GreaterThanThreshold",
            threshold=percent,
            shown=f"> {percent:g} % of requests for 15 minutes",
            periods=LASTING_PERIODS,
            missing="notBreaching",
            description=(
                f"CloudFront {key} answers more than {percent:g} % of requests with 5xx. First "
                "check: the standard logs' x-edge-detailed-result-type and the S3 origin's "
                "answers (503 SlowDown: request rate on one prefix; 500: S3 InternalError, "
                "retried by clients; 502/504: origin unreachable), then the AWS Health Dashboard."
            ),
        )
