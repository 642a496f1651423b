"""Autoscaling: metrics-server feeds HorizontalPodAutoscalers; the cluster autoscaler (the default)
or Karpenter (`paved-road:cluster.autoscaling: karpenter`, components/core/karpenter.py) sizes
nodes.

Tenants' apps come with HPAs, and an HPA without the Metrics API never scales: metrics-server
serves it. When pods no longer fit, the Kubernetes cluster autoscaler grows the managed node
groups (their Auto Scaling groups, found by the tags EKS puts on them) between `minSize` and
`maxSize`, and shrinks them again when nodes sit idle. It runs the image of the cluster's own
Kubernetes minor, and its IRSA role may change the size of this cluster's Auto Scaling groups
only: the write actions are conditioned on the `k8s.io/cluster-autoscaler/<cluster>` tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.config import AutoscalingConfig, ClusterAutoscalerConfig, NodeAutoscaler
from components.core.base import (
    ClusterContext,
    helm_release,
    irsa_annotation,
    ordered_after,
    platform_namespace,
    resources,
    service_role,
)
from components.core.karpenter import Karpenter, KarpenterArgs
from components.iam import allow, policy_document

NAMESPACES = ("autoscaling",)
NAMESPACE = NAMESPACES[0]
METRICS_SERVER = "metrics-server"
CLUSTER_AUTOSCALER = "cluster-autoscaler"
KEDA = "keda"
KEDA_OPERATOR = "keda-operator"

# Read-only calls of the autoscaler's AWS provider with auto-discovery (the "full features" policy
# of cluster-autoscaler/cloudprovider/aws/README.md); none of them can be scoped to a resource.
DISCOVERY_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup",
)
SCALING_ACTIONS = (
    "autoscaling:SetDesiredCapacity",
    "autoscaling:TerminateInstanceInAutoScalingGroup",
)

# The autoscaler's image is distroless `nonroot` (uid 65532); nothing writes to its filesystem.
AUTOSCALER_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
AUTOSCALER_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
# metrics-server's chart defaults (already `restricted`), restated so the plan shows them.
METRICS_SERVER_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
    "capabilities": {"drop": ["ALL"]},
}


def ownership_tag(cluster_name: str) -> str:
    """The tag EKS puts (value `owned`) on the Auto Scaling group of each managed node group."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def autoscaler_policy(cluster_name: str) -> str:
    """Describe anywhere; resize and terminate only in Auto Scaling groups of this cluster."""
    return policy_document(
        allow(DISCOVERY_ACTIONS, ["*"], Sid="DiscoverNodeGroups"),
        allow(
            SCALING_ACTIONS,
            ["*"],
            Sid="ScaleThisClustersNodeGroups",
            Condition={"StringEquals": {f"aws:ResourceTag/{ownership_tag(cluster_name)}": "owned"}},
        ),
    )


@dataclass(frozen=True)
class AutoscalingArgs:
    context: ClusterContext
    config: AutoscalingConfig
    node_autoscaler: NodeAutoscaler = "cluster-autoscaler"
    # The cluster's security group: Karpenter's nodes join it (None: Karpenter is not chosen).
    cluster_security_group_id: Optional[pulumi.Input[str]] = None


def keda_policy(account_id: str, prefix: str) -> str:
    """KEDA reads a consumer's queue as that tenant's workload role (`identityOwner: workload`):
    it may assume tenants' workload roles, and nothing else. Each role's trust names KEDA only
    while its tenant has a consumer (components/tenant.py)."""
    return policy_document(
        allow(
            ["sts:AssumeRole"],
            [f"arn:aws:iam::{account_id}:role/{prefix}-tenant-*"],
            Sid="AssumeTenantWorkloadRoles",
        )
    )


class Autoscaling(pulumi.ComponentResource):
    metrics_server: k8s.helm.v3.Release
    cluster_autoscaler: Optional[k8s.helm.v3.Release]
    karpenter: Optional[Karpenter]
    keda: Optional[k8s.helm.v3.Release]
    keda_role_arn: Optional[pulumi.Output[str]]

    def __init__(
        self, name: str, args: AutoscalingArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Autoscaling", name, None, opts)
        context, config = args.context, args.config
        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        self.metrics_server = helm_release(
            f"{name}-metrics-server",
            versions.CHARTS[METRICS_SERVER],
            namespace=namespace.metadata.name,
            values=metrics_server_values(context.production),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )
        self.cluster_autoscaler = None
        outputs: dict[str, Any] = {}
        self.karpenter = None
        if args.node_autoscaler == "karpenter":
            assert args.cluster_security_group_id is not None, "CoreServicesArgs"
            self.karpenter = Karpenter(
                f"{name}-karpenter",
                KarpenterArgs(
                    context,
                    config.karpenter,
                    args.cluster_security_group_id,
                    namespace_name=NAMESPACE,
                    namespace=namespace.metadata.name,
                ),
                pulumi.ResourceOptions(parent=self),
                depends_on=ordered_after(opts),
            )
            outputs["karpenterNodeRoleArn"] = self.karpenter.node_role_arn
        if args.node_autoscaler == "cluster-autoscaler" and config.cluster_autoscaler.enabled:
            role = service_role(
                f"{name}-cluster-autoscaler",
                context,
                role_suffix=CLUSTER_AUTOSCALER,
                namespace=NAMESPACE,
                service_account=CLUSTER_AUTOSCALER,
                policy=autoscaler_policy(context.cluster_name),
                parent=self,
            )
            self.cluster_autoscaler = helm_release(
                f"{name}-cluster-autoscaler",
                versions.CHARTS[CLUSTER_AUTOSCALER],
                namespace=namespace.metadata.name,
                values=cluster_autoscaler_values(context, config.cluster_autoscaler, role.arn),
                parent=self,
                provider=context.provider,
                depends_on=ordered_after(opts),
            )
            outputs["clusterAutoscalerRoleArn"] = role.arn
        self.keda = self.keda_role_arn = None
        if config.keda:
            keda_role = service_role(
                f"{name}-keda",
                context,
                role_suffix=KEDA,
                namespace=NAMESPACE,
                service_account=KEDA_OPERATOR,
                policy=context.account_id.apply(lambda a: keda_policy(a, context.prefix)),
                parent=self,
            )
            self.keda = helm_release(
                f"{name}-keda",
                versions.CHARTS[KEDA],
                namespace=namespace.metadata.name,
                values=keda_values(context.production, keda_role.arn),
                parent=self,
                provider=context.provider,
                depends_on=ordered_after(opts),
            )
            self.keda_role_arn = keda_role.arn
            outputs["kedaRoleArn"] = keda_role.arn
        self.register_outputs(outputs)


def keda_values(production: bool, role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Values of the kedacore `keda` chart: the operator's service account carries its IRSA
    role (`podIdentity.aws.irsa`), from which it assumes a tenant's workload role to read that
    tenant's queue depth. Pods run `restricted`, restated so the plan shows it. In production
    two operator replicas (one leader) and two metrics servers."""
    replicas = 2 if production else 1
    container = {
        **AUTOSCALER_CONTAINER,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    return {
        "podIdentity": {"aws": {"irsa": {"enabled": True, "roleArn": role_arn}}},
        "operator": {"replicaCount": replicas},
        "metricsServer": {"replicaCount": replicas},
        "webhooks": {"replicaCount": replicas},
        "securityContext": {part: container for part in ("operator", "metricServer", "webhooks")},
        "podSecurityContext": {part: pod for part in ("operator", "metricServer", "webhooks")},
        "resources": {
            "operator": resources("100m", "200Mi", "500m"),
            "metricServer": resources("100m", "200Mi", "500m"),
            "webhooks": resources("50m", "100Mi", "200m"),
        },
    }


def metrics_server_values(production: bool) -> dict[str, Any]:
    """Values of the kubernetes-sigs `metrics-server` chart: its image is the chart's appVersion.
    In production two replicas serve the Metrics API behind a PodDisruptionBudget, so a node
    drain never leaves the HPAs blind."""
    replicas = 2 if production else 1
    return {
        "replicas": replicas,
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "serviceAccount": {"create": True, "name": METRICS_SERVER},
        "resources": resources("100m", "200Mi", "500m"),
        "securityContext": METRICS_SERVER_CONTAINER,
    }


def cluster_autoscaler_values(
    context: ClusterContext, config: ClusterAutoscalerConfig, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """Values of the kubernetes `cluster-autoscaler` chart.

    Auto-discovery finds the Auto Scaling groups carrying both EKS tags, so a node group added to
    the stack is scaled without touching this chart. The region is passed in because the nodes'
    IMDS hop limit of 1 hides the instance metadata from pods. In production two replicas share a
    leader lease (one acts, one waits) behind a PodDisruptionBudget.

    Scale-down choices, against the autoscaler's defaults: nodes that host kube-system pods
    (CoreDNS, the EBS CSI controller; both covered by PodDisruptionBudgets) or pods with emptyDir
    scratch space (most platform charts) may still be drained, or nearly no node would ever be
    removed. Similar node groups are balanced, so capacity stays spread across zones.
    """
    replicas = 2 if context.production else 1
    return {
        "cloudProvider": "aws",
        "awsRegion": context.region,
        "autoDiscovery": {
            "clusterName": context.cluster_name,
            "tags": [
                "k8s.io/cluster-autoscaler/enabled",
                ownership_tag(context.cluster_name),
            ],
        },
        "image": {
            "repository": versions.CLUSTER_AUTOSCALER_IMAGE,
            "tag": versions.CLUSTER_AUTOSCALER[context.kubernetes_version],
        },
        "fullnameOverride": CLUSTER_AUTOSCALER,
        "rbac": {
            "create": True,
            "serviceAccount": {
                "create": True,
                "name": CLUSTER_AUTOSCALER,
                "annotations": irsa_annotation(role_arn),
            },
        },
        "replicaCount": replicas,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "resources": resources("100m", "600Mi", "500m"),
        "securityContext": AUTOSCALER_POD,
        "containerSecurityContext": AUTOSCALER_CONTAINER,
        "extraArgs": {
            "expander": config.expander,
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
            "skip-nodes-with-local-storage": False,
        },
    }
