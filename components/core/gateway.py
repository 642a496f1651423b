"""The tenants' Gateway: Envoy Gateway, where Flagger shifts traffic when it is the release engine.

Flagger has no AWS Load Balancer Controller provider, so with `paved-road:delivery.engine:
flagger` apps are served through the Gateway API (Flagger's `gatewayapi:v1` provider writes the
weights of each app's HTTPRoute) on Envoy Gateway, pinned in components/versions.py at the release
built on Gateway API v1.6.1. The pieces:

- Envoy Gateway's controller (chart `gateway-helm`, which also installs the Gateway API CRDs) in
  its own platform namespace, non-root, two replicas in production;
- an `EnvoyProxy` describing the data plane: Envoy pods in the same namespace, behind a Network
  Load Balancer the AWS Load Balancer Controller creates from the Service annotations
  (internet-facing, traffic straight to pod IPs, tagged like every platform AWS resource);
- one GatewayClass and one Gateway, `tenants`, with an HTTPS listener per approved tenant host.
  A listener admits HTTPRoutes only from its tenant's namespaces (`allowedRoutes` by the tenant
  label, which only the platform sets on namespaces), so a route can serve only its own tenant's
  names: a route naming another tenant's host attaches to no listener that would serve it. Port
  80 only redirects to HTTPS (a route of the platform's, the only one its listener admits);
- TLS terminated by Envoy with a certificate per tenant that cert-manager issues from the
  platform's ClusterIssuer (DNS-01 in Route 53), stored beside the Gateway: no private key ever
  leaves the gateway's namespace, and no tenant can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.core.base import (
    RESTRICTED_CONTAINER,
    ClusterContext,
    helm_release,
    ordered_after,
    platform_namespace,
    resources,
)
from components.core.ingress_hosts import TenantHosts
from components.kubernetes import MANAGED_BY_LABELS, TENANT_LABEL
from components.versions import CHARTS

NAMESPACES = ("envoy-gateway-system",)
NAMESPACE = NAMESPACES[0]
CHART = CHARTS["gateway-helm"]
GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
CERTIFICATE_API = "cert-manager.io/v1"
# The controller name Envoy Gateway's default configuration watches (chart value
# `config.envoyGateway.gateway.controllerName`).
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
GATEWAY_CLASS = "paved-road"
GATEWAY_NAME = "tenants"
ENVOY_PROXY = "tenants"
HTTPS_PORT = 443
HTTP_PORT = 80
# Plain HTTP exists only to redirect to HTTPS, as on the platform's ALBs.
REDIRECT_LISTENER = "http-redirect"
REDIRECT_ROUTE = "https-redirect"
# The images' own non-root user (the chart's `runAsUser` for the controller; Envoy's image).
CONTROLLER_USER = 65532
ENVOY_USER = 65532
SERVICE_ANNOTATION = "service.beta.kubernetes.io"


@dataclass(frozen=True)
class GatewayArgs:
    context: ClusterContext
    # Each tenant's namespaces and approved hosts: one listener per host.
    tenant_hosts: tuple[TenantHosts, ...]
    # The ClusterIssuer every listener's certificate comes from, and the resource to wait for.
    cluster_issuer_name: str
    cluster_issuer: Optional[pulumi.Resource] = None


def listener_name(tenant: str, index: int) -> str:
    return f"{tenant}-{index}"


def certificate_secret(tenant: str) -> str:
    return f"tenant-{tenant}-tls"


def chart_values(production: bool) -> dict[str, Any]:
    """Values of `gateway-helm` (values.tmpl.yaml at the pinned tag): the controller's own
    resources, security contexts (the chart's defaults, restated so the plan shows them) and, in
    production, two replicas behind a disruption budget. The chart's crds subchart installs the
    Gateway API and Envoy Gateway CRDs."""
    replicas = 2 if production else 1
    pod_security = {
        "runAsNonRoot": True,
        "runAsUser": CONTROLLER_USER,
        "runAsGroup": CONTROLLER_USER,
        "fsGroup": CONTROLLER_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container_security = {
        **RESTRICTED_CONTAINER,
        "privileged": False,
        "runAsUser": CONTROLLER_USER,
        "runAsGroup": CONTROLLER_USER,
    }
    return {
        "crds": {"enabled": True},
        "deployment": {
            "replicas": replicas,
            "envoyGateway": {
                "resources": resources("100m", "256Mi", "500m"),
                "securityContext": container_security,
            },
            "pod": {"securityContext": pod_security},
        },
        "podDisruptionBudget": {"minAvailable": 1 if replicas > 1 else 0},
        "certgen": {
            "job": {
                "resources": resources("50m", "64Mi", "200m"),
                "securityContext": container_security,
                "pod": {"securityContext": pod_security},
            }
        },
    }


def load_balancer_annotations(tags: dict[str, str]) -> dict[str, str]:
    """An internet-facing NLB from the AWS Load Balancer Controller (its Service annotations,
    docs/guide/service/annotations.md), forwarding TCP 443 to the Envoy pods' IPs; TLS ends at
    Envoy, which holds the tenants' certificates."""
    return {
        f"{SERVICE_ANNOTATION}/aws-load-balancer-type": "external",
        f"{SERVICE_ANNOTATION}/aws-load-balancer-scheme": "internet-facing",
        f"{SERVICE_ANNOTATION}/aws-load-balancer-nlb-target-type": "ip",
        f"{SERVICE_ANNOTATION}/aws-load-balancer-additional-resource-tags": ",".join(
            f"{key}={tags[key]}" for key in sorted(tags)
        ),
    }


def envoy_proxy_spec(production: bool, tags: dict[str, str]) -> dict[str, Any]:
    """The data plane: Envoy pods with requests and limits, non-root, two in production behind a
    disruption budget, exposed by a LoadBalancer Service the controller turns into an NLB."""
    replicas = 2 if production else 1
    kubernetes: dict[str, Any] = {
        "envoyDeployment": {
            "replicas": replicas,
            "container": {
                "resources": resources("100m", "256Mi", "1"),
                # Envoy Gateway's own default for the container, stated so the plan shows it:
                # `restricted`, except a writable root filesystem, where Envoy writes its log
                # file and admin socket (internal/infrastructure/kubernetes/proxy/resource.go).
                "securityContext": {
                    **RESTRICTED_CONTAINER,
                    "readOnlyRootFilesystem": False,
                    "privileged": False,
                    "runAsUser": ENVOY_USER,
                    "runAsGroup": ENVOY_USER,
                },
            },
            "pod": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": ENVOY_USER,
                    "runAsGroup": ENVOY_USER,
                    "seccompProfile": {"type": "RuntimeDefault"},
                }
            },
        },
        "envoyService": {
            "type": "LoadBalancer",
            "annotations": load_balancer_annotations(tags),
        },
    }
    if replicas > 1:
        kubernetes["envoyPDB"] = {"minAvailable": 1}
    return {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}}


def listeners(tenants: Sequence[TenantHosts]) -> list[dict[str, Any]]:
    """An HTTPS listener per approved host, admitting routes from its tenant's namespaces only;
    and port 80, admitting only the platform's redirect to HTTPS from the Gateway's namespace."""
    found: list[dict[str, Any]] = [
        {
            "name": REDIRECT_LISTENER,
            "port": HTTP_PORT,
            "protocol": "HTTP",
            "allowedRoutes": {
                "namespaces": {"from": "Same"},
                "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
            },
        }
    ]
    for tenant in sorted(tenants, key=lambda t: t.tenant):
        for index, host in enumerate(tenant.hosts):
            found.append(
                {
                    "name": listener_name(tenant.tenant, index),
                    "hostname": host,
                    "port": HTTPS_PORT,
                    "protocol": "HTTPS",
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [
                            {"kind": "Secret", "name": certificate_secret(tenant.tenant)}
                        ],
                    },
                    "allowedRoutes": {
                        "namespaces": {
                            "from": "Selector",
                            "selector": {"matchLabels": {TENANT_LABEL: tenant.tenant}},
                        },
                        "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                    },
                }
            )
    return found


def redirect_route_spec() -> dict[str, Any]:
    """Every plain-HTTP request, on any host, answered with a permanent redirect to HTTPS."""
    return {
        "parentRefs": [
            {"name": GATEWAY_NAME, "namespace": NAMESPACE, "sectionName": REDIRECT_LISTENER}
        ],
        "rules": [
            {
                "filters": [
                    {
                        "type": "RequestRedirect",
                        "requestRedirect": {"scheme": "https", "statusCode": 301},
                    }
                ]
            }
        ],
    }


class TenantGateway(pulumi.ComponentResource):
    """Envoy Gateway and the `tenants` Gateway; `gateway_ref` is what a Canary's
    `service.gatewayRefs` names."""

    namespace: str
    gateway_ref: dict[str, str]
    # What a tenant's HTTPRoute needs to attach: the Gateway (and the release with its CRDs).
    gateway: pulumi.Resource

    def __init__(
        self, name: str, args: GatewayArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:TenantGateway", name, None, opts)
        context = args.context
        self.namespace = NAMESPACE
        self.gateway_ref = {"name": GATEWAY_NAME, "namespace": NAMESPACE}
        namespace = platform_namespace(
            f"{name}-namespace", NAMESPACE, parent=self, provider=context.provider
        )
        release = helm_release(
            f"{name}-release",
            CHART,
            namespace=namespace.metadata.name,
            values=chart_values(context.production),
            parent=self,
            provider=context.provider,
            depends_on=[namespace, *ordered_after(opts)],
            release_name="envoy-gateway",
        )
        after_release = pulumi.ResourceOptions(
            parent=self, provider=context.provider, depends_on=[release]
        )
        proxy = k8s.apiextensions.CustomResource(
            f"{name}-envoy-proxy",
            api_version=ENVOY_API,
            kind="EnvoyProxy",
            metadata=self._metadata(ENVOY_PROXY, NAMESPACE),
            spec=envoy_proxy_spec(context.production, context.tags),
            opts=after_release,
        )
        gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-gateway-class",
            api_version=GATEWAY_API,
            kind="GatewayClass",
            metadata=self._metadata(GATEWAY_CLASS),
            spec={
                "controllerName": CONTROLLER_NAME,
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": ENVOY_PROXY,
                    "namespace": NAMESPACE,
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=[release, proxy]
            ),
        )
        certificates = [
            self._certificate(name, context, tenant, args)
            for tenant in sorted(args.tenant_hosts, key=lambda t: t.tenant)
            if tenant.hosts
        ]
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=self._metadata(GATEWAY_NAME, NAMESPACE),
            spec={"gatewayClassName": GATEWAY_CLASS, "listeners": listeners(args.tenant_hosts)},
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=context.provider,
                depends_on=[release, gateway_class, *certificates],
            ),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-https-redirect",
            api_version=GATEWAY_API,
            kind="HTTPRoute",
            metadata=self._metadata(REDIRECT_ROUTE, NAMESPACE),
            spec=redirect_route_spec(),
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=[self.gateway]
            ),
        )
        self.register_outputs(
            {"namespace": self.namespace, "gateway": GATEWAY_NAME, "chartVersion": CHART.version}
        )

    @staticmethod
    def _metadata(name: str, namespace: Optional[str] = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED_BY_LABELS)}
        if namespace is not None:
            metadata["namespace"] = namespace
        return metadata

    def _certificate(
        self, name: str, context: ClusterContext, tenant: TenantHosts, args: GatewayArgs
    ) -> k8s.apiextensions.CustomResource:
        """The tenant's hosts on one certificate, issued into the gateway's namespace."""
        return k8s.apiextensions.CustomResource(
            f"{name}-{tenant.tenant}-certificate",
            api_version=CERTIFICATE_API,
            kind="Certificate",
            metadata=self._metadata(certificate_secret(tenant.tenant), NAMESPACE),
            spec={
                "secretName": certificate_secret(tenant.tenant),
                "dnsNames": list(tenant.hosts),
                "issuerRef": {
                    "name": args.cluster_issuer_name,
                    "kind": "ClusterIssuer",
                    "group": "cert-manager.io",
                },
                "privateKey": {"rotationPolicy": "Always"},
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=context.provider,
                depends_on=list(filter(None, [args.cluster_issuer])),
            ),
        )
