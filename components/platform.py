"""The platform: every layer, composed bottom-up, each fed the outputs of the layers below it.

Layers are ordered by the specific resources they need (a release bringing a CRD or a webhook,
the EKS cluster), handed over as plain attributes, never by depending on a whole layer: a
dependency on a component waits for every resource in it and serialises `pulumi up`.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from components.cluster import SecureCluster, SecureClusterArgs
from components.cost import Cost, CostArgs, TenantBudget
from components.config import PlatformConfig
from components.core import CoreServices, CoreServicesArgs
from components.core.ingress_hosts import TenantHosts
from components.core.base import ClusterContext
from components.core.policy import PlatformIdentities
from components.core.secrets import platform_secret_prefix
from components.core import gateway
from components.delivery import Delivery, DeliveryArgs, engine_namespaces
from components.delivery.flags import NAMESPACES as FLAGS_NAMESPACES
from components.delivery.flags import FLAGD_SIDECAR, FeatureFlagOperator, FeatureFlagOperatorArgs
from components.insight.release_notifications import slack_receivers
from components.domain import Domain, DomainArgs
from components.governance_config import DomainConfig
from components.insight.platform_rules import platform_rules
from components.insight.cost import cost_rules
from components.config import DEVOPS_GURU_TAG
from components.insight.devops_guru import DevOpsGuru, DevOpsGuruArgs, email_addresses
from components.insight.routing import (
    DomainAlerts,
    PlatformAlerts,
    PlatformAlertsArgs,
    RoutingTarget,
)
from components.kubernetes import MANAGED_BY_LABELS
from components.network import Network, NetworkArgs
from components.insight.contract import DEFAULT_GRAFANA_URL
from components.resources_config import dns_hosts
from components.tenant import Tenant, TenantArgs, TenantPlatform
from components.tenants_config import TenantConfig


class Platform(pulumi.ComponentResource):
    network: Network
    cluster: SecureCluster
    core: CoreServices
    delivery: Optional[Delivery]
    tenants: list[Tenant]
    domains: list[Domain]
    cost: Cost

    def __init__(
        self, name: str, config: PlatformConfig, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:index:Platform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network(
            "network",
            NetworkArgs(config=config.network, prefix=config.prefix, tags=config.tags),
            opts=child,
        )
        self.cluster = SecureCluster(
            "cluster",
            SecureClusterArgs(
                config=config.cluster,
                prefix=config.prefix,
                production=config.production,
                tags=config.tags,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=self.network.private_subnet_ids,
                node_autoscaler=config.runs_cluster_autoscaler,
                core_admins=tuple(config.governance.core.principals if config.governance else ()),
                auditors=tuple(config.governance.security.principals if config.governance else ()),
            ),
            opts=child,
        )
        context = ClusterContext(
            project=config.project,
            environment=config.environment,
            prefix=config.prefix,
            region=config.region,
            account_id=aws.get_caller_identity_output().account_id,
            production=config.production,
            cluster_name=self.cluster.cluster_name,
            kubernetes_version=config.cluster.version,
            cluster=self.cluster.eks_cluster,
            vpc_id=self.network.vpc_id,
            oidc=self.cluster.oidc,
            provider=self.cluster.provider,
            tags=config.tags,
        )
        delivery = config.delivery
        flagger = delivery.enabled and delivery.engine == "flagger"
        self.core = CoreServices(
            "core",
            CoreServicesArgs(
                context=context,
                config=config.core,
                extra_platform_namespaces=(
                    *(
                        (
                            *engine_namespaces(delivery.engine),
                            *(gateway.NAMESPACES if flagger else ()),
                        )
                        if delivery.enabled
                        else ()
                    ),
                    *(FLAGS_NAMESPACES if config.delivery.flags == "openfeature" else ()),
                ),
                injected_images=(
                    (FLAGD_SIDECAR,) if config.delivery.flags == "openfeature" else ()
                ),
                gateway=flagger,
                tenant_hosts=tuple(
                    TenantHosts(
                        tenant.name,
                        tuple(tenant.namespace_names),
                        tuple(sorted({*tenant.approved_hosts, *_dns_names(config, tenant)})),
                    )
                    for tenant in config.tenants
                ),
                mail_server=config.insights.email,
                private_subnet_ids=self.network.private_subnet_ids,
                data_store_cidrs=_data_store_cidrs(config),
                cluster_security_group_id=self.cluster.cluster_security_group_id,
                node_autoscaler=config.cluster.autoscaling,
                identities=PlatformIdentities(
                    principals=(
                        *config.cluster.admins,
                        *filter(None, [config.cluster.deploy_role_arn]),
                    ),
                ),
            ),
            opts=child,
        )
        self.delivery = None
        if config.delivery.enabled:
            self.delivery = Delivery(
                "delivery",
                DeliveryArgs(
                    context=context,
                    config=config.delivery,
                    prometheus_url=self.core.prometheus_url,
                    ingress_class_name=self.core.ingress_class_name,
                    cluster_secret_store_name=self.core.cluster_secret_store_name,
                    load_balancer_controller=self.core.load_balancer_controller,
                    prometheus_operator=self.core.prometheus_operator,
                    external_secrets=self.core.external_secrets,
                    cluster_secret_store=self.core.cluster_secret_store,
                    admission_engine=self.core.admission_engine,
                    # Argo Rollouts' notifications (off under Flagger, whose Canaries alert
                    # through their AlertProviders: the Delivery component decides).
                    release_notifications=(
                        self.core.external_secrets is not None
                        and any(_announces_releases(tenant) for tenant in config.tenants)
                    ),
                ),
                opts=child,
            )
        flag_operator: tuple[pulumi.Resource, ...] = ()
        if config.delivery.flags == "openfeature" and self.core.cert_manager is not None:
            flag_operator = tuple(
                FeatureFlagOperator(
                    "feature-flags",
                    FeatureFlagOperatorArgs(
                        context=context,
                        cert_manager=self.core.cert_manager,
                        load_balancer_controller=self.core.load_balancer_controller,
                        admission_engine=self.core.admission_engine,
                    ),
                    opts=child,
                ).dependencies
            )
        if self.core.prometheus_operator is not None and self.core.monitoring_namespace:
            platform_rules(
                self,
                context.provider,
                namespace=self.core.monitoring_namespace,
                operator=self.core.prometheus_operator,
                config=config.insights,
            )
            if self.core.opencost_url is not None:
                cost_rules(
                    self,
                    context.provider,
                    namespace=self.core.monitoring_namespace,
                    operator=self.core.prometheus_operator,
                )
        shared = TenantPlatform(
            context=context,
            load_balancer_cidrs=tuple(config.network.load_balancer_cidrs),
            monitoring_namespace=self.core.monitoring_namespace,
            gitops_namespace=self.core.gitops_namespace,
            external_secrets=self.core.external_secrets,
            argo_cd=self.core.argo_cd,
            cluster_security_group_id=self.cluster.cluster_security_group_id,
            ingress_class_name=self.core.ingress_class_name,
            load_balancer_controller=self.core.load_balancer_controller,
            rollouts=(
                tuple(self.delivery.rollout_dependencies) if self.delivery is not None else ()
            ),
            release_notifications=(
                self.delivery.release_notifications if self.delivery is not None else False
            ),
            prometheus_operator=self.core.prometheus_operator,
            # The policies that admit workloads; the delivery layer's guardrail admits none.
            admission_policies=tuple(self.core.admission_policies),
            dns_zones=config.core.dns.zone_ids,
            runbook_base_url=config.insights.runbook_base_url,
            grafana_url=config.insights.grafana_url or DEFAULT_GRAFANA_URL,
            dashboards=self.core.grafana_dashboards,
            container_log_group=self.core.container_log_group,
            cost_records=self.core.opencost_url is not None,
            otlp_endpoint=self.core.otlp_endpoint,
            tracing_namespace=self.core.tracing_namespace,
            private_subnet_ids=self.network.private_subnet_ids,
            keda=self.core.keda,
            keda_role_arn=self.core.keda_role_arn,
            release_engine=delivery.engine if delivery.enabled else "argo-rollouts",
            gateway_ref=self.core.gateway_ref,
            gateway_namespace=self.core.gateway_namespace,
            prometheus_url=self.core.prometheus_url,
            data_store_cidrs=_data_store_cidrs(config),
            flags=config.delivery.flags,
            flag_operator=flag_operator,
        )
        self._insights(config, context)
        self.cost = Cost(
            "cost",
            CostArgs(
                prefix=config.prefix,
                environment=config.environment,
                tags=config.tags,
                environment_budget=config.insights.budget,
                tenant_budgets=tuple(
                    TenantBudget(tenant.name, tenant.budget)
                    for tenant in config.tenants
                    if tenant.budget is not None
                ),
            ),
            opts=child,
        )
        self.tenants = [
            Tenant(
                tenant.name,
                TenantArgs(
                    tenant=tenant,
                    platform=shared,
                    reachable_tenants=tuple(
                        other.name
                        for other in config.tenants
                        if tenant.name in other.network.allow_from
                    ),
                ),
                opts=child,
            )
            for tenant in config.tenants
        ]
        self.domains = [
            Domain(
                domain.name,
                _domain_args(domain, config, shared, self.tenants),
                opts=child,
            )
            for domain in config.domains
        ]
        self.register_outputs(
            {"vpcId": self.network.vpc_id, "clusterName": self.cluster.cluster_name}
        )

    def _insights(self, config: PlatformConfig, context: ClusterContext) -> None:
        """The platform's alert routing (the Alertmanager's top-level tree, which must exist
        whenever the Alertmanager does) and, opted in, DevOps Guru."""
        insights, core = config.insights, self.core
        if core.monitoring_namespace and core.prometheus_operator is not None:
            mail = insights.email
            PlatformAlerts(
                "platform-alerts",
                PlatformAlertsArgs(
                    target=RoutingTarget(
                        namespace=core.monitoring_namespace,
                        secret_prefix=platform_secret_prefix(config.project, config.environment),
                        store_name=core.cluster_secret_store_name or "",
                        store_kind="ClusterSecretStore",
                        labels=dict(MANAGED_BY_LABELS),
                    ),
                    receivers=tuple(insights.receivers),
                    smtp_password_secret=mail.password_secret_name if mail else None,
                    provider=context.provider,
                    prometheus_operator=core.prometheus_operator,
                    external_secrets=tuple(
                        filter(None, [core.external_secrets, core.cluster_secret_store])
                    ),
                    domains=tuple(
                        DomainAlerts(
                            domain=domain.name,
                            tenants=tuple(t.name for t in config.tenants_of(domain.name)),
                            receivers=tuple(domain.squad.alerts.receivers),
                        )
                        for domain in config.domains
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        if insights.devops_guru:
            DevOpsGuru(
                "devops-guru",
                DevOpsGuruArgs(
                    prefix=config.prefix,
                    region=config.region,
                    account_id=context.account_id,
                    boundary_key=DEVOPS_GURU_TAG,
                    boundary_value=config.project,
                    email_addresses=email_addresses(insights.receivers),
                    tags=config.tags,
                    production=config.production,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )


def _announces_releases(tenant: TenantConfig) -> bool:
    """The tenant has Rollouts and a Slack receiver to announce their releases to."""
    return bool(slack_receivers(tenant.alerts.receivers)) and any(
        app.needs_rollout for app in tenant.apps
    )


def _dns_names(config: PlatformConfig, tenant: TenantConfig) -> list[str]:
    """The names a tenant's `dns` resources add to its apps' Ingresses."""
    if not config.core.dns.zones:
        return []
    domain = config.core.dns.zones[0].domain
    return [
        h
        for hosts in dns_hosts(list(tenant.resources), tenant.name, domain).values()
        for h in hosts
    ]


def _data_store_cidrs(config: PlatformConfig) -> tuple[str, ...]:
    """Where data stores live and pods' addresses come from: the private subnets' ranges."""
    if config.network.existing_vpc is not None:
        return ()
    return tuple(config.network.subnet_plan()[0])


def _domain_args(
    domain: DomainConfig, config: PlatformConfig, shared: TenantPlatform, tenants: list[Tenant]
) -> DomainArgs:
    """The squad's scope in this stack: its tenants' namespaces and repositories, as plain data."""
    members = config.tenants_of(domain.name)
    names = {t.name for t in members}
    return DomainArgs(
        domain=domain,
        context=shared.context,
        namespaces=tuple(ns for tenant in members for ns in tenant.namespace_names),
        repositories=tuple(repo for tenant in members for repo in tenant.repositories),
        gitops_namespace=shared.gitops_namespace,
        argo_cd=shared.argo_cd,
        namespace_objects={
            name: ns
            for tenant, component in zip(config.tenants, tenants)
            if tenant.name in names
            for name, ns in zip(component.namespaces, component.namespace_objects)
        },
    )
