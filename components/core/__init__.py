"""Core services: what every team relies on, installed on the secure cluster, each switchable.

The services install in parallel, each after exactly what it needs (never after a whole
component: that waits for every resource in it and serialises `pulumi up`):

- the AWS Load Balancer Controller's release first: its webhook admits every Service in the
  cluster and fails closed, so a Service created before the controller is ready is rejected.
  Every chart here creates Services, so every other release depends on this one release;
- Argo CD also after its SSO client secret (an ExternalSecret, which needs the External Secrets
  release for its CRD and webhook, and the ClusterSecretStore it reads through); the portal
  likewise after its GitHub secret, and its chart after its RDS instance (it is given the
  instance's address);
- Kyverno needs nothing but the load balancer controller: its baseline policies exclude the
  platform namespaces, so they admit the platform's charts whenever they arrive, and its
  ClusterPolicies wait only for the Kyverno release (CRDs and webhook). What must come after
  the policies is tenants' workloads (so they are admitted by them): `admission_policies`.

The releases and resources the layers above depend on are exposed as plain attributes (None or
empty when the service is off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import CoreConfig, MailServerConfig, NodeAutoscaler
from components.core import (
    autoscaling,
    certificates,
    external_dns,
    gateway,
    gitops,
    load_balancer,
    observability,
    opencost,
    policy,
    portal,
    secrets,
    tracing,
)
from components.core.base import ClusterContext
from components.core.ingress_hosts import TenantHosts


def platform_namespaces(config: CoreConfig) -> list[str]:
    """The namespaces the enabled core services own: reserved for the platform, never tenants'."""
    enabled = [
        (config.ingress.enabled, load_balancer.NAMESPACES),
        (config.cert_manager.enabled, certificates.NAMESPACES),
        (bool(config.external_dns.enabled), external_dns.NAMESPACES),
        (config.observability.enabled, observability.NAMESPACES),
        (config.secrets.enabled, secrets.NAMESPACES),
        (config.policy.enabled, policy.NAMESPACES),
        (config.gitops.enabled, gitops.NAMESPACES),
        (config.autoscaling.enabled, autoscaling.NAMESPACES),
        (config.tracing.enabled, tracing.NAMESPACES),
        (config.portal.enabled, portal.NAMESPACES),
        (config.cost.enabled and config.observability.enabled, opencost.NAMESPACES),
    ]
    return sorted({ns for on, namespaces in enabled if on for ns in namespaces})


@dataclass(frozen=True)
class CoreServicesArgs:
    context: ClusterContext
    config: CoreConfig
    # Platform namespaces of the layers above (the rollout controller's), as plain names: the
    # secrets store serves them and the baseline policies skip them, as for core's own.
    extra_platform_namespaces: tuple[str, ...] = ()
    # Each tenant's namespaces and approved host names, as plain data: admission holds tenants'
    # Ingresses to them.
    tenant_hosts: tuple[TenantHosts, ...] = ()
    # Images the layers above inject into tenants' pods (the flagd sidecar), as plain names:
    # the registry rule admits them as pinned.
    injected_images: tuple[str, ...] = ()
    # Who may change platform objects in tenants' namespaces.
    identities: policy.PlatformIdentities = policy.PlatformIdentities()
    # The SMTP server of every `email` alert receiver (paved-road:insights.email).
    mail_server: Optional[MailServerConfig] = None
    # Where the portal's database goes and whom it admits (paved-road:core.portal).
    private_subnet_ids: Optional[pulumi.Input[list[str]]] = None
    data_store_cidrs: tuple[str, ...] = ()
    cluster_security_group_id: Optional[pulumi.Input[str]] = None
    # paved-road:cluster.autoscaling: which node autoscaler the autoscaling service runs.
    node_autoscaler: NodeAutoscaler = "cluster-autoscaler"
    # The tenants' Gateway (Envoy Gateway), which the Flagger release engine routes on.
    gateway: bool = False


class CoreServices(pulumi.ComponentResource):
    platform_namespaces: list[str]
    ingress_class_name: Optional[str]
    cluster_issuer_name: Optional[str]
    prometheus_url: Optional[str]
    cluster_secret_store_name: Optional[str]
    monitoring_namespace: Optional[str]
    # Grafana runs with its dashboard sidecar; Fluent Bit's container log group (None: off).
    grafana_dashboards: bool
    container_log_group: Optional[str]
    # The OpenTelemetry collector's OTLP endpoint and namespace (None: tracing off).
    otlp_endpoint: Optional[str]
    tracing_namespace: Optional[str]
    gitops_namespace: Optional[str]
    # The AWS Load Balancer Controller's release: whatever creates a Service or an Ingress
    # depends on it (its webhooks fail closed).
    load_balancer_controller: Optional[pulumi.Resource]
    # kube-prometheus-stack's release: the Prometheus Operator's CRDs (ServiceMonitor, …).
    prometheus_operator: Optional[pulumi.Resource]
    # The External Secrets Operator's release (SecretStore/ExternalSecret CRDs and webhook) and
    # the platform's ClusterSecretStore.
    external_secrets: Optional[pulumi.Resource]
    cluster_secret_store: Optional[pulumi.Resource]
    # KEDA's release (its CRDs) and its operator's IRSA role (None: autoscaling or KEDA off).
    keda: Optional[pulumi.Resource]
    keda_role_arn: Optional[pulumi.Output[str]]
    # Argo CD's release: the AppProject CRD.
    argo_cd: Optional[pulumi.Resource]
    # Kyverno's ClusterPolicies: tenants' workloads are created after them.
    admission_policies: list[pulumi.Resource]
    # Kyverno's release (its CRDs and webhook), for policies the layers above add; None: off.
    admission_engine: Optional[pulumi.Resource]
    # The developer portal's address (None: off).
    portal_url: Optional[str]
    # The tenants' Gateway: what a Canary's `service.gatewayRefs` names, and the Gateway
    # resource apps' routes attach to (None: no Gateway).
    gateway_ref: Optional[dict[str, str]]
    gateway: Optional[pulumi.Resource]
    gateway_namespace: Optional[str]
    # OpenCost's allocation API (None: off); its metrics are in Prometheus.
    opencost_url: Optional[str]
    # cert-manager's release (None: off): what needs its CRDs and webhook waits for it.
    cert_manager: Optional[pulumi.Resource]

    def __init__(
        self, name: str, args: CoreServicesArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:CoreServices", name, None, opts)
        context, config = args.context, args.config
        self.platform_namespaces = sorted(
            {*platform_namespaces(config), *args.extra_platform_namespaces}
        )
        child = pulumi.ResourceOptions(parent=self)
        self.ingress_class_name = self.cluster_issuer_name = None
        self.cert_manager = None
        self.prometheus_url = self.cluster_secret_store_name = None
        # Where tenants' Prometheus scrapes come from and where their Argo CD projects live.
        self.monitoring_namespace = (
            observability.NAMESPACES[0] if config.observability.enabled else None
        )
        self.gitops_namespace = gitops.NAMESPACES[0] if config.gitops.enabled else None
        observed = config.observability
        self.grafana_dashboards = observed.enabled and observed.grafana
        self.container_log_group = (
            observability.container_log_group_name(context.cluster_name)
            if observed.enabled and observed.logs.enabled
            else None
        )
        self.load_balancer_controller = self.prometheus_operator = None
        self.otlp_endpoint = self.tracing_namespace = None
        self.external_secrets = self.cluster_secret_store = self.argo_cd = None
        self.admission_policies = []
        self.keda = self.keda_role_arn = None
        self.admission_engine = None
        self.portal_url = None
        self.opencost_url = None
        self.gateway_ref = self.gateway = self.gateway_namespace = None

        # Every chart below creates Services: each waits for the controller's release.
        services_admitted: list[pulumi.Resource] = []
        if config.ingress.enabled:
            controller = load_balancer.LoadBalancerController(
                "ingress", load_balancer.LoadBalancerControllerArgs(context, config.ingress), child
            )
            self.ingress_class_name = controller.ingress_class_name
            self.load_balancer_controller = controller.release
            services_admitted.append(controller.release)
        after_ingress = pulumi.ResourceOptions(parent=self, depends_on=services_admitted)

        if config.cert_manager.enabled:
            manager = certificates.CertManager(
                "cert-manager",
                certificates.CertManagerArgs(context, config.cert_manager, list(config.dns.zones)),
                after_ingress,
            )
            self.cluster_issuer_name = manager.cluster_issuer_name
            self.cert_manager = manager.release
            if args.gateway:
                assert manager.cluster_issuer_name, "config.py: the Gateway needs an issuer"
                tenants_gateway = gateway.TenantGateway(
                    "gateway",
                    gateway.GatewayArgs(
                        context,
                        args.tenant_hosts,
                        manager.cluster_issuer_name,
                        manager.cluster_issuer,
                    ),
                    after_ingress,
                )
                self.gateway_ref = tenants_gateway.gateway_ref
                self.gateway = tenants_gateway.gateway
                self.gateway_namespace = tenants_gateway.namespace
        if config.external_dns.enabled:
            external_dns.ExternalDns(
                "external-dns",
                external_dns.ExternalDnsArgs(
                    context,
                    config.external_dns,
                    list(config.dns.zones),
                    gateway=(
                        (gateway.GATEWAY_NAME, gateway.NAMESPACE)
                        if self.gateway_ref is not None
                        else None
                    ),
                ),
                after_ingress,
            )
        if config.observability.enabled:
            monitoring = observability.Observability(
                "observability",
                observability.ObservabilityArgs(
                    context,
                    config.observability,
                    tuple(self.platform_namespaces),
                    mail_server=args.mail_server,
                ),
                after_ingress,
            )
            self.prometheus_url = monitoring.prometheus_url
            self.prometheus_operator = monitoring.release
            if config.cost.enabled:
                # Its ServiceMonitor needs the operator's CRD; its Service, the controller.
                self.opencost_url = opencost.OpenCost(
                    "opencost",
                    opencost.OpenCostArgs(context, prometheus_operator=monitoring.release),
                    after_ingress,
                ).api_url
        if config.tracing.enabled:
            collector = tracing.Tracing(
                "tracing", tracing.TracingArgs(context, config.tracing), after_ingress
            )
            self.otlp_endpoint = collector.otlp_endpoint
            self.tracing_namespace = tracing.TRACING
        if config.secrets.enabled:
            store = secrets.SecretsService(
                "secrets",
                secrets.SecretsArgs(context, config.secrets, self.platform_namespaces),
                after_ingress,
            )
            self.cluster_secret_store_name = store.cluster_secret_store_name
            self.external_secrets = store.release
            self.cluster_secret_store = store.cluster_secret_store
        if config.autoscaling.enabled:
            scaling = autoscaling.Autoscaling(
                "autoscaling",
                autoscaling.AutoscalingArgs(
                    context,
                    config.autoscaling,
                    node_autoscaler=args.node_autoscaler,
                    cluster_security_group_id=args.cluster_security_group_id,
                ),
                after_ingress,
            )
            self.keda, self.keda_role_arn = scaling.keda, scaling.keda_role_arn
        if config.gitops.enabled:
            # With SSO, Argo CD's client secret arrives through the secrets service: its
            # ExternalSecret needs that release (CRD, webhook) and the store. The chart itself
            # needs the controller (Services).
            secrets_ready = [
                r
                for r in (self.external_secrets, self.cluster_secret_store)
                if r is not None and config.gitops.sso is not None
            ]
            self.argo_cd = gitops.GitOps(
                "gitops",
                gitops.GitOpsArgs(
                    context,
                    config.gitops,
                    self.cluster_secret_store_name,
                    ingress_class_name=self.ingress_class_name,
                    dns_zones=config.dns.zone_ids,
                ),
                pulumi.ResourceOptions(
                    parent=self, depends_on=[*services_admitted, *secrets_ready]
                ),
            ).release
        if config.portal.enabled:
            # Its GitHub secrets arrive through the secrets service (CRD, webhook, store); the
            # chart needs the controller (its Service and Ingress).
            assert self.cluster_secret_store_name and self.ingress_class_name, "config.py"
            self.portal_url = portal.Portal(
                "portal",
                portal.PortalArgs(
                    context,
                    config.portal,
                    self.cluster_secret_store_name,
                    self.ingress_class_name,
                    dns_zones=config.dns.zone_ids,
                    external_secrets=self.external_secrets,
                    private_subnet_ids=args.private_subnet_ids,
                    data_store_cidrs=args.data_store_cidrs,
                    cluster_security_group_id=args.cluster_security_group_id,
                ),
                pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[
                        *services_admitted,
                        *filter(None, [self.external_secrets, self.cluster_secret_store]),
                    ],
                ),
            ).url
        if config.policy.enabled:
            engine = policy.PolicyEngine(
                "policy",
                policy.PolicyArgs(
                    context,
                    config.policy,
                    self.platform_namespaces,
                    identities=args.identities,
                    external_secrets=self.external_secrets,
                    tenant_hosts=args.tenant_hosts,
                    injected_images=args.injected_images,
                ),
                after_ingress,
            )
            self.admission_policies = list(engine.policies)
            self.admission_engine = engine.release
        self.register_outputs(
            {
                "platformNamespaces": self.platform_namespaces,
                "ingressClassName": self.ingress_class_name,
                "clusterIssuerName": self.cluster_issuer_name,
                "prometheusUrl": self.prometheus_url,
                "clusterSecretStoreName": self.cluster_secret_store_name,
                "otlpEndpoint": self.otlp_endpoint,
                "portalUrl": self.portal_url,
                "opencostUrl": self.opencost_url,
            }
        )
