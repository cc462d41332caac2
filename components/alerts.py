"""An encrypted SNS topic the stack's alarms, backup events and budgets publish to.

One per region that has alarms, with the same name and the same subscriptions: a CloudWatch
alarm can only notify a topic in its own region, and the stack's alarms live in three kinds of
region (the stack's, a replica's for replication latency, us-east-1 for CloudFront). Regions
other than the provider's are set through pulumi-aws 7's per-resource `region`, so the stack's
`aws:*` config (profile, assumeRoles, allowedAccountIds, defaultTags) applies everywhere.

Children: a customer-managed KMS key (the AWS-managed `alias/aws/sns` key cannot be used by
CloudWatch, EventBridge or AWS Budgets: its policy grants them nothing and cannot be edited),
its key policy, the topic, the topic's policy, one subscription per configured endpoint.

Key policy: this account administers the key and may use it only through SNS of the region;
each publishing service may `kms:GenerateDataKey*` and `kms:Decrypt` (SNS developer guide,
"Enable compatibility between event sources from AWS services and encrypted topics"), scoped
with `aws:SourceAccount` and `aws:SourceArn` to this stack's alarms and budgets; EventBridge
gets no such condition: AWS documents that those keys are not supported in a KMS policy for
EventBridge-to-encrypted-topic delivery, and a condition there drops every event.

Topic policy: the account manages the topic (what SNS's default policy allows); CloudWatch may
publish for this stack's alarms in this region, EventBridge for this stack's rules, AWS Budgets
for this stack's budgets (each with `aws:SourceAccount` and `aws:SourceArn`); nothing is
accepted without TLS. The documents name the topic by the ARN its name makes, so they are
known on a first preview, where the policy rules read them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from components import iam
from components.config.alarms import Subscription
from components.kms import customer_managed_key, key_policy

Publisher = Literal["cloudwatch", "events", "budgets"]

#: What the account may do with its topic (the actions of SNS's default topic policy).
TOPIC_OWNER_ACTIONS = (
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
    "sns:RemovePermission",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
)
#: What a publishing AWS service needs on the topic's key.
PUBLISHER_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
SERVICE_PRINCIPALS: dict[Publisher, str] = {
    "cloudwatch": "cloudwatch.amazonaws.com",
    "events": "events.amazonaws.com",
    "budgets": "budgets.amazonaws.com",
}


@dataclass(frozen=True, kw_only=True)
class AlertTopicArgs:
    topic_name: str
    """The topic's name, the same in every region (`<stack>-storage-alerts`)."""
    name_prefix: str
    """What the names of the alarms, rules and budgets allowed to publish start with."""
    region: str | None = None
    """The topic's region; None = the provider's (`aws:region`)."""
    publishers: Sequence[Publisher] = ("cloudwatch",)
    """The AWS services that publish here: CloudWatch alarms always; EventBridge and AWS
    Budgets on the stack's own region's topic."""
    subscriptions: Sequence[Subscription] = ()
    protect: bool = True
    """Refuse deletion of the topic's KMS key."""
    tags: Mapping[str, str] = field(default_factory=dict)


def endpoint_id(endpoint: str) -> str:
    """A short, stable id of a subscription endpoint for its resource name (the address
    itself stays out of URNs)."""
    return hashlib.sha256(endpoint.lower().encode()).hexdigest()[:10]


def _for_the_stack(
    publisher: Publisher, account: pulumi.Output[str], region: pulumi.Output[str], prefix: str
) -> dict[str, Any]:
    """The condition limiting a service to publishing for this account and the stack's own
    alarm, rule or budget names."""
    if publisher == "cloudwatch":
        arn = pulumi.Output.concat(
            "arn:aws:cloudwatch:", region, ":", account, ":alarm:", prefix, "*"
        )
    elif publisher == "events":
        arn = pulumi.Output.concat("arn:aws:events:", region, ":", account, ":rule/", prefix, "*")
    else:
        arn = pulumi.Output.concat("arn:aws:budgets::", account, ":budget/", prefix, "*")
    return {"StringEquals": {"aws:SourceAccount": account}, "ArnLike": {"aws:SourceArn": arn}}


class AlertTopic(pulumi.ComponentResource):
    """Outputs: `topic_arn` (`arn:aws:sns:<region>:<account>:<name>`), `region`."""

    topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: AlertTopicArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("storage:index:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region: pulumi.Output[str] = (
            pulumi.Output.from_input(args.region) if args.region else aws.get_region_output().region
        )
        account = aws.get_caller_identity_output().account_id
        tags = {**args.tags, "Name": args.topic_name}
        known_arn = pulumi.Output.concat("arn:aws:sns:", region, ":", account, ":", args.topic_name)

        self.key = customer_managed_key(
            f"{name}-key",
            description=f"SNS topic {args.topic_name}",
            parent=self,
            protect=args.protect,
            tags=tags,
            region=args.region,
        )
        key_statements: list[pulumi.Input[dict[str, Any]]] = []
        for publisher in args.publishers:
            statement: dict[str, Any] = {
                "Sid": iam.sid("PublishEncrypted", publisher),
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPALS[publisher]},
                "Action": list(PUBLISHER_KEY_ACTIONS),
                "Resource": "*",
            }
            if publisher != "events":
                statement["Condition"] = _for_the_stack(
                    publisher, account, region, args.name_prefix
                )
            key_statements.append(statement)
        key_policy(
            f"{name}-key-policy",
            key=self.key,
            services=[pulumi.Output.concat("sns.", region, ".amazonaws.com")],
            extra=key_statements,
            region=args.region,
            parent=self,
        )

        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=args.topic_name,
            display_name="Storage alerts",
            kms_master_key_id=self.key.arn,
            region=args.region,
            tags=tags,
            opts=child,
        )
        statements: list[pulumi.Input[dict[str, Any]]] = [
            {
                "Sid": "AccountManagesTheTopic",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
                "Action": list(TOPIC_OWNER_ACTIONS),
                "Resource": known_arn,
            }
        ]
        for publisher in args.publishers:
            statements.append(
                {
                    "Sid": iam.sid("Publish", publisher),
                    "Effect": "Allow",
                    "Principal": {"Service": SERVICE_PRINCIPALS[publisher]},
                    "Action": "sns:Publish",
                    "Resource": known_arn,
                    "Condition": _for_the_stack(publisher, account, region, args.name_prefix),
                }
            )
        statements.append(
            iam.deny_insecure_transport("DenyInsecureTransport", "sns:Publish", [known_arn])
        )
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=iam.document(statements),
            region=args.region,
            opts=child,
        )
        # Named after the endpoint, not its position: reordering the list changes nothing.
        self.subscriptions = [
            aws.sns.TopicSubscription(
                f"{name}-{sub.protocol}-{endpoint_id(sub.endpoint)}",
                topic=self.topic.arn,
                protocol=sub.protocol,
                endpoint=sub.endpoint,
                region=args.region,
                opts=child,
            )
            for sub in args.subscriptions
        ]

        self.topic_arn = self.topic.arn
        self.region = args.region
        self.register_outputs({"topic_arn": self.topic_arn})
