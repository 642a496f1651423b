"""Amazon DevOps Guru over the stack's resources, opt-in (`paved-road:insights.devopsGuru`).

DevOps Guru learns each resource's normal behaviour from CloudWatch metrics, events and logs and
raises "insights" when it drifts: the managed, ML counterpart of the PromQL anomaly rules, for the
AWS side of the stack (the EKS cluster, its nodes, NAT gateways, databases). It analyses the
resources carrying one tag key (its application boundary, which must start `DevOps-Guru-`): the
stack tags every resource with its `paved-road:project` value under that key while this is on.

Insights go to an SNS topic encrypted with a customer-managed KMS key whose policy lets DevOps
Guru publish; the platform's e-mail receivers subscribe to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.tenants_config import AlertReceiverConfig

# The service principals DevOps Guru publishes as: the DevOps Guru user guide's topic and key
# policies name the regional form (`<region>.devops-guru.amazonaws.com`); the global name is
# listed too so either form the service presents is allowed (both are AWS-owned principals).
SERVICE = "devops-guru.amazonaws.com"


def service_principals(region: str) -> list[str]:
    return sorted({SERVICE, f"{region}.{SERVICE}"})


@dataclass(frozen=True)
class DevOpsGuruArgs:
    prefix: str
    region: str
    account_id: pulumi.Input[str]
    # The stack's application boundary: the tag key and the project's value.
    boundary_key: str
    boundary_value: str
    # The platform's e-mail receivers' addresses (Slack and PagerDuty: see the README).
    email_addresses: tuple[str, ...] = ()
    tags: dict[str, str] | None = None
    production: bool = False


def key_policy(account_id: str, region: str) -> str:
    """The account administers the key; DevOps Guru may use it for this account's topics only
    (SNS asks KMS for a data key on the publisher's behalf)."""
    return policy_document(
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["kms:*"],
            "Resource": ["*"],
        },
        {
            "Sid": "DevOpsGuruPublishesEncrypted",
            "Effect": "Allow",
            "Principal": {"Service": service_principals(region)},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
    )


def topic_policy(account_id: str, region: str, topic_arn: str) -> str:
    """DevOps Guru publishes to the topic, for this account only; nothing else is granted."""
    return policy_document(
        {
            "Sid": "DevOpsGuruPublishes",
            "Effect": "Allow",
            "Principal": {"Service": service_principals(region)},
            "Action": ["sns:Publish"],
            "Resource": [topic_arn],
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    )


class DevOpsGuru(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DevOpsGuruArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:insight:DevOpsGuru", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags or {})
        topic_name = f"{args.prefix}-devops-guru"
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts {topic_name}, DevOps Guru's notifications",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: key_policy(account, args.region)
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.production),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{topic_name}",
            target_key_id=key.key_id,
            opts=child,
        )
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=topic_name,
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(args.account_id, topic.arn).apply(
                lambda values: topic_policy(values[0], args.region, values[1])
            ),
            opts=child,
        )
        for index, address in enumerate(args.email_addresses):
            # AWS mails a confirmation link first; the subscription is pending until clicked.
            aws.sns.TopicSubscription(
                f"{name}-email-{index}",
                topic=topic.arn,
                protocol="email",
                endpoint=address,
                opts=child,
            )
        aws.devopsguru.ResourceCollection(
            f"{name}-resources",
            type="AWS_TAGS",
            tags={"app_boundary_key": args.boundary_key, "tag_values": [args.boundary_value]},
            opts=child,
        )
        aws.devopsguru.NotificationChannel(
            f"{name}-notifications",
            sns={"topic_arn": topic.arn},
            # Only what needs a person: new and closed insights of medium or high severity.
            filters={
                "message_types": ["NEW_INSIGHT", "CLOSED_INSIGHT", "SEVERITY_UPGRADED"],
                "severities": ["MEDIUM", "HIGH"],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.topic_arn = topic.arn
        self.register_outputs({"topicArn": topic.arn})


def email_addresses(receivers: Sequence[AlertReceiverConfig]) -> tuple[str, ...]:
    """Every address of the platform's e-mail receivers, in order, once."""
    seen: dict[str, None] = {}
    for receiver in receivers:
        if receiver.type == "email":
            for address in receiver.to:
                seen.setdefault(address, None)
    return tuple(seen)
