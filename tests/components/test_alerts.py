"""AlertTopic: an encrypted SNS topic per alarm region, a key only the publishing services may
use (with the conditions AWS documents), a topic policy as narrow, subscriptions from config."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.alerts import AlertTopic, AlertTopicArgs
from components.config.alarms import Subscription
from ops import stackfile
from ops.plan import Plan
from tests.conftest import Recorded, spec, stack_problems

TOPIC = "aws:sns/topic:Topic"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ACCOUNT = "123456789012"
EMAIL = {"protocol": "email", "endpoint": "platform-alerts@example.com"}
HOOK = {"protocol": "https", "endpoint": "https://alerts.example.com/sns"}


def topic(
    pulumi_run: Any,
    region: str | None = None,
    subscriptions: tuple[dict[str, str], ...] = (EMAIL,),
    publishers: tuple[str, ...] = ("cloudwatch", "events", "budgets"),
) -> Recorded:
    def build() -> AlertTopic:
        return AlertTopic(
            "alerts",
            AlertTopicArgs(
                topic_name="test-storage-alerts",
                name_prefix="test-",
                region=region,
                publishers=publishers,  # type: ignore[arg-type]
                subscriptions=[spec(Subscription, s) for s in subscriptions],
            ),
        )

    return pulumi_run(build)


def statements(rec: Recorded, typ: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in rec.policy(typ)["Statement"]}


def test_topic_is_encrypted_with_its_own_customer_managed_key(pulumi_run: Any) -> None:
    """The AWS-managed alias/aws/sns key would leave CloudWatch, EventBridge and Budgets
    unable to publish: its policy grants them nothing and cannot be changed."""
    rec = topic(pulumi_run)
    sns, key = rec.one(TOPIC), rec.one("aws:kms/key:Key")
    assert sns.inputs["name"] == "test-storage-alerts"
    assert key.urn in sns.property_dependencies["kmsMasterKeyId"]
    assert "alias/aws/sns" not in json.dumps(sns.inputs)
    assert key.inputs["enableKeyRotation"] is True and key.protect is True


def test_key_policy_lets_each_publisher_use_the_key_with_documented_conditions(
    pulumi_run: Any,
) -> None:
    by_sid = statements(topic(pulumi_run), KEY_POLICY)
    actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert by_sid["PublishEncryptedCloudwatch"] == {
        "Sid": "PublishEncryptedCloudwatch",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": actions,
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {
                "aws:SourceArn": f"arn:aws:cloudwatch:ap-northeast-2:{ACCOUNT}:alarm:test-*"
            },
        },
    }
    assert by_sid["PublishEncryptedBudgets"]["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert by_sid["PublishEncryptedBudgets"]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:budgets::{ACCOUNT}:budget/test-*"
    }
    # AWS: aws:SourceAccount/SourceArn are not supported in a KMS policy for EventBridge to
    # an encrypted topic; with one, every event would be dropped.
    assert by_sid["PublishEncryptedEvents"] == {
        "Sid": "PublishEncryptedEvents",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": actions,
        "Resource": "*",
    }
    use = by_sid["UseOnlyThroughItsServices"]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == [
        "sns.ap-northeast-2.amazonaws.com"
    ]


def test_topic_policy_admits_this_stacks_publishers_only_and_tls_only(pulumi_run: Any) -> None:
    by_sid = statements(topic(pulumi_run), "aws:sns/topicPolicy:TopicPolicy")
    arn = f"arn:aws:sns:ap-northeast-2:{ACCOUNT}:test-storage-alerts"
    assert set(by_sid) == {
        "AccountManagesTheTopic",
        "PublishCloudwatch",
        "PublishEvents",
        "PublishBudgets",
        "DenyInsecureTransport",
    }
    assert by_sid["AccountManagesTheTopic"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    expected = {
        "PublishCloudwatch": (
            "cloudwatch.amazonaws.com",
            f"arn:aws:cloudwatch:ap-northeast-2:{ACCOUNT}:alarm:test-*",
        ),
        "PublishEvents": (
            "events.amazonaws.com",
            f"arn:aws:events:ap-northeast-2:{ACCOUNT}:rule/test-*",
        ),
        "PublishBudgets": ("budgets.amazonaws.com", f"arn:aws:budgets::{ACCOUNT}:budget/test-*"),
    }
    for sid, (service, source) in expected.items():
        assert by_sid[sid] == {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sns:Publish",
            "Resource": arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": source},
            },
        }
    deny = by_sid["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_a_topic_in_another_region_lives_there_with_cloudwatch_only(pulumi_run: Any) -> None:
    rec = topic(pulumi_run, region="us-east-1", publishers=("cloudwatch",))
    for r in rec.resources:
        if r.custom:
            assert r.inputs.get("region") == "us-east-1", r.name
    assert set(statements(rec, "aws:sns/topicPolicy:TopicPolicy")) == {
        "AccountManagesTheTopic",
        "PublishCloudwatch",
        "DenyInsecureTransport",
    }
    cw = statements(rec, KEY_POLICY)["PublishEncryptedCloudwatch"]
    assert cw["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:cloudwatch:us-east-1:")
    assert rec.all("aws:index/provider:Provider") == [], "no explicit provider"


def test_subscriptions_come_from_config_and_keep_their_names_when_reordered(
    pulumi_run: Any,
) -> None:
    one = topic(pulumi_run, subscriptions=(EMAIL, HOOK))
    other = topic(pulumi_run, subscriptions=(HOOK, EMAIL))
    subs = {
        r.name: (r.inputs["protocol"], r.inputs["endpoint"])
        for r in one.all("aws:sns/topicSubscription:TopicSubscription")
    }
    assert sorted(subs.values()) == [
        ("email", "platform-alerts@example.com"),
        ("https", "https://alerts.example.com/sns"),
    ]
    assert set(subs) == {r.name for r in other.all("aws:sns/topicSubscription:TopicSubscription")}
    topic_urn = one.one(TOPIC).urn
    for r in one.all("aws:sns/topicSubscription:TopicSubscription"):
        assert r.property_dependencies["topic"] == [topic_urn]


# --------------------------------------------------------------------------- config


def alarms_problems(alarms: dict[str, Any]) -> list[str]:
    return stack_problems({"apps": {}, "alarms": alarms}, stack="t")


@pytest.mark.parametrize(
    ("subscription", "fragment"),
    [
        ({"protocol": "https", "endpoint": "http://alerts.example.com/sns"}, "is not an https URL"),
        (
            {"protocol": "https", "endpoint": "https://user:pw@alerts.example.com/sns"},
            "carries credentials",
        ),
        ({"protocol": "https", "endpoint": "https:///sns"}, "has no valid host name"),
        ({"protocol": "email", "endpoint": "platform-alerts"}, "is not an e-mail address"),
        ({"protocol": "sms", "endpoint": "+15555550100"}, "'sms' is not accepted"),
    ],
)
def test_bad_subscriptions_are_refused_naming_the_key(
    subscription: dict[str, str], fragment: str
) -> None:
    (line,) = alarms_problems({"subscriptions": [subscription]})
    assert line.startswith("alarms.subscriptions[0]."), line
    assert fragment in line


def test_good_subscriptions_and_duplicates() -> None:
    assert alarms_problems({"subscriptions": [EMAIL, HOOK]}) == []
    (line,) = alarms_problems(
        {"subscriptions": [EMAIL, {**EMAIL, "endpoint": "Platform-Alerts@example.com"}]}
    )
    assert (
        line
        == "alarms.subscriptions[1]: 'Platform-Alerts@example.com' is listed twice; accepted: each endpoint once"
    )


@pytest.mark.parametrize(
    ("alarms", "key", "accepted"),
    [
        (
            {"replication": {"latencyAboveMinutes": 0}},
            "alarms.replication.latencyAboveMinutes",
            "1-1440",
        ),
        ({"efs": {"percentIoLimitAbove": 101}}, "alarms.efs.percentIoLimitAbove", "1-100"),
        ({"cdn": {"errorRateAbovePercent": 0}}, "alarms.cdn.errorRateAbovePercent", "0.01-100"),
        ({"budgets": {"headroomPercent": -1}}, "alarms.budgets.headroomPercent", "0-1000"),
    ],
)
def test_thresholds_out_of_range_are_refused(
    alarms: dict[str, Any], key: str, accepted: str
) -> None:
    (line,) = alarms_problems(alarms)
    assert line.startswith(f"{key}: ") and line.endswith(f"accepted: {accepted}")


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_stack_files_subscribe_placeholders_only(stack: str) -> None:
    doc = yaml.safe_load((stackfile.ROOT / f"Pulumi.{stack}.yaml").read_text())
    subs = doc["config"]["storage-platform:alarms"]["subscriptions"]
    assert subs
    for sub in subs:
        host = sub["endpoint"].split("@")[-1].split("//")[-1].split("/")[0]
        assert host == "example.com" or host.endswith(".example.com"), sub


def test_prod_has_one_topic_per_alarm_region_with_the_same_subscriptions(prod_plan: Plan) -> None:
    topics = {r.inputs.get("region"): r for r in prod_plan.by_type(TOPIC)}
    assert set(topics) == {None, "ap-northeast-1", "us-east-1"}
    assert {r.inputs["name"] for r in topics.values()} == {"prod-storage-alerts"}
    endpoints: dict[str | None, set[str]] = {}
    for sub in prod_plan.by_type("aws:sns/topicSubscription:TopicSubscription"):
        (owner,) = [t for t in topics.values() if t.urn in sub.property_dependencies["topic"]]
        assert sub.inputs.get("region") == owner.inputs.get("region")
        endpoints.setdefault(owner.inputs.get("region"), set()).add(sub.inputs["endpoint"])
    assert len({frozenset(v) for v in endpoints.values()}) == 1 and len(endpoints) == 3
