"""DNS: external-dns publishes the hostnames of the platform's Ingresses into Route 53.

It publishes only names the platform approved: Ingresses carrying the platform's
`paved-road/external-dns: publish` annotation (`annotationFilter`, set on app Ingresses and Argo
CD's), their rules' and TLS hosts only (`--ignore-hostname-annotation`), no Services. The
annotation alone proves nothing, since a tenant with `edit` can write it; what holds the names is
config.py (an app's host lies under `*.<tenant>.<zone>` or is granted by the stack, and is unique)
and Kyverno's `restrict-ingress-hosts`, which admits in a tenant's namespaces only Ingresses whose
hosts are that tenant's approved names.

It sees only the configured hosted zones, twice over: the chart's `domainFilters` and one
`--zone-id-filter` per zone keep it from even listing records elsewhere, and its IRSA role may read
and write records in those zones' ARNs and nowhere else (`route53:ListHostedZones` cannot be
scoped to a resource, so it stays on `*`). Every record it writes is claimed by a TXT record owned
by this environment (`txtOwnerId`), so two clusters sharing a zone never delete each other's
records, and the default policy `upsert-only` never deletes at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi

from components.config import ExternalDnsConfig, HostedZoneConfig
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
from components.kubernetes import DNS_PUBLISH
from components.versions import CHARTS

NAMESPACES = ("external-dns",)
NAMESPACE = NAMESPACES[0]
SERVICE_ACCOUNT = "external-dns"
# Ingresses only: the platform names nothing through Services, and a Service's name would come
# from an annotation any tenant with `edit` can write.
SOURCES = ("ingress",)
# Label-selector syntax over annotations (`--annotation-filter`): only the platform's Ingresses.
ANNOTATION_FILTER = ",".join(f"{key}={value}" for key, value in sorted(DNS_PUBLISH.items()))

# The chart's defaults (already `restricted`), restated so the plan shows them.
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "fsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "privileged": False,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "capabilities": {"drop": ["ALL"]},
}


def hosted_zone_arn(zone_id: str) -> str:
    return f"arn:aws:route53:::hostedzone/{zone_id}"


def route53_policy(zones: Sequence[HostedZoneConfig]) -> str:
    """The policy of external-dns's AWS tutorial, with `hostedzone/*` narrowed to the zones."""
    return policy_document(
        allow(
            [
                "route53:ChangeResourceRecordSets",
                "route53:ListResourceRecordSets",
                "route53:ListTagsForResources",
            ],
            [hosted_zone_arn(zone.id) for zone in zones],
            Sid="ManageRecordsInConfiguredZones",
        ),
        allow(["route53:ListHostedZones"], ["*"], Sid="ListHostedZones"),
    )


@dataclass(frozen=True)
class ExternalDnsArgs:
    context: ClusterContext
    config: ExternalDnsConfig
    zones: list[HostedZoneConfig]
    # The tenants' Gateway (name, namespace), when there is one: its HTTPRoutes are published
    # too (components/core/gateway.py).
    gateway: Optional[tuple[str, str]] = None


class ExternalDns(pulumi.ComponentResource):

    def __init__(
        self, name: str, args: ExternalDnsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:ExternalDns", name, None, opts)
        context, config, zones = args.context, args.config, args.zones

        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        role = service_role(
            f"{name}-route53",
            context,
            role_suffix="external-dns",
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=route53_policy(zones),
            parent=self,
        )
        helm_release(
            f"{name}-release",
            CHARTS["external-dns"],
            namespace=namespace.metadata.name,
            values=chart_values(context, config, zones, role.arn, args.gateway),
            parent=self,
            provider=context.provider,
            depends_on=ordered_after(opts),
        )
        self.register_outputs({"roleArn": role.arn})


def chart_values(
    context: ClusterContext,
    config: ExternalDnsConfig,
    zones: Sequence[HostedZoneConfig],
    role_arn: pulumi.Input[str],
    gateway: Optional[tuple[str, str]] = None,
) -> dict[str, Any]:
    """Values of the kubernetes-sigs `external-dns` chart. It runs one replica on purpose:
    external-dns has no leader election, and two instances would race on the same records
    (so there is no PodDisruptionBudget either). The region is set explicitly because the
    nodes' IMDS hop limit of 1 hides the instance metadata from pods.

    With the tenants' Gateway it also publishes HTTPRoutes (`gateway-httproute`), only those
    carrying the platform's annotation (Flagger copies it from the Canary's apex metadata) and
    attached to that one Gateway, whose listeners admit a tenant's routes for its own approved
    hosts only: external-dns publishes a route's hostnames where a listener accepted it."""
    sources = [*SOURCES, *(["gateway-httproute"] if gateway is not None else [])]
    gateway_args = (
        [f"--gateway-name={gateway[0]}", f"--gateway-namespace={gateway[1]}"] if gateway else []
    )
    return {
        "provider": {"name": "aws"},
        "sources": sources,
        "policy": config.policy,
        "registry": "txt",
        "txtOwnerId": context.prefix,
        "domainFilters": [zone.domain for zone in zones],
        "annotationFilter": ANNOTATION_FILTER,
        "extraArgs": [
            *(f"--zone-id-filter={zone.id}" for zone in zones),
            # Names come from an Ingress's rules and TLS hosts (which Kyverno holds to the
            # tenant's approved names), never from its `external-dns.alpha.kubernetes.io/hostname`
            # annotation, which would publish any name past that check.
            "--ignore-hostname-annotation",
            *gateway_args,
        ],
        "env": [{"name": "AWS_DEFAULT_REGION", "value": context.region}],
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": irsa_annotation(role_arn),
        },
        "resources": resources("50m", "128Mi", "200m"),
        "podSecurityContext": RESTRICTED_POD,
        "securityContext": RESTRICTED_CONTAINER,
    }
