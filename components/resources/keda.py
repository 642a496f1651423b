"""Queue-depth scaling of a tenant's event consumers with KEDA.

One ScaledObject per consumer app scales its Rollout on the depth of each queue it consumes
(`aws-sqs-queue` triggers), between the app's `replicas` and its maximum. KEDA reads the queue as
the tenant's own workload role (`podIdentity: aws, identityOwner: workload`): the operator
assumes the role the consumer's service account names, which trusts KEDA's operator role only
while the tenant has a consumer. No tenant's queue depth is readable with another's role.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

KEDA_API_VERSION = "keda.sh/v1alpha1"
TRIGGER_AUTHENTICATION = "tenant-workload"
# Messages per replica KEDA aims for: a consumer handles a handful at a time.
QUEUE_LENGTH_PER_REPLICA = 5


def trigger_authentication(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """The tenant's workload identity, for KEDA's AWS scalers in this namespace."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=KEDA_API_VERSION,
        kind="TriggerAuthentication",
        metadata={"name": TRIGGER_AUTHENTICATION, "namespace": namespace, "labels": dict(labels)},
        spec={"podIdentity": {"provider": "aws", "identityOwner": "workload"}},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )


def scaled_object(
    name: str,
    *,
    app: str,
    namespace: str,
    labels: Mapping[str, str],
    queues: Sequence[pulumi.Input[str]],
    region: str,
    min_replicas: int,
    max_replicas: int,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
    workload: tuple[str, str] = ("argoproj.io/v1alpha1", "Rollout"),
) -> k8s.apiextensions.CustomResource:
    """The consumer's workload (its Rollout, or under Flagger its Deployment: apiVersion and
    kind) scaled on its queues' depth (visible and in-flight messages)."""
    triggers: list[dict[str, Any]] = [
        {
            "type": "aws-sqs-queue",
            "authenticationRef": {"name": TRIGGER_AUTHENTICATION},
            "metadata": {
                "queueURL": queue,
                "queueLength": str(QUEUE_LENGTH_PER_REPLICA),
                "awsRegion": region,
            },
        }
        for queue in queues
    ]
    return k8s.apiextensions.CustomResource(
        name,
        api_version=KEDA_API_VERSION,
        kind="ScaledObject",
        metadata={"name": app, "namespace": namespace, "labels": dict(labels)},
        spec={
            "scaleTargetRef": {"apiVersion": workload[0], "kind": workload[1], "name": app},
            "minReplicaCount": min_replicas,
            "maxReplicaCount": max_replicas,
            "triggers": triggers,
        },
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )
