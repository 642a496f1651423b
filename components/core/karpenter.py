"""Karpenter: nodes launched to fit pending pods, on-demand or spot, and removed when idle.

The managed node groups keep the system pods (Karpenter's controller among them: it cannot run on
nodes it manages); everything else lands on nodes Karpenter picks from the instance types that fit
the pending pods, and consolidates away when they are empty or underutilized. Two NodePools: an
on-demand one any pod may use, and a spot one tainted so that only pods tolerating interruption
land there. Each pool has CPU and memory limits, so a runaway Deployment stops at a ceiling.

Spot capacity can be taken back with two minutes' notice: EventBridge sends the interruption,
rebalance, state-change and scheduled-maintenance events to an encrypted SQS queue that Karpenter
reads, so it drains a node before EC2 takes it away.

Its IAM follows Karpenter's own CloudFormation reference: instances, launch templates and instance
profiles only with this cluster's tags, `iam:PassRole` on the Karpenter node role only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import versions
from components.config import KarpenterConfig, KarpenterLimitsConfig
from components.core.base import ClusterContext, helm_release, irsa_annotation, service_role
from components.iam import allow, aws_managed_policy, policy_document, service_trust_policy
from components.kubernetes import CAPACITY_TYPE_KEY, MANAGED_BY_LABELS, SPOT_TAINT

KARPENTER = "karpenter"
DISCOVERY_TAG = "karpenter.sh/discovery"
NODE_CLASS = "default"
ON_DEMAND_POOL = "on-demand"
SPOT_POOL = "spot"
# The nodes' policies: the VPC CNI has its own IRSA role, so the nodes do not carry its policy.
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)
ROOT_DEVICE = "/dev/xvda"
ROOT_VOLUME = "50Gi"
# Each kind of event that takes an instance away or announces it, as EventBridge names them.
# Keys are short: each rule is named `<cluster>-karpenter-<key>`, within EventBridge's 64.
INTERRUPTION_EVENTS = {
    "health": ("aws.health", "AWS Health Event"),
    "spot": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "reservation": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
# Karpenter acts on an event within seconds; older messages describe nodes already gone.
QUEUE_RETENTION_SECONDS = 300


def _owned(cluster: str) -> dict[str, str]:
    return {f"kubernetes.io/cluster/{cluster}": "owned"}


def controller_policy(
    *, account_id: str, region: str, cluster: str, node_role_arn: str, queue_arn: str
) -> str:
    """Karpenter's controller policy, statement for statement as upstream's CloudFormation
    reference (v1.14) scopes it: writes only on resources carrying this cluster's tags."""
    ec2 = f"arn:aws:ec2:{region}"
    tagged_kinds = [
        f"{ec2}:{account_id}:{kind}/*"
        for kind in (
            "fleet",
            "instance",
            "volume",
            "network-interface",
            "launch-template",
            "spot-instances-request",
        )
    ]
    profiles = f"arn:aws:iam::{account_id}:instance-profile/*"
    request_owned = {f"aws:RequestTag/{k}": v for k, v in _owned(cluster).items()}
    resource_owned = {f"aws:ResourceTag/{k}": v for k, v in _owned(cluster).items()}
    region_tag = "topology.kubernetes.io/region"
    cluster_arn = f"arn:aws:eks:{region}:{account_id}:cluster/{cluster}"
    return policy_document(
        allow(
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:{account_id}:security-group/*",
                f"{ec2}:{account_id}:subnet/*",
                f"{ec2}:{account_id}:capacity-reservation/*",
                f"{ec2}:{account_id}:placement-group/*",
            ],
            Sid="AllowScopedEC2InstanceAccessActions",
        ),
        allow(
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [f"{ec2}:{account_id}:launch-template/*"],
            Sid="AllowScopedEC2LaunchTemplateAccessActions",
            Condition={
                "StringEquals": resource_owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        ),
        allow(
            ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            tagged_kinds,
            Sid="AllowScopedEC2InstanceActionsWithTags",
            Condition={
                "StringEquals": {**request_owned, "aws:RequestTag/eks:eks-cluster-name": cluster},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        ),
        allow(
            ["ec2:CreateTags"],
            tagged_kinds,
            Sid="AllowScopedResourceCreationTagging",
            Condition={
                "StringEquals": {
                    **request_owned,
                    "aws:RequestTag/eks:eks-cluster-name": cluster,
                    "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                },
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        ),
        allow(
            ["ec2:CreateTags"],
            [f"{ec2}:{account_id}:instance/*"],
            Sid="AllowScopedResourceTagging",
            Condition={
                "StringEquals": resource_owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {
                    "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                },
            },
        ),
        allow(
            ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            [f"{ec2}:{account_id}:instance/*", f"{ec2}:{account_id}:launch-template/*"],
            Sid="AllowScopedDeletion",
            Condition={
                "StringEquals": resource_owned,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
            },
        ),
        allow(
            ["iam:PassRole"],
            [node_role_arn],
            Sid="AllowPassingInstanceRole",
            Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        ),
        allow(
            ["iam:CreateInstanceProfile"],
            [profiles],
            Sid="AllowScopedInstanceProfileCreationActions",
            Condition={
                "StringEquals": {
                    **request_owned,
                    "aws:RequestTag/eks:eks-cluster-name": cluster,
                    f"aws:RequestTag/{region_tag}": region,
                },
                "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        ),
        allow(
            ["iam:TagInstanceProfile"],
            [profiles],
            Sid="AllowScopedInstanceProfileTagActions",
            Condition={
                "StringEquals": {
                    **resource_owned,
                    f"aws:ResourceTag/{region_tag}": region,
                    **request_owned,
                    "aws:RequestTag/eks:eks-cluster-name": cluster,
                    f"aws:RequestTag/{region_tag}": region,
                },
                "StringLike": {
                    "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                },
            },
        ),
        allow(
            [
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            [profiles],
            Sid="AllowScopedInstanceProfileActions",
            Condition={
                "StringEquals": {**resource_owned, f"aws:ResourceTag/{region_tag}": region},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        ),
        allow(["iam:GetInstanceProfile"], [profiles], Sid="AllowInstanceProfileReadActions"),
        allow(["eks:DescribeCluster"], [cluster_arn], Sid="AllowAPIServerEndpointDiscovery"),
        allow(
            ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            [queue_arn],
            Sid="AllowInterruptionQueueActions",
        ),
        allow(
            ["ssm:GetParameter"],
            [f"arn:aws:ssm:{region}::parameter/aws/service/*"],
            Sid="AllowSSMReadActions",
        ),
        # Describe and list calls cannot be scoped to a resource; they stay in this region.
        allow(
            [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceStatus",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribePlacementGroups",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            ["*"],
            Sid="AllowRegionalReadActions",
            Condition={"StringEquals": {"aws:RequestedRegion": region}},
        ),
        allow(["pricing:GetProducts"], ["*"], Sid="AllowPricingReadActions"),
        allow(["iam:ListInstanceProfiles"], ["*"], Sid="AllowUnscopedInstanceProfileListAction"),
    )


def queue_policy(queue_arn: str, rule_arns: Sequence[str]) -> str:
    """Only this stack's EventBridge rules may send to the queue, and only over TLS."""
    return policy_document(
        {
            "Sid": "EventBridgeRules",
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
        },
        {
            "Sid": "DenyHTTP",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )


@dataclass(frozen=True)
class KarpenterArgs:
    context: ClusterContext
    config: KarpenterConfig
    # The cluster's security group, which EKS creates: tagged here so the EC2NodeClass finds it.
    cluster_security_group_id: pulumi.Input[str]
    # The platform namespace the controller runs in: its name (for the IRSA trust) and the
    # created namespace's name (so the release waits for it).
    namespace_name: str
    namespace: pulumi.Input[str]


class Karpenter(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    node_role_arn: pulumi.Output[str]
    queue_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: KarpenterArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> None:
        super().__init__("paved-road:core:Karpenter", name, None, opts)
        context, config = args.context, args.config
        child = pulumi.ResourceOptions(parent=self)
        cluster = context.cluster_name

        node_role = aws.iam.Role(
            f"{name}-node-role",
            name=f"{context.prefix}-karpenter-node",
            assume_role_policy=service_trust_policy("ec2.amazonaws.com"),
            tags=context.tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-role-{policy}",
                role=node_role.name,
                policy_arn=aws_managed_policy(policy),
                opts=child,
            )
            for policy in NODE_POLICIES
        ]
        # Nodes join with the role's access entry (EC2_LINUX: the node groups' permissions).
        access = aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=cluster,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=context.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[context.cluster]),
        )
        aws.ec2.Tag(
            f"{name}-cluster-sg-discovery",
            resource_id=args.cluster_security_group_id,
            key=DISCOVERY_TAG,
            value=cluster,
            opts=child,
        )

        dead_letters = aws.sqs.Queue(
            f"{name}-interruption-dlq",
            name=f"{cluster}-karpenter-interruption-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=1209600,
            tags=context.tags,
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-interruption",
            name=f"{cluster}-karpenter-interruption",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            redrive_policy=dead_letters.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": 5}, sort_keys=True
                )
            ),
            tags=context.tags,
            opts=child,
        )
        rules = []
        for event, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}",
                name=f"{cluster}-karpenter-{event}",
                description=f"{detail_type} events for Karpenter's interruption queue",
                event_pattern=json.dumps(
                    {"source": [source], "detail-type": [detail_type]}, sort_keys=True
                ),
                tags=context.tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{event}-target",
                rule=rule.name,
                target_id="KarpenterInterruptionQueueTarget",
                arn=queue.arn,
                opts=child,
            )
            rules.append(rule)
        aws.sqs.QueuePolicy(
            f"{name}-interruption-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *[r.arn for r in rules]).apply(
                lambda arns: queue_policy(arns[0], arns[1:])
            ),
            opts=child,
        )

        role = service_role(
            f"{name}-controller",
            context,
            role_suffix=KARPENTER,
            namespace=args.namespace_name,
            service_account=KARPENTER,
            policy=pulumi.Output.all(context.account_id, node_role.arn, queue.arn).apply(
                lambda a: controller_policy(
                    account_id=a[0],
                    region=context.region,
                    cluster=cluster,
                    node_role_arn=a[1],
                    queue_arn=a[2],
                )
            ),
            parent=self,
        )
        self.release = helm_release(
            f"{name}-release",
            versions.CHARTS[KARPENTER],
            namespace=args.namespace,
            values=karpenter_values(context, role.arn, queue.name),
            parent=self,
            provider=context.provider,
            depends_on=list(depends_on),
        )
        after_release = pulumi.ResourceOptions(
            parent=self, provider=context.provider, depends_on=[self.release, access, *attachments]
        )
        k8s.apiextensions.CustomResource(
            f"{name}-node-class",
            **node_class(context, node_role.name),
            opts=after_release,
        )
        pools = [(ON_DEMAND_POOL, config.on_demand)]
        if config.spot:
            pools.append((SPOT_POOL, config.spot_limits))
        for pool, limits in pools:
            k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool}", **node_pool(pool, limits, config), opts=after_release
            )
        self.node_role_arn = node_role.arn
        self.queue_name = queue.name
        self.register_outputs(
            {
                "karpenterRoleArn": role.arn,
                "karpenterNodeRoleArn": node_role.arn,
                "interruptionQueue": queue.name,
            }
        )


def karpenter_values(
    context: ClusterContext, role_arn: pulumi.Input[str], queue_name: pulumi.Input[str]
) -> dict[str, Any]:
    """Values of the aws `karpenter` chart (charts/karpenter/values.yaml of the pinned version).

    The controller must not run on nodes it manages: besides the chart's own affinity (no node of
    a NodePool) it is held to the managed node groups (`eks.amazonaws.com/nodegroup`). In
    production two replicas share a leader lease behind the chart's PodDisruptionBudget.
    """
    return {
        "fullnameOverride": KARPENTER,
        "serviceAccount": {
            "create": True,
            "name": KARPENTER,
            "annotations": irsa_annotation(role_arn),
        },
        "replicas": 2 if context.production else 1,
        "podDisruptionBudget": {"name": KARPENTER, "maxUnavailable": 1},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"},
                                {"key": "eks.amazonaws.com/nodegroup", "operator": "Exists"},
                            ]
                        }
                    ]
                }
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname"}
                ]
            },
        },
        "controller": {
            "resources": {
                "requests": {"cpu": "250m", "memory": "512Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            }
        },
        "settings": {"clusterName": context.cluster_name, "interruptionQueue": queue_name},
    }


def node_class(context: ClusterContext, role_name: pulumi.Input[str]) -> dict[str, Any]:
    """The EC2NodeClass every pool launches from: the pinned AMI alias of the cluster's minor,
    IMDSv2 with hop limit 1 (pods cannot reach the node's credentials), an encrypted gp3 root
    volume, and the private subnets and cluster security group found by their discovery tag."""
    selector = [{"tags": {DISCOVERY_TAG: context.cluster_name}}]
    return {
        "api_version": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": NODE_CLASS, "labels": dict(MANAGED_BY_LABELS)},
        "spec": {
            "role": role_name,
            "amiSelectorTerms": [
                {"alias": versions.karpenter_ami_alias(context.kubernetes_version)}
            ],
            "subnetSelectorTerms": selector,
            "securityGroupSelectorTerms": selector,
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpProtocolIPv6": "disabled",
                "httpPutResponseHopLimit": 1,
                "httpTokens": "required",
            },
            "blockDeviceMappings": [
                {
                    "deviceName": ROOT_DEVICE,
                    "rootVolume": True,
                    "ebs": {
                        "volumeSize": ROOT_VOLUME,
                        "volumeType": "gp3",
                        "encrypted": True,
                        "deleteOnTermination": True,
                    },
                }
            ],
            "tags": dict(context.tags),
        },
    }


def node_pool(pool: str, limits: KarpenterLimitsConfig, config: KarpenterConfig) -> dict[str, Any]:
    """One NodePool: its capacity type, the instance categories allowed, its limits, and
    consolidation of empty or underutilized nodes. The spot pool is tainted."""
    capacity = "spot" if pool == SPOT_POOL else "on-demand"
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS},
        "requirements": [
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {
                "key": "karpenter.k8s.aws/instance-category",
                "operator": "In",
                "values": list(config.instance_categories),
            },
            # Tenants' pods get security groups of their own (their data stores admit only
            # those): that needs a trunk interface, which Nitro instances have and Xen ones lack.
            {"key": "karpenter.k8s.aws/instance-hypervisor", "operator": "In", "values": ["nitro"]},
        ],
        # Nodes are replaced at least monthly, so they pick up patched AMIs.
        "expireAfter": "720h",
    }
    if pool == SPOT_POOL:
        template_spec["taints"] = [dict(SPOT_TAINT)]
    return {
        "api_version": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": pool, "labels": dict(MANAGED_BY_LABELS)},
        "spec": {
            "template": {
                "metadata": {"labels": {**MANAGED_BY_LABELS, CAPACITY_TYPE_KEY: capacity}},
                "spec": template_spec,
            },
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": config.consolidate_after,
            },
            "limits": {"cpu": limits.cpu, "memory": limits.memory},
            # A pod that tolerates spot (it asked for it) is placed there first; others cannot be.
            "weight": 10 if pool == ON_DEMAND_POOL else 50,
        },
    }
