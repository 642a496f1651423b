"""Event triggers for a tenant: an EventBridge rule feeding an encrypted SQS queue.

The rule fires on a schedule, on an event pattern, or on objects created in a named S3 bucket
(through the bucket's EventBridge notifications, which its owner switches on). Its target is a
queue encrypted with the trigger's own key, with a dead-letter queue that takes a message after
five failed receives and keeps it 14 days; the queue's policy admits messages from that rule only.
With a `consumer`, the tenant's workload role may receive and delete from this queue (and no
other), and the consumer scales on the queue's depth (components/resources/keda.py).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.iam import allow, policy_document
from components.resources.common import (
    RESOURCE_ANNOTATION,
    ResourceTarget,
    resource_key,
)
from components.resources_config import ResourceConfig

MAX_RECEIVES = 5
RETENTION_SECONDS = 14 * 24 * 3600
# Longer than a consumer takes for one message, so a message is not handed out twice meanwhile.
VISIBILITY_TIMEOUT_SECONDS = 300
CONSUMER_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
)


def event_pattern(resource: ResourceConfig) -> Optional[dict[str, Any]]:
    """The rule's pattern: the tenant's own, or S3's Object Created events of its bucket."""
    source = resource.source
    if source is None or source.schedule:
        return None
    if source.pattern is not None:
        return source.pattern
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [source.s3_bucket]}},
    }


class EventTrigger(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    queue_name: str

    def __init__(
        self,
        name: str,
        resource: ResourceConfig,
        target: ResourceTarget,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:resources:EventTrigger", name, None, opts)
        physical = target.physical_name(resource)
        tags = target.tags_for(resource)
        child = pulumi.ResourceOptions(parent=self)
        key = resource_key(
            name,
            target,
            resource,
            "Events",
            self,
            via="sqs",
            service_users=["events.amazonaws.com"],
        )
        dead_letters = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{physical}-dlq",
            kms_master_key_id=key.arn,
            message_retention_seconds=RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-queue",
            name=physical,
            kms_master_key_id=key.arn,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_SECONDS,
            message_retention_seconds=RETENTION_SECONDS,
            redrive_policy=dead_letters.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES}, sort_keys=True
                )
            ),
            tags=tags,
            opts=child,
        )
        # Only this queue may move its failures into the dead-letter queue.
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=dead_letters.url,
            redrive_allow_policy=queue.arn.apply(
                lambda arn: json.dumps(
                    {"redrivePermission": "byQueue", "sourceQueueArns": [arn]}, sort_keys=True
                )
            ),
            opts=child,
        )
        source = resource.source
        pattern = event_pattern(resource)
        rule = aws.cloudwatch.EventRule(
            f"{name}-rule",
            name=physical,
            description=f"events {resource.name} of tenant {target.tenant} ({source.kind if source else ''})",
            schedule_expression=source.schedule if source else None,
            event_pattern=json.dumps(pattern, sort_keys=True) if pattern is not None else None,
            state="ENABLED",
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, rule.arn).apply(
                lambda args: policy_document(
                    {
                        "Sid": "FromItsRuleOnly",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": args[0],
                        "Condition": {"ArnEquals": {"aws:SourceArn": args[1]}},
                    }
                )
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=rule.name,
            target_id="queue",
            arn=queue.arn,
            opts=child,
        )
        if resource.consumer is not None:
            aws.iam.RolePolicy(
                f"{name}-consume",
                role=target.workload_role.id,
                policy=pulumi.Output.all(queue.arn, key.arn).apply(
                    lambda args: policy_document(
                        allow(list(CONSUMER_ACTIONS), [args[0]]),
                        allow(
                            ["kms:Decrypt"],
                            [args[1]],
                            Condition={
                                "StringEquals": {
                                    "kms:ViaService": f"sqs.{target.region}.amazonaws.com"
                                }
                            },
                        ),
                    )
                ),
                opts=child,
            )
        # Where the queue is, for the app: not secret, so a ConfigMap beside the data stores'
        # connection Secrets, with the same name pattern.
        k8s.core.v1.ConfigMap(
            f"{name}-connection",
            metadata={
                "name": f"{resource.name}-connection",
                "namespace": target.namespace,
                "labels": dict(target.labels),
                "annotations": {RESOURCE_ANNOTATION: f"{resource.type}/{resource.name}"},
            },
            data={"queueUrl": queue.url, "queueArn": queue.arn, "region": target.region},
            opts=pulumi.ResourceOptions(
                parent=self, provider=target.provider, depends_on=list(target.secret_after[:1])
            ),
        )
        self.queue_url = queue.url
        self.queue_arn = queue.arn
        self.queue_name = physical
        self.register_outputs({"queueUrl": queue.url, "queueArn": queue.arn})
