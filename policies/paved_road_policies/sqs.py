"""SQS: every queue is encrypted, and every queue but a dead-letter queue has one.

Tenants' event triggers (components/resources/events.py) feed queues; a message a consumer cannot
handle moves to the dead-letter queue after a few receives instead of blocking the queue.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping

from .core import HIGH, Context, Finding, Resource, Stack, is_unknown, stack_rule

QUEUE = "aws:sqs/queue:Queue"


def _queue_name(resource: Resource) -> Any:
    return resource.get("name")


def _dead_letter_targets(stack: Stack) -> set[str]:
    """Names of the queues other queues send their failures to (last segment of the ARN)."""
    names = set()
    for queue in stack.of_type(QUEUE):
        policy = queue.get("redrivePolicy")
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except ValueError:
                continue
        target = policy.get("deadLetterTargetArn") if isinstance(policy, Mapping) else None
        if isinstance(target, str):
            names.add(target.rsplit(":", 1)[-1])
    return names


@stack_rule(
    name="sqs-encrypted-with-dead-letters",
    description=(
        "Every SQS queue is encrypted, and every queue that is not itself a dead-letter queue "
        "sends failures to one."
    ),
    remediation=(
        "Set `kms_master_key_id` (or `sqs_managed_sse_enabled=True`), and a `redrive_policy` "
        "naming a dead-letter queue with a `maxReceiveCount`."
    ),
    severity=HIGH,
)
def sqs_encrypted(stack: Stack, context: Context) -> Iterator[Finding]:
    dead_letters = _dead_letter_targets(stack)
    for queue in stack.of_type(QUEUE):
        key, managed = queue.get("kmsMasterKeyId"), queue.get("sqsManagedSseEnabled")
        if not is_unknown(key) and not is_unknown(managed) and not key and managed is not True:
            yield Finding(queue.urn, "the queue is not encrypted (no kmsMasterKeyId)")
        name, redrive = _queue_name(queue), queue.get("redrivePolicy")
        if is_unknown(name) or is_unknown(redrive) or name in dead_letters:
            continue
        if not redrive:
            yield Finding(queue.urn, "the queue has no dead-letter queue (no redrivePolicy)")
