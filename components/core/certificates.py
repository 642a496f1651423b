"""Certificates: cert-manager, and a Let's Encrypt ClusterIssuer that answers DNS-01 in Route 53.

DNS-01 rather than HTTP-01: it works for internal load balancers and wildcard names, and needs no
solver pod reachable from the internet. The challenge records are written by cert-manager's
controller through an IRSA role that may touch only the configured hosted zones, and only their
TXT records; the ClusterIssuer names each zone's id, so no zone is ever looked up by name. The chart
installs and keeps the CRDs, so uninstalling the release never garbage-collects every Certificate
in the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import CertManagerConfig, HostedZoneConfig
from components.core.base import (
    service_role,
    ordered_after,
    ClusterContext,
    helm_release,
    irsa_annotation,
    platform_namespace,
    resources,
)
from components.iam import allow, policy_document
from components.kubernetes import MANAGED_BY_LABELS
from components.versions import CHARTS

NAMESPACES = ("cert-manager",)
NAMESPACE = NAMESPACES[0]
SERVICE_ACCOUNT = "cert-manager"
ISSUER_API_VERSION = "cert-manager.io/v1"
ACME_SERVERS = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}

# The chart's defaults (already `restricted`), restated so the plan shows them.
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}
# cert-manager's Route 53 guide: with IRSA the controller pod needs this group to read the
# projected web-identity token.
IRSA_FS_GROUP = 1001


def hosted_zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def route53_policy(zones: Sequence[HostedZoneConfig]) -> str:
    """cert-manager's documented Route 53 policy, narrowed to the configured zones. Every solver
    names its `hostedZoneID`, so `route53:ListHostedZonesByName` (the guide's zone lookup) is
    never called and is left out."""
    return policy_document(
        allow(["route53:GetChange"], ["arn:aws:route53:::change/*"], Sid="ReadChangeStatus"),
        allow(
            ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"],
            [hosted_zone_arn(zone.id) for zone in zones],
            Sid="WriteChallengeRecords",
            Condition={
                "ForAllValues:StringEquals": {
                    "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]
                }
            },
        ),
    )


@dataclass(frozen=True)
class CertManagerArgs:
    context: ClusterContext
    config: CertManagerConfig
    zones: list[HostedZoneConfig]


class CertManager(pulumi.ComponentResource):
    cluster_issuer_name: Optional[str]
    # The release: what needs cert-manager's CRDs and webhook (Issuers, Certificates) waits for it.
    release: k8s.helm.v3.Release
    # The ClusterIssuer (None: no issuer): what a Certificate naming it waits for.
    cluster_issuer: Optional[pulumi.Resource]

    def __init__(
        self, name: str, args: CertManagerArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:CertManager", name, None, opts)
        context, config = args.context, args.config
        issuer = None if config.issuer == "none" else config.issuer
        self.cluster_issuer_name = issuer

        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        role = self._dns_role(name, context, args.zones) if issuer else None
        release = helm_release(
            f"{name}-release",
            CHARTS["cert-manager"],
            namespace=namespace.metadata.name,
            values=chart_values(
                replicas=2 if context.production else 1,
                role_arn=role.arn if role else None,
            ),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )
        self.release = release
        self.cluster_issuer = None
        if issuer:
            self.cluster_issuer = self._cluster_issuer(
                name, context, config, issuer, args.zones, release
            )
        self.register_outputs(
            {
                "clusterIssuerName": self.cluster_issuer_name,
                "dnsRoleArn": role.arn if role else None,
            }
        )

    def _dns_role(
        self, name: str, context: ClusterContext, zones: Sequence[HostedZoneConfig]
    ) -> aws.iam.Role:
        return service_role(
            f"{name}-dns01",
            context,
            role_suffix="cert-manager",
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=route53_policy(zones),
            parent=self,
        )

    def _cluster_issuer(
        self,
        name: str,
        context: ClusterContext,
        config: CertManagerConfig,
        issuer: str,
        zones: Sequence[HostedZoneConfig],
        release: pulumi.Resource,
    ) -> k8s.apiextensions.CustomResource:
        """One DNS-01 solver per zone, chosen by `selector.dnsZones`. The solvers carry no
        credentials: a ClusterIssuer uses the controller's ambient (IRSA) credentials. It waits
        for the release, which brings the CRD and the webhook that admits it."""
        solvers = [
            {
                "selector": {"dnsZones": [zone.domain]},
                "dns01": {"route53": {"region": context.region, "hostedZoneID": zone.id}},
            }
            for zone in zones
        ]
        return k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version=ISSUER_API_VERSION,
            kind="ClusterIssuer",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer, labels=dict(MANAGED_BY_LABELS)),
            spec={
                "acme": {
                    "server": ACME_SERVERS[issuer],
                    "email": config.acme_email,
                    "privateKeySecretRef": {"name": f"{issuer}-account-key"},
                    "solvers": solvers,
                }
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=[release]
            ),
        )


def chart_values(replicas: int, role_arn: Optional[pulumi.Input[str]]) -> dict[str, Any]:
    """Values of the jetstack `cert-manager` chart. Controller and cainjector elect a leader, so
    extra replicas are standbys; each Deployment gets the chart's PodDisruptionBudget only when
    it has more than one replica (with one, `minAvailable: 1` would block every node drain)."""

    def deployment(cpu: str, memory: str, cpu_limit: str) -> dict[str, Any]:
        return {
            "replicaCount": replicas,
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
            "resources": resources(cpu, memory, cpu_limit),
            "securityContext": dict(RESTRICTED_POD),
            "containerSecurityContext": RESTRICTED_CONTAINER,
        }

    controller = deployment("50m", "128Mi", "200m")
    service_account: dict[str, Any] = {"create": True, "name": SERVICE_ACCOUNT}
    if role_arn is not None:
        service_account["annotations"] = irsa_annotation(role_arn)
        controller["securityContext"]["fsGroup"] = IRSA_FS_GROUP
    return {
        "crds": {"enabled": True, "keep": True},
        # The chart's default lease namespace is kube-system; keep cert-manager's RBAC in its own.
        "global": {"leaderElection": {"namespace": NAMESPACE}},
        "serviceAccount": service_account,
        **controller,
        "webhook": deployment("25m", "64Mi", "100m"),
        "cainjector": deployment("25m", "128Mi", "100m"),
        "startupapicheck": {
            "resources": resources("10m", "32Mi", "100m"),
            "securityContext": RESTRICTED_POD,
            "containerSecurityContext": RESTRICTED_CONTAINER,
        },
    }
