"""StorageAlarms: each alarm's metric, statistic, threshold, dimensions and region pinned on the
prod plan; every alarm notifies the topic of its own region; switches and modes decide which
alarms exist."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.alarms import StorageAlarms, StorageAlarmsArgs
from components.config import Efs
from components.config.alarms import Alarms
from components.config.names import EfsNames, OperationsNames
from components.efs import SharedFileSystem, SharedFileSystemArgs
from ops.plan import Plan
from tests.components.test_efs import BASE
from tests.conftest import Recorded, spec

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def alarm(plan: Plan, name: str) -> Any:
    return plan.get(name, ALARM)


def topic_urn(plan: Plan, region: str | None) -> str:
    (t,) = [t for t in plan.by_type(TOPIC) if t.inputs.get("region") == region]
    return t.urn


def assert_notifies(plan: Plan, r: Any, region: str | None) -> None:
    """Alarm actions (and OK actions) are the topic of the alarm's own region."""
    assert r.inputs.get("region") == region, r.name
    urn = topic_urn(plan, region)
    assert r.property_dependencies["alarmActions"] == [urn], r.name
    assert r.property_dependencies["okActions"] == [urn], r.name


def test_replication_failures_alarm_in_the_source_region(prod_plan: Plan) -> None:
    r = alarm(prod_plan, "pingvas-studio-images-replication-failed")
    i = r.inputs
    assert (i["name"], i["namespace"], i["metricName"], i["statistic"]) == (
        "prod-pingvas-studio-images-replication-failed",
        "AWS/S3",
        "OperationsFailedReplication",
        "Sum",
    )
    assert i["dimensions"] == {
        "SourceBucket": "pingvas-studio-images",
        "DestinationBucket": "pingvas-studio-images-replica-tokyo",
        "RuleId": "replicate-to-ap-northeast-1",
    }
    assert (i["comparisonOperator"], i["threshold"], i["period"], i["evaluationPeriods"]) == (
        "GreaterThanThreshold",
        0,
        300,
        1,
    )
    assert i["treatMissingData"] == "ignore"  # S3 user guide: keep the state
    assert_notifies(prod_plan, r, None)


def test_replication_latency_alarm_lives_in_the_replica_region(prod_plan: Plan) -> None:
    """ReplicationLatency is published in the destination bucket's region (S3 user guide,
    "Using S3 Replication metrics"), and an alarm only notifies a topic of its region."""
    r = alarm(prod_plan, "pingvas-studio-images-replication-latency")
    i = r.inputs
    assert (i["metricName"], i["statistic"], i["threshold"]) == (
        "ReplicationLatency",
        "Maximum",
        900,
    )
    assert (
        i["dimensions"]
        == alarm(prod_plan, "pingvas-studio-images-replication-failed").inputs["dimensions"]
    )
    assert (i["evaluationPeriods"], i["datapointsToAlarm"], i["period"]) == (3, 3, 300)
    assert_notifies(prod_plan, r, "ap-northeast-1")


def test_the_rule_id_dimension_is_the_replication_rules_id(prod_plan: Plan) -> None:
    config = prod_plan.get("pingvas-studio-images-crr-configuration")
    (rule,) = config.inputs["rules"]
    assert (
        alarm(prod_plan, "pingvas-studio-images-replication-failed").inputs["dimensions"]["RuleId"]
        == rule["id"]
    )
    assert rule["destination"]["metrics"]["status"] == "Enabled"


def test_model_cache_burst_credits_and_io_limit(prod_plan: Plan) -> None:
    fs = prod_plan.get("pingvas-studio-models-efs-file-system")
    burst = alarm(prod_plan, "pingvas-studio-models-burst-credits")
    i = burst.inputs
    assert (i["namespace"], i["metricName"], i["statistic"], i["comparisonOperator"]) == (
        "AWS/EFS",
        "BurstCreditBalance",
        "Minimum",
        "LessThanThreshold",
    )
    assert i["threshold"] == 512 * 1024**3  # bytes of credits
    assert (i["evaluationPeriods"], i["period"]) == (3, 300)
    # The dimension is wired to the file system: prod adopts seed 003's, whose id the engine
    # reads at preview (a created one's would be unknown until it exists).
    assert i["dimensions"] == {"FileSystemId": "fs-0123456789abcdef0"}
    assert burst.property_dependencies["dimensions"] == [fs.urn]
    assert_notifies(prod_plan, burst, None)
    io = alarm(prod_plan, "pingvas-studio-models-io-limit").inputs
    assert (io["metricName"], io["statistic"], io["threshold"], io["comparisonOperator"]) == (
        "PercentIOLimit",
        "Average",
        90,
        "GreaterThanThreshold",
    )


def test_model_cache_backup_failures_reach_the_topic(prod_plan: Plan) -> None:
    rule = prod_plan.get(
        "pingvas-studio-models-backup-failed", "aws:cloudwatch/eventRule:EventRule"
    )
    assert rule.inputs["name"] == "prod-pingvas-studio-models-backup-failed"
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change"],
        "detail": {
            "backupVaultName": ["prod-pingvas-studio-models-backups"],
            "state": ["FAILED", "ABORTED", "EXPIRED"],
        },
    }
    vault = prod_plan.get("pingvas-studio-models-efs-backup-vault")
    assert vault.inputs["name"] == "prod-pingvas-studio-models-backups"
    target = prod_plan.get("pingvas-studio-models-backup-failed-to-topic")
    assert target.property_dependencies["rule"] == [rule.urn]
    assert target.property_dependencies["arn"] == [topic_urn(prod_plan, None)]
    template = target.inputs["inputTransformer"]["inputTemplate"]
    assert template.startswith(
        '"AWS Backup job <job> of <resource> in vault prod-pingvas-studio-models-backups'
    )
    json.loads(
        template.replace("<job>", "j")
        .replace("<resource>", "r")
        .replace("<state>", "s")
        .replace("<message>", "m")
    )


@pytest.mark.parametrize(
    ("name", "distribution", "distribution_id"),
    [
        # Adopted (seed 003's): its id is the import id, read at preview.
        (
            "pingvas-studio-images-cdn-5xx",
            "pingvas-studio-images-cdn-distribution",
            "EDFDVBD6EXAMPLE",
        ),
        # Created: unknown until it exists.
        ("video-renderer-videos-cdn-5xx", "video-renderer-videos-cdn-distribution", "[unknown]"),
    ],
)
def test_each_distribution_has_its_5xx_alarm_in_us_east_1(
    prod_plan: Plan, name: str, distribution: str, distribution_id: str
) -> None:
    """CloudFront publishes its metrics in us-east-1 only, with Region=Global."""
    r = alarm(prod_plan, name)
    i = r.inputs
    assert (i["namespace"], i["metricName"], i["statistic"], i["threshold"]) == (
        "AWS/CloudFront",
        "5xxErrorRate",
        "Average",
        5,
    )
    assert i["dimensions"] == {"DistributionId": distribution_id, "Region": "Global"}
    assert r.property_dependencies["dimensions"] == [prod_plan.get(distribution).urn]
    assert i["treatMissingData"] == "notBreaching"
    assert_notifies(prod_plan, r, "us-east-1")
    assert r.provider is None, "the default provider with region, never an explicit one"


def test_deployed_mode_fills_the_ids_into_the_dimensions(prod_deployed: Plan) -> None:
    fs_id = prod_deployed.get("pingvas-studio-models-efs-file-system").id
    assert alarm(prod_deployed, "pingvas-studio-models-burst-credits").inputs["dimensions"] == {
        "FileSystemId": fs_id
    }
    topic = next(t for t in prod_deployed.by_type(TOPIC) if t.inputs.get("region") == "us-east-1")
    cdn = alarm(prod_deployed, "pingvas-studio-images-cdn-5xx").inputs
    assert (
        cdn["alarmActions"]
        == [topic.id]
        == ["arn:aws:sns:us-east-1:123456789012:prod-storage-alerts"]
    )


def test_every_alarm_notifies_a_topic_of_its_own_region(
    prod_plan: Plan, staging_plan: Plan
) -> None:
    for plan in (prod_plan, staging_plan):
        alarms = plan.by_type(ALARM)
        assert alarms
        for r in alarms:
            assert_notifies(plan, r, r.inputs.get("region"))
            assert r.inputs["name"].startswith(f"{plan.stack}-"), r.name


def test_the_prod_plan_shows_the_alarms(prod_plan: Plan) -> None:
    names = sorted(r.name for r in prod_plan.by_type(ALARM))
    assert names == [
        "pingvas-studio-images-cdn-5xx",
        "pingvas-studio-images-replication-failed",
        "pingvas-studio-images-replication-latency",
        "pingvas-studio-models-burst-credits",
        "pingvas-studio-models-io-limit",
        "video-renderer-videos-cdn-5xx",
    ]
    monitoring = prod_plan.outputs["monitoring"]
    assert set(monitoring["topics"]) == {"ap-northeast-2", "ap-northeast-1", "us-east-1"}
    watched = {a["watches"] for a in monitoring["apps"]["pingvas-studio"]["alarms"]}
    assert watched == {"s3.images", "efs.models", "cdn.images"}


# ------------------------------------------------------------------ switches and modes


def efs_alarms(
    pulumi_run: Any, raw: dict[str, Any], settings: dict[str, Any] | None = None
) -> Recorded:
    def build() -> StorageAlarms:
        efs_spec = spec(Efs, {**BASE, **raw})
        fs = SharedFileSystem(
            "app-models-efs",
            SharedFileSystemArgs(spec=efs_spec, names=EfsNames.of("t", "app", "models", None)),
        )
        return StorageAlarms(
            "app-alarms",
            StorageAlarmsArgs(
                app="app",
                settings=spec(Alarms, settings or {}),
                names=OperationsNames("t"),
                topic_for=lambda region: (
                    f"arn:aws:sns:{region or 'ap-northeast-2'}:123456789012:t-storage-alerts"
                ),
                primary_region="ap-northeast-2",
                file_systems={"models": fs},
            ),
        )

    return pulumi_run(build)


def what_exists(rec: Recorded) -> set[str]:
    return {
        r.name for r in rec.resources if r.type in (ALARM, "aws:cloudwatch/eventRule:EventRule")
    }


def test_burst_credits_only_in_bursting_mode_io_limit_only_in_general_purpose(
    pulumi_run: Any,
) -> None:
    assert what_exists(efs_alarms(pulumi_run, {})) == {
        "app-models-burst-credits",
        "app-models-io-limit",
        "app-models-backup-failed",
    }
    assert what_exists(efs_alarms(pulumi_run, {"throughputMode": "elastic"})) == {
        "app-models-io-limit",
        "app-models-backup-failed",
    }
    assert what_exists(efs_alarms(pulumi_run, {"performanceMode": "maxIO", "backup": None})) == {
        "app-models-burst-credits"
    }


def test_switches_turn_alarms_off_and_thresholds_come_from_config(pulumi_run: Any) -> None:
    off = efs_alarms(pulumi_run, {}, {"efs": {"enabled": False}, "backup": {"enabled": False}})
    assert what_exists(off) == set()
    custom = efs_alarms(
        pulumi_run, {}, {"efs": {"burstCreditsBelowGib": 100, "percentIoLimitAbove": 75}}
    )
    assert custom.one(ALARM, "app-models-burst-credits").inputs["threshold"] == 100 * 1024**3
    assert custom.one(ALARM, "app-models-io-limit").inputs["threshold"] == 75
    assert custom.one(ALARM, "app-models-io-limit").inputs["alarmActions"] == [
        "arn:aws:sns:ap-northeast-2:123456789012:t-storage-alerts"
    ]
