"""Default-deny NetworkPolicies for the platform's own namespaces, with the openings each needs.

Every platform namespace (one `platform_namespace` creates) gets the same frame as a tenant's:
`default-deny` for ingress and egress, then named openings. The VPC CNI's network policy agent
(on in cluster.py) enforces them. Common to all:

- `allow-dns`: CoreDNS in kube-system, UDP and TCP 53.
- `allow-kube-api`: the Kubernetes API, TCP 443, to the private address ranges. On EKS the API
  server is not a pod: its endpoint's network interfaces sit in the VPC's subnets, and the
  `kubernetes` Service's cluster IP is private too; neither address is known when the plan is
  made (an existing VPC's range is not in the config), so the private ranges stand in for them.
- `allow-same-namespace`: a service's components talk to each other (Argo CD's server, repo
  server and Redis; Grafana and Prometheus), and Helm hook jobs to their controllers.
- `allow-prometheus`: Prometheus scrapes every namespace's metrics ports.

Then what each namespace's components need, by name, each with why (`OPENINGS`). Where the
exact destination cannot be named — AWS APIs without VPC endpoints, Git hosts, ACME servers —
the opening is the port to anywhere, never every port. Kubelet probes need no opening: the agent
always admits traffic from the pod's own node (aws/aws-network-policy-agent, pull request 65).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import MANAGED_BY_LABELS, TENANT_LABEL

# RFC 1918 plus the shared range EKS custom networking uses for pods: where the cluster's
# control-plane interfaces, nodes and service IPs live, whichever VPC the cluster is in.
PRIVATE_RANGES = ("10.0.0.0/8", "100.64.0.0/10", "172.16.0.0/12", "192.168.0.0/16")
ANYWHERE = "0.0.0.0/0"
MONITORING = "monitoring"


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def namespace_peer(name: str) -> dict[str, Any]:
    """A NetworkPolicy peer: every pod of the namespace `name`."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _private(*ports: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": [{"ipBlock": {"cidr": c}} for c in PRIVATE_RANGES]}
    if ports:
        rule["ports"] = _tcp(*ports)
    return rule


def _anywhere(*ports: int) -> dict[str, Any]:
    return {"to": [{"ipBlock": {"cidr": ANYWHERE}}], "ports": _tcp(*ports)}


@dataclass(frozen=True)
class Openings:
    """What one namespace's pods need besides DNS, the API server and each other."""

    # Ingress from the EKS control plane, which calls admission webhooks and aggregated APIs
    # from its network interfaces in the VPC (so from the private ranges), on the pods' port.
    control_plane_ports: tuple[int, ...] = ()
    # Egress to anywhere on these TCP ports: AWS APIs (no VPC endpoints are assumed), Git hosts,
    # ACME servers, alert receivers.
    internet_ports: tuple[int, ...] = ()
    # Further rules, already in NetworkPolicy form, with a name each.
    ingress: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    egress: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    why: str = ""


# Ports are the charts' defaults at the versions pinned in components/versions.py.
OPENINGS: Mapping[str, Openings] = {
    "aws-load-balancer-controller": Openings(
        # The webhook server's bind port (chart `webhookBindPort`, 9443), behind Service 443.
        control_plane_ports=(9443,),
        internet_ports=(443,),
        why="ELBv2, EC2, ACM, WAF and Shield APIs; webhooks for every Service and Ingress",
    ),
    "cert-manager": Openings(
        # The webhook's `securePort` (10250).
        control_plane_ports=(10250,),
        # 443: ACME servers and Route 53 (DNS-01); 53: the DNS-01 self-check asks the zone's
        # authoritative name servers directly, not the cluster's resolver.
        internet_ports=(443, 53),
        egress={
            "allow-authoritative-dns-udp": {
                "to": [{"ipBlock": {"cidr": ANYWHERE}}],
                "ports": [{"protocol": "UDP", "port": 53}],
            }
        },
        why="ACME, Route 53 and authoritative DNS for DNS-01; its webhook",
    ),
    "external-dns": Openings(internet_ports=(443,), why="Route 53 API"),
    "external-secrets": Openings(
        # The webhook's port (chart `webhook.port`, 10250).
        control_plane_ports=(10250,),
        internet_ports=(443,),
        why="Secrets Manager and STS; its webhook",
    ),
    "kyverno": Openings(
        # The admission controller's and cleanup controller's serving port (9443).
        control_plane_ports=(9443,),
        # Image verification and `imageData` read image manifests from registries.
        internet_ports=(443,),
        why="admission webhooks; image registries",
    ),
    "argocd": Openings(
        # 443 and 22: Git repositories (HTTPS, SSH) and Helm repositories; the SSO issuer.
        internet_ports=(443, 22),
        ingress={
            # The ALB forwards to argocd-server's pods by IP from its interfaces in the VPC's
            # subnets (internal and internet-facing alike), on the server's port 8080.
            "allow-load-balancer": _private(8080),
        },
        why="Git and Helm repositories, SSO; the ALB to argocd-server",
    ),
    "autoscaling": Openings(
        # metrics-server serves the aggregated Metrics API (containerPort 10250) to the API
        # server, and reads each kubelet (10250 on the nodes); KEDA's metrics server serves the
        # External Metrics API (6443) and its admission webhooks listen on 9443.
        control_plane_ports=(10250, 6443, 9443),
        internet_ports=(443,),
        egress={"allow-kubelets": {"to": _private()["from"], "ports": _tcp(10250)}},
        why="Metrics APIs and KEDA's webhooks for the API server; kubelets; AWS APIs",
    ),
    MONITORING: Openings(
        # The operator's admission webhook for PrometheusRules (`tls.internalPort`, 10250).
        control_plane_ports=(10250,),
        # Alertmanager's receivers (Slack, PagerDuty, webhooks) are HTTPS on the internet.
        internet_ports=(443,),
        egress={
            # Prometheus scrapes pods in every namespace, on whatever port they serve metrics.
            "allow-scrape-pods": {"to": [{"namespaceSelector": {}}]},
            # ... and the nodes: kubelet and cAdvisor (10250), node-exporter on the host
            # network (9100).
            "allow-scrape-nodes": {"to": _private()["from"], "ports": _tcp(10250, 9100)},
        },
        ingress={
            # Release analysis: the Argo Rollouts controller queries Prometheus.
            "allow-rollouts-queries": {
                "from": [namespace_peer("argo-rollouts")],
                "ports": _tcp(9090),
            },
            # Cost allocation: OpenCost reads usage from Prometheus.
            "allow-opencost-queries": {
                "from": [namespace_peer("opencost")],
                "ports": _tcp(9090),
            },
        },
        why="scraping every namespace and node; alert receivers; its webhook",
    ),
    # Fluent Bit ships to CloudWatch Logs and reads pod metadata from the API server.
    "logging": Openings(internet_ports=(443,), why="CloudWatch Logs"),
    "argo-rollouts": Openings(
        egress={
            # Analysis queries (the prometheus provider).
            "allow-prometheus-queries": {
                "to": [namespace_peer(MONITORING)],
                "ports": _tcp(9090),
            },
        },
        why="analysis queries to Prometheus",
    ),
    "backstage": Openings(
        # GitHub over HTTPS: the catalog's files, the organisation's users and teams, pull
        # requests the software templates open, and the OAuth sign-in's token exchange. Its
        # database (RDS, in the private subnets) is opened by components/core/portal.py, which
        # knows the subnets.
        internet_ports=(443,),
        ingress={
            # The ALB forwards to Backstage's pods by IP from its interfaces in the VPC's
            # subnets, on the backend's port (the chart's `containerPorts.backend`, 7007).
            "allow-load-balancer": _private(7007),
        },
        why="GitHub (catalog, org data, pull requests, sign-in); the ALB to Backstage",
    ),
    "opencost": Openings(
        # AWS's public price list (pricing.us-east-1.amazonaws.com) and spot price feed, HTTPS.
        internet_ports=(443,),
        egress={
            # Usage and allocation queries (kube-state-metrics, cAdvisor series).
            "allow-prometheus-queries": {
                "to": [namespace_peer(MONITORING)],
                "ports": _tcp(9090),
            },
        },
        why="queries to Prometheus; AWS's public price list",
    ),
    "tracing": Openings(
        # AWS X-Ray (and STS for the IRSA role) over HTTPS.
        internet_ports=(443,),
        ingress={
            # Apps in tenants' namespaces (every namespace a tenant owns carries its tenant
            # label) send spans over OTLP gRPC and HTTP.
            "allow-otlp-from-tenants": {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
                        }
                    }
                ],
                "ports": _tcp(4317, 4318),
            },
        },
        why="OTLP from tenants' apps; AWS X-Ray",
    ),
    "envoy-gateway-system": Openings(
        # The topology injector's webhook on the controller (chart
        # envoy-proxy-topology-injector-webhook.yaml, port 9443).
        control_plane_ports=(9443,),
        ingress={
            # The NLB forwards to the Envoy pods by IP from its interfaces in the VPC's subnets,
            # on the container ports of listeners 443 and 80 (Envoy Gateway shifts ports below
            # 1024 by 10000: internal/gatewayapi/translator.go, `wellKnownPortShift`).
            "allow-load-balancer": _private(10443, 10080),
        },
        egress={
            # Envoy forwards to the apps' pods in tenants' namespaces (each carries its tenant
            # label), on whatever port the app serves.
            "allow-tenant-apps": {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
                        }
                    }
                ]
            },
        },
        why="the NLB to Envoy; Envoy to tenants' apps; the topology webhook",
    ),
    "flagger-system": Openings(
        # Alert providers: Slack's incoming webhooks over HTTPS.
        internet_ports=(443,),
        egress={
            # MetricTemplates' queries to the platform's Prometheus.
            "allow-prometheus-queries": {
                "to": [namespace_peer(MONITORING)],
                "ports": _tcp(9090),
            },
        },
        why="analysis queries to Prometheus; Slack alert providers",
    ),
}

# Analysis providers that answer from the internet (Datadog, New Relic APIs over HTTPS).
ROLLOUTS_INTERNET = Openings(
    internet_ports=(443,),
    egress=OPENINGS["argo-rollouts"].egress,
    why="analysis queries to Prometheus or the provider's API",
)


def with_release_notifications(openings: Openings) -> Openings:
    """The rollout controller's namespace when it posts teams' release notifications to their
    Slack incoming webhooks (components/insight/release_notifications.py): HTTPS to the
    internet, as its own named opening, whatever else the namespace needs."""
    return replace(
        openings,
        egress={**openings.egress, "allow-release-notifications": _anywhere(443)},
        why=f"{openings.why}; release notifications to Slack",
    )


def policy_specs(openings: Openings) -> dict[str, dict[str, Any]]:
    """The NetworkPolicy specs of one platform namespace, by policy name."""
    specs: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            **namespace_peer("kube-system"),
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        "allow-kube-api": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": _private()["from"], "ports": _tcp(443)}],
        },
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
            "egress": [{"to": [{"podSelector": {}}]}],
        },
        "allow-prometheus": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            **namespace_peer(MONITORING),
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "prometheus"}
                            },
                        }
                    ]
                }
            ],
        },
    }
    if openings.control_plane_ports:
        specs["allow-control-plane"] = {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [_private(*openings.control_plane_ports)],
        }
    if openings.internet_ports:
        specs["allow-internet"] = {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [_anywhere(*openings.internet_ports)],
        }
    for name, rule in sorted(openings.ingress.items()):
        specs[name] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]}
    for name, rule in sorted(openings.egress.items()):
        specs[name] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]}
    return specs


def openings_for(namespace: str) -> Openings:
    """The namespace's openings; a platform namespace without an entry is a mistake to stop at."""
    if namespace not in OPENINGS:
        raise KeyError(
            f"platform namespace {namespace!r} has no entry in components/core/"
            "network_policies.py OPENINGS: say what its pods need before creating it"
        )
    return OPENINGS[namespace]


def platform_network_policies(
    name: str,
    namespace: k8s.core.v1.Namespace,
    openings: Openings,
    *,
    parent: pulumi.Resource,
    provider: k8s.Provider,
) -> list[k8s.networking.v1.NetworkPolicy]:
    """The namespace's policies, created right after it: its charts start under them."""
    annotations = {"paved-road/why": openings.why} if openings.why else {}
    return [
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=policy,
                namespace=namespace.metadata.name,
                labels=dict(MANAGED_BY_LABELS),
                annotations=annotations if policy == "default-deny" else None,
            ),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[namespace]),
        )
        for policy, spec in policy_specs(openings).items()
    ]
