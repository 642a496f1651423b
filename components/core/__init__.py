"""Core services: what every team relies on, installed on the secure cluster, each switchable.

Ingress comes first: the AWS Load Balancer Controller registers webhooks for Services, and a
Service created while that webhook has no ready endpoint is rejected — so every other service
waits for it. Kyverno comes last, so its admission policies never block the platform's own charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from components.config import CoreConfig
from components.core import (
    certificates,
    external_dns,
    gitops,
    load_balancer,
    observability,
    policy,
    secrets,
)
from components.core.base import ClusterContext


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
    ]
    return sorted({ns for on, namespaces in enabled if on for ns in namespaces})


@dataclass(frozen=True)
class CoreServicesArgs:
    context: ClusterContext
    config: CoreConfig
    # Platform namespaces of the layers above (the rollout controller's), as plain names: the
    # secrets store serves them and the baseline policies skip them, as for core's own.
    extra_platform_namespaces: tuple[str, ...] = ()


class CoreServices(pulumi.ComponentResource):
    platform_namespaces: list[str]
    ingress_class_name: Optional[str]
    cluster_issuer_name: Optional[str]
    prometheus_url: Optional[str]
    cluster_secret_store_name: Optional[str]
    monitoring_namespace: Optional[str]
    gitops_namespace: Optional[str]
    # The services whose CRDs tenants' custom resources need (SecretStore, AppProject).
    secrets_service: Optional[pulumi.Resource]
    gitops_service: Optional[pulumi.Resource]
    # Brings the Prometheus Operator's CRDs (tenants' ServiceMonitors wait for it).
    monitoring_service: Optional[pulumi.Resource]

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
        self.prometheus_url = self.cluster_secret_store_name = None
        # Where tenants' Prometheus scrapes come from and where their Argo CD projects live.
        self.monitoring_namespace = (
            observability.NAMESPACES[0] if config.observability.enabled else None
        )
        self.gitops_namespace = gitops.NAMESPACES[0] if config.gitops.enabled else None
        self.secrets_service = self.gitops_service = self.monitoring_service = None

        first: list[pulumi.Resource] = []
        installed: list[pulumi.Resource] = []
        if config.ingress.enabled:
            controller = load_balancer.LoadBalancerController(
                "ingress", load_balancer.LoadBalancerControllerArgs(context, config.ingress), child
            )
            self.ingress_class_name = controller.ingress_class_name
            first.append(controller)
            installed.append(controller)
        after_ingress = pulumi.ResourceOptions(parent=self, depends_on=first)

        if config.cert_manager.enabled:
            manager = certificates.CertManager(
                "cert-manager",
                certificates.CertManagerArgs(context, config.cert_manager, list(config.dns.zones)),
                after_ingress,
            )
            self.cluster_issuer_name = manager.cluster_issuer_name
            installed.append(manager)
        if config.external_dns.enabled:
            dns = external_dns.ExternalDns(
                "external-dns",
                external_dns.ExternalDnsArgs(context, config.external_dns, list(config.dns.zones)),
                after_ingress,
            )
            installed.append(dns)
        if config.observability.enabled:
            monitoring = observability.Observability(
                "observability",
                observability.ObservabilityArgs(context, config.observability),
                after_ingress,
            )
            self.prometheus_url = monitoring.prometheus_url
            self.monitoring_service = monitoring
            installed.append(monitoring)
        if config.secrets.enabled:
            store = secrets.SecretsService(
                "secrets",
                secrets.SecretsArgs(context, config.secrets, self.platform_namespaces),
                after_ingress,
            )
            self.cluster_secret_store_name = store.cluster_secret_store_name
            self.secrets_service = store
            installed.append(store)
        if config.gitops.enabled:
            # After the secrets service: Argo CD's SSO client secret arrives through it.
            self.gitops_service = gitops.GitOps(
                "gitops",
                gitops.GitOpsArgs(
                    context,
                    config.gitops,
                    self.cluster_secret_store_name,
                    ingress_class_name=self.ingress_class_name,
                    dns_zones=config.dns.zone_ids,
                ),
                pulumi.ResourceOptions(parent=self, depends_on=list(installed)),
            )
            installed.append(self.gitops_service)
        if config.policy.enabled:
            policy.PolicyEngine(
                "policy",
                policy.PolicyArgs(context, config.policy, self.platform_namespaces),
                pulumi.ResourceOptions(parent=self, depends_on=list(installed)),
            )
        self.register_outputs(
            {
                "platformNamespaces": self.platform_namespaces,
                "ingressClassName": self.ingress_class_name,
                "clusterIssuerName": self.cluster_issuer_name,
                "prometheusUrl": self.prometheus_url,
                "clusterSecretStoreName": self.cluster_secret_store_name,
            }
        )
