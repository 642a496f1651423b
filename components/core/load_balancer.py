"""Ingress: the AWS Load Balancer Controller turns Ingresses into ALBs and Services into NLBs.

The controller gets the IAM policy its maintainers publish for its release, kept verbatim in
`policies/aws-load-balancer-controller.json` (upstream `docs/install/iam_policy.json` of the pinned
app version): a hand-trimmed copy drifts from what the controller calls and fails later with
AccessDenied on some rarely used path. Nodes answer IMDS with a hop limit of 1, so the controller
cannot discover its cluster, region and VPC from the instance metadata: all three are passed in.
It runs two replicas behind a PodDisruptionBudget, and the chart creates the cluster's one default
IngressClass, so a team's Ingress without `ingressClassName` still gets a load balancer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import IngressConfig
from components.core.base import (
    service_role,
    ordered_after,
    ClusterContext,
    helm_release,
    irsa_annotation,
    platform_namespace,
    resources,
)

from components.versions import CHARTS

NAMESPACES = ("aws-load-balancer-controller",)
NAMESPACE = NAMESPACES[0]
SERVICE_ACCOUNT = "aws-load-balancer-controller"
CONTROLLER = "ingress.k8s.aws/alb"
REPLICAS = 2

POLICY_FILE = Path(__file__).parent / "policies" / "aws-load-balancer-controller.json"
# Parsed once at import: a broken copy fails every plan, not a `pulumi up` halfway through.
IAM_POLICY: dict[str, Any] = json.loads(POLICY_FILE.read_text())

RESTRICTED_POD: dict[str, Any] = {
    "fsGroup": 65534,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
# The chart's default plus what Pod Security `restricted` also asks for (dropped capabilities).
RESTRICTED_CONTAINER: dict[str, Any] = {
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class LoadBalancerControllerArgs:
    context: ClusterContext
    config: IngressConfig


class LoadBalancerController(pulumi.ComponentResource):
    ingress_class_name: str
    # Its webhooks admit every Service (`mservice.elbv2.k8s.aws`) and Ingress of the cluster and
    # fail closed (eks-charts, aws-load-balancer-controller/templates/webhook.yaml): whatever
    # creates one depends on this release, which returns once the controller is ready.
    release: k8s.helm.v3.Release

    def __init__(
        self,
        name: str,
        args: LoadBalancerControllerArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:core:LoadBalancerController", name, None, opts)
        context, config = args.context, args.config
        self.ingress_class_name = config.class_name

        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        role = service_role(
            f"{name}-controller",
            context,
            role_suffix="aws-load-balancer-controller",
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=json.dumps(IAM_POLICY, sort_keys=True),
            parent=self,
        )
        self.release = helm_release(
            f"{name}-controller",
            CHARTS["aws-load-balancer-controller"],
            namespace=namespace.metadata.name,
            values=chart_values(context, config.class_name, role.arn),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )
        self.register_outputs(
            {"ingressClassName": self.ingress_class_name, "controllerRoleArn": role.arn}
        )


def chart_values(
    context: ClusterContext, class_name: str, role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """Values of the eks-charts `aws-load-balancer-controller` chart.

    The chart's own IngressClass is the only one (`createIngressClassResource`), named from
    config and marked default (`ingressClassConfig.default` sets the
    `ingressclass.kubernetes.io/is-default-class` annotation); its IngressClassParams comes with
    it. The chart makes a PodDisruptionBudget only when `podDisruptionBudget` is non-empty and
    there is more than one replica.
    """
    return {
        "clusterName": context.cluster_name,
        "region": context.region,
        "vpcId": context.vpc_id,
        "replicaCount": REPLICAS,
        "podDisruptionBudget": {"maxUnavailable": 1},
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": irsa_annotation(role_arn),
        },
        "resources": resources("100m", "256Mi", "500m"),
        "podSecurityContext": RESTRICTED_POD,
        "securityContext": RESTRICTED_CONTAINER,
        "createIngressClassResource": True,
        "ingressClass": class_name,
        "ingressClassConfig": {"default": True},
    }
