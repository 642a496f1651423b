"""A tenant: one product team's isolated slice of the platform, from one file under tenants/.

Isolation is layered so no single mistake opens a tenant up: Pod Security `restricted` on its
namespaces, quotas and default limits, default-deny network policies with explicit openings, RBAC
bound only inside its namespaces (never cluster-wide), a workload IAM role that reads only its own
secrets prefix, and an Argo CD project that can deploy only its repositories into its namespaces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.access import namespaced_access
from components.apps import AppTarget, render_app
from components.apps_config import (
    AppConfig,
    app_namespace,
    canary_service,
    preview_service,
    user_services,
)
from components.core.base import ClusterContext
from components.core.network_policies import namespace_peer
from components.flags import AppFlags, flag_set, launchdarkly_app, openfeature_app
from components.insight import anomaly, capacity
from components.insight.contract import DEFAULT_GRAFANA_URL
from components.insight.rules import prometheus_rule
from components.insight.slo import SloTarget, slo_rule
from components.core.tracing import OTLP_PORTS
from components.insight import dashboards, release_dora, release_notifications
from components.delivery import flagger_tenant
from components.insight.routing import RoutingTarget, build_tenant_routing
from components.iam import OidcProvider, allow, irsa_trust_policy, policy_document
from components.kubernetes import DOMAIN_LABEL, DOMAIN_TAG, MANAGED_BY_LABELS, TENANT_LABEL
from components.resources.common import ResourceTarget
from components.resources.dns import DnsName
from components.resources.events import EventTrigger
from components.resources.keda import scaled_object, trigger_authentication
from components.resources.pods import pods_security_group, security_group_policy
from components.resources.postgres import PORT as POSTGRES_PORT
from components.resources.postgres import Postgres
from components.resources.redis import PORT as REDIS_PORT
from components.resources.redis import Redis
from components.tenants_config import TenantConfig

COST_CENTER_LABEL = "paved-road/cost-center"
# On a tenant's `allow-egress-cidrs` policy when the stack lets its egress cover the internet.
INTERNET_EGRESS_ANNOTATION = "paved-road/internet-egress"
INTERNET_EGRESS_GRANT = "allowed by the stack file (allowInternetEgress)"
WORKLOAD_SERVICE_ACCOUNT = "workload"
TENANT_SECRET_STORE = "tenant-secrets"
IN_CLUSTER = "https://kubernetes.default.svc"
# The port each data-store type listens on, opened for the tenant's own pods.
DATA_STORE_PORTS = {"postgres": POSTGRES_PORT, "redis": REDIS_PORT}

# Tenant role → (Kubernetes ClusterRole bound in its namespaces, EKS namespace-scoped access policy)
ROLES = {
    "owners": ("admin", "AmazonEKSAdminPolicy"),
    "developers": ("edit", "AmazonEKSEditPolicy"),
    "viewers": ("view", "AmazonEKSViewPolicy"),
}
# Guardrails the platform owns; a tenant's GitOps project may not deploy over them.
GUARDRAIL_KINDS = (
    ("", "ResourceQuota"),
    ("", "LimitRange"),
    ("networking.k8s.io", "NetworkPolicy"),
    # One naming another tenant's pods' security group would let its pods into that tenant's
    # data stores.
    ("vpcresources.k8s.aws", "SecurityGroupPolicy"),
)


@dataclass(frozen=True)
class TenantPlatform:
    """What every tenant uses from the layers below: plain data and outputs, no tenant lists."""

    context: ClusterContext
    # Where internet-facing load balancers live: the only non-pod sources allowed in.
    load_balancer_cidrs: tuple[str, ...]
    monitoring_namespace: Optional[str]
    gitops_namespace: Optional[str]
    # The releases that bring the CRDs (and webhook) of SecretStore and AppProject (None: off).
    external_secrets: Optional[pulumi.Resource]
    argo_cd: Optional[pulumi.Resource]
    # The security group EKS created for the cluster: a pod with security groups of its own
    # carries it too (components/resources/pods.py).
    cluster_security_group_id: pulumi.Input[str]
    # The IngressClass apps' Ingresses use (None: ingress switched off).
    ingress_class_name: Optional[str] = None
    # The AWS Load Balancer Controller's release: its webhooks admit every Service and Ingress
    # and fail closed, so apps' Services and Ingresses wait for it (None: ingress off).
    load_balancer_controller: Optional[pulumi.Resource] = None
    # What Rollouts need from the delivery layer: its release (the CRD) and the analysis
    # templates; empty when it is switched off.
    rollouts: tuple[pulumi.Resource, ...] = ()
    # kube-prometheus-stack's release, bringing the ServiceMonitor CRD apps' monitors need.
    prometheus_operator: Optional[pulumi.Resource] = None
    # Kyverno's policies (baseline and isolation guardrails): apps' workloads are created after
    # them, so they are admitted by them from the first `pulumi up`.
    admission_policies: tuple[pulumi.Resource, ...] = ()
    # Route 53 zone id by domain, where apps' certificates are validated.
    dns_zones: Mapping[str, str] = field(default_factory=dict)
    # Where alerts link to: the runbook (README "Observe") and Grafana.
    runbook_base_url: str = ""
    grafana_url: str = DEFAULT_GRAFANA_URL
    # Grafana runs (a dashboard per tenant); the log group its logs links open (None: no logs).
    dashboards: bool = False
    container_log_group: Optional[str] = None
    # OpenCost runs and the platform records cost per namespace and tenant (a "Cost" row).
    cost_records: bool = False
    # The OpenTelemetry collector's OTLP endpoint and namespace (None: tracing off).
    otlp_endpoint: Optional[str] = None
    tracing_namespace: Optional[str] = None
    # Where tenants' data stores go (the private subnets) and whom they admit (the addresses
    # pods get: the private subnets' ranges).
    private_subnet_ids: Optional[pulumi.Input[list[str]]] = None
    data_store_cidrs: tuple[str, ...] = ()
    # KEDA's release (its CRDs) and operator role: event consumers scale on queue depth.
    keda: Optional[pulumi.Resource] = None
    keda_role_arn: Optional[pulumi.Output[str]] = None
    # The rollout controller reads release-notification configuration in tenants' namespaces
    # (components/insight/release_notifications.py): delivery and External Secrets are on and
    # some tenant of the stack has a Rollout and a Slack receiver.
    release_notifications: bool = False
    # paved-road:delivery.flags, and what a tenant's flag set waits for with `openfeature`: the
    # operator's release (CRDs, webhooks) and the guardrail on flag sources.
    flags: str = "none"
    flag_operator: tuple[pulumi.Resource, ...] = ()
    # paved-road:delivery.engine. Under Flagger: the tenants' Gateway its Canaries route on
    # (and its namespace, whose Envoy pods reach the apps), and the Prometheus its
    # MetricTemplates query.
    release_engine: str = "argo-rollouts"
    gateway_ref: Optional[Mapping[str, str]] = None
    gateway_namespace: Optional[str] = None
    prometheus_url: Optional[str] = None


@dataclass(frozen=True)
class TenantArgs:
    tenant: TenantConfig
    platform: TenantPlatform
    # Tenants whose `allowFrom` names this one: its pods may call theirs.
    reachable_tenants: tuple[str, ...] = ()


def group_name(tenant: str, role: str) -> str:
    """The Kubernetes group a tenant role's IAM principals are mapped to."""
    return f"paved-road:{tenant}:{role}"


def secrets_prefix(context: ClusterContext, tenant: str) -> str:
    return f"{context.project}/{context.environment}/tenants/{tenant}/"


class Tenant(pulumi.ComponentResource):
    namespaces: list[str]
    # The Namespace objects: what a domain squad's bindings in them wait for.
    namespace_objects: list[k8s.core.v1.Namespace]
    workload_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: TenantArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:tenants:Tenant", name, None, opts)
        self._tenant = tenant = args.tenant
        self._platform = platform = args.platform
        self._context = context = platform.context
        self.namespaces = tenant.namespace_names
        self._labels = {
            **MANAGED_BY_LABELS,
            TENANT_LABEL: tenant.name,
            COST_CENTER_LABEL: tenant.cost_center,
        }
        self._tags = {
            **context.tags,
            "paved-road:tenant": tenant.name,
            "paved-road:cost-center": tenant.cost_center,
        }
        if tenant.domain is not None:
            self._labels[DOMAIN_LABEL] = tenant.domain
            self._tags[DOMAIN_TAG] = tenant.domain

        role = self._workload_role()
        # With a data store, the tenant's pods carry a security group of their own: what its
        # stores admit. Its pods wait for their namespace's SecurityGroupPolicy, since a pod
        # gets its groups when it starts.
        pods_group = (
            pods_security_group(
                tenant.name,
                prefix=context.prefix,
                vpc_id=context.vpc_id,
                tags=self._tags,
                parent=self,
            )
            if any(r.type in DATA_STORE_PORTS for r in tenant.resources)
            else None
        )
        ready: dict[str, list[pulumi.Resource]] = {}
        # Per namespace: its SecretStore, and its flag set (components/flags.py).
        self._stores: dict[str, pulumi.Resource] = {}
        self._flag_sets: dict[str, list[pulumi.Resource]] = {}
        self.namespace_objects = []
        for namespace in self.namespaces:
            ns = self._namespace(namespace)
            self.namespace_objects.append(ns)
            ns_opts = self._k8s(depends_on=[ns])
            ready[namespace] = [ns, self._service_accounts(namespace, role, ns_opts)]
            if pods_group is not None:
                ready[namespace].append(
                    security_group_policy(
                        namespace,
                        group_ids=[pods_group.id, platform.cluster_security_group_id],
                        labels=self._labels,
                        parent=self,
                        provider=context.provider,
                        depends_on=[ns],
                    )
                )
            self._guardrails(namespace, ns_opts)
            self._network_policies(namespace, args.reachable_tenants, ns_opts)
            self._role_bindings(namespace, ns_opts)
            store = None
            if platform.external_secrets is not None:
                store = self._stores[namespace] = self._secret_store(
                    namespace, self._k8s(depends_on=[ns, platform.external_secrets])
                )
            if platform.flags == "openfeature" and tenant.flags:
                self._flag_sets[namespace] = flag_set(
                    namespace,
                    tenant.flags,
                    labels=self._labels,
                    parent=self,
                    provider=context.provider,
                    after=[ns, *platform.flag_operator],
                )
            if tenant.alerts.receivers and platform.prometheus_operator is not None:
                self._alert_routing(namespace, ns, [*ready[namespace], *filter(None, [store])])
        self._access_entries()
        if platform.argo_cd is not None and platform.gitops_namespace:
            self._app_project(platform.gitops_namespace, platform.argo_cd)
        aliases = self._dns_names()
        announced = self._release_notifications(ready, self._stores)
        release_objects: dict[str, tuple[pulumi.Resource, ...]] = {}
        providers: tuple[str, ...] = ()
        if platform.release_engine == "flagger":
            release_objects, providers = self._flagger_objects(ready)
        for app in tenant.apps:
            namespace = app_namespace(app, self.namespaces)
            self._app(
                app,
                ready,
                aliases.get(app.name, ()),
                announced,
                release_objects.get(namespace, ()),
                providers if namespace in release_objects else (),
            )
        if platform.prometheus_operator is not None:
            self._insight_rules(platform.prometheus_operator, ready)
        if platform.dashboards and platform.monitoring_namespace:
            self._dashboard(platform.monitoring_namespace, platform.prometheus_operator)
        if tenant.resources:
            self._resources(role, ready, pods_group)

        self.workload_role_arn = role.arn
        self.register_outputs(
            {
                "namespaces": self.namespaces,
                "workloadRoleArn": role.arn,
                "internetEgressAllowed": tenant.allow_internet_egress,
            }
        )

    # ----------------------------------------------------------------------------------------------

    def _k8s(self, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._context.provider, **options)

    def _metadata(self, name: str, namespace: Optional[str] = None, **extra: Any) -> dict:
        metadata: dict[str, Any] = {"name": name, "labels": dict(self._labels), **extra}
        if namespace:
            metadata["namespace"] = namespace
        return metadata

    def _namespace(self, namespace: str) -> k8s.core.v1.Namespace:
        restricted = {
            f"pod-security.kubernetes.io/{mode}": "restricted"
            for mode in ("enforce", "audit", "warn")
        }
        return k8s.core.v1.Namespace(
            f"{namespace}-namespace",
            metadata={
                "name": namespace,
                "labels": {**self._labels, **restricted},
                "annotations": {"paved-road/display-name": self._tenant.title},
            },
            # A team's workloads live here: in production, deleting it takes a deliberate
            # `decommission: true` first (see README, "Decommission a team").
            opts=self._k8s(protect=self._context.production and not self._tenant.decommission),
        )

    def _service_accounts(
        self, namespace: str, role: aws.iam.Role, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.ServiceAccount:
        # Pods get no Kubernetes API token unless they ask for one.
        k8s.core.v1.ServiceAccountPatch(
            f"{namespace}-default-sa",
            metadata=self._metadata("default", namespace),
            automount_service_account_token=False,
            opts=opts,
        )
        return k8s.core.v1.ServiceAccount(
            f"{namespace}-workload-sa",
            metadata=self._metadata(
                WORKLOAD_SERVICE_ACCOUNT,
                namespace,
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=False,
            opts=opts,
        )

    def _guardrails(self, namespace: str, opts: pulumi.ResourceOptions) -> None:
        quota = self._tenant.quota
        k8s.core.v1.ResourceQuota(
            f"{namespace}-quota",
            metadata=self._metadata("tenant-quota", namespace),
            spec={
                "hard": {
                    "requests.cpu": quota.cpu,
                    "limits.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "limits.memory": quota.memory,
                    "requests.storage": quota.storage,
                    "pods": str(quota.pods),
                    "services.loadbalancers": str(quota.load_balancers),
                    # Traffic enters through the platform's load balancers, never node ports.
                    "services.nodeports": "0",
                }
            },
            opts=opts,
        )
        k8s.core.v1.LimitRange(
            f"{namespace}-limits",
            metadata=self._metadata("tenant-limits", namespace),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                        "default": {"cpu": "500m", "memory": "512Mi"},
                    }
                ]
            },
            opts=opts,
        )

    def _network_policies(
        self, namespace: str, reachable: tuple[str, ...], opts: pulumi.ResourceOptions
    ) -> None:
        tenant, platform = self._tenant, self._platform
        same_tenant = {"namespaceSelector": {"matchLabels": {TENANT_LABEL: tenant.name}}}
        policies: dict[str, dict[str, Any]] = {
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
            "allow-same-tenant": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [same_tenant]}],
                "egress": [{"to": [same_tenant]}],
            },
        }
        if platform.load_balancer_cidrs:
            policies["allow-load-balancers"] = {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": cidr}} for cidr in platform.load_balancer_cidrs]}
                ],
            }
        if platform.monitoring_namespace:
            policies["allow-prometheus"] = {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                **namespace_peer(platform.monitoring_namespace),
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/name": "prometheus"}
                                },
                            }
                        ]
                    }
                ],
            }
        if platform.tracing_namespace:
            # Spans to the OpenTelemetry collector (OTLP gRPC and HTTP).
            policies["allow-tracing"] = {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [namespace_peer(platform.tracing_namespace)],
                        "ports": [{"protocol": "TCP", "port": port} for port in OTLP_PORTS],
                    }
                ],
            }
        if platform.gateway_namespace:
            # The tenants' Gateway: its Envoy pods forward to the apps it routes to.
            policies["allow-gateway"] = {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [namespace_peer(platform.gateway_namespace)]}],
            }
        if tenant.network.allow_from:
            policies["allow-from-tenants"] = {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [_tenants_selector(tenant.network.allow_from)]}],
            }
        if reachable:
            policies["allow-to-tenants"] = {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [_tenants_selector(reachable)]}],
            }
        ports = sorted(
            {DATA_STORE_PORTS[r.type] for r in tenant.resources if r.type in DATA_STORE_PORTS}
        )
        if ports and platform.data_store_cidrs:
            # The tenant's own data stores: their ports, in the private subnets. Their security
            # groups admit only this tenant's pods' group; this keeps other tenants' pods out too.
            policies["allow-data-stores"] = {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": cidr}} for cidr in platform.data_store_cidrs],
                        "ports": [{"protocol": "TCP", "port": port} for port in ports],
                    }
                ],
            }
        if tenant.network.egress_cidrs:
            policies["allow-egress-cidrs"] = {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"ipBlock": {"cidr": cidr}} for cidr in tenant.network.egress_cidrs]}
                ],
            }
        # The stack's grant to reach the internet shows on the policy that uses it, for the plan,
        # the PR diff and anyone reading the cluster.
        granted = {INTERNET_EGRESS_ANNOTATION: INTERNET_EGRESS_GRANT}
        for policy_name, spec in policies.items():
            extra = (
                {"annotations": granted}
                if policy_name == "allow-egress-cidrs" and tenant.allow_internet_egress
                else {}
            )
            k8s.networking.v1.NetworkPolicy(
                f"{namespace}-{policy_name}",
                metadata=self._metadata(policy_name, namespace, **extra),
                spec=spec,
                opts=opts,
            )

    def _role_bindings(self, namespace: str, opts: pulumi.ResourceOptions) -> None:
        for role, (cluster_role, _) in ROLES.items():
            if not getattr(self._tenant, role):
                continue
            k8s.rbac.v1.RoleBinding(
                f"{namespace}-{role}",
                metadata=self._metadata(f"tenant-{role}", namespace),
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": cluster_role,
                },
                subjects=[
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": group_name(self._tenant.name, role),
                    }
                ],
                opts=opts,
            )

    def _workload_role(self) -> aws.iam.Role:
        """The tenant's pods' AWS identity: trusted by its own service accounts only, reading
        only secrets under its own prefix."""
        context, tenant = self._context, self._tenant
        prefix = secrets_prefix(context, tenant.name)
        # KEDA reads an event consumer's queue depth as this role (components/resources/keda.py).
        keda = self._platform.keda_role_arn if _has_consumers(tenant) else None
        role = aws.iam.Role(
            f"{tenant.name}-workload-role",
            name=f"{context.prefix}-tenant-{tenant.name}"[:64],
            assume_role_policy=_workload_trust(context.oidc, self.namespaces, keda),
            tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{tenant.name}-workload-secrets",
            role=role.id,
            policy=context.account_id.apply(
                lambda account: policy_document(
                    allow(
                        ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                        [f"arn:aws:secretsmanager:{context.region}:{account}:secret:{prefix}*"],
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return role

    def _alert_routing(
        self, namespace: str, ns: pulumi.Resource, ready: list[pulumi.Resource]
    ) -> None:
        """The team's receivers in this namespace (components/insight/routing.py): every
        namespace gets one, as the Alertmanager matches a config to its own namespace only."""
        platform = self._platform
        build_tenant_routing(
            self._tenant.name,
            RoutingTarget(
                namespace=namespace,
                secret_prefix=secrets_prefix(self._context, self._tenant.name),
                store_name=TENANT_SECRET_STORE,
                store_kind="SecretStore",
                labels=self._labels,
            ),
            self._tenant.alerts.receivers,
            parent=self,
            provider=self._context.provider,
            secret_after=[*ready, *filter(None, [platform.external_secrets])],
            config_after=[ns, *filter(None, [platform.prometheus_operator])],
            deliver_secrets=platform.external_secrets is not None,
        )

    def _secret_store(
        self, namespace: str, opts: pulumi.ResourceOptions
    ) -> k8s.apiextensions.CustomResource:
        """The team's store: Secrets Manager as the `workload` account of this namespace, the
        only shape Kyverno's `restrict-tenant-secret-stores` admits in a tenant namespace (ESO
        reads the role from that account's IRSA annotation; a SecretStore's service account is
        always in the store's own namespace)."""
        return k8s.apiextensions.CustomResource(
            f"{namespace}-secret-store",
            api_version="external-secrets.io/v1",
            kind="SecretStore",
            metadata=self._metadata(TENANT_SECRET_STORE, namespace),
            spec={
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": self._context.region,
                        "auth": {"jwt": {"serviceAccountRef": {"name": WORKLOAD_SERVICE_ACCOUNT}}},
                    }
                }
            },
            opts=opts,
        )

    def _access_entries(self) -> None:
        tenant = self._tenant
        for role, (_, access_policy) in ROLES.items():
            for index, principal in enumerate(getattr(tenant, role)):
                namespaced_access(
                    f"{tenant.name}-{role}-{index}",
                    self._context,
                    principal=principal,
                    group=group_name(tenant.name, role),
                    access_policy=access_policy,
                    namespaces=self.namespaces,
                    tags=self._tags,
                    parent=self,
                )

    def _dns_names(self) -> dict[str, tuple[tuple[str, Optional[pulumi.Output[str]]], ...]]:
        """The tenant's `dns` resources: each a name of one of its apps, with its certificate."""
        tenant, platform = self._tenant, self._platform
        apps = {app.name: app for app in tenant.apps}
        aliases: dict[str, tuple[tuple[str, Optional[pulumi.Output[str]]], ...]] = {}
        if not platform.dns_zones or platform.ingress_class_name is None:
            return aliases
        for resource in tenant.resources:
            if resource.type != "dns" or resource.app not in apps:
                continue
            dns = DnsName(
                f"{tenant.name}/{resource.name}",
                resource,
                tenant=tenant.name,
                dns_zones=platform.dns_zones,
                request_certificate=apps[resource.app].certificate == "request",
                tags=self._tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aliases[resource.app] = (
                *aliases.get(resource.app, ()),
                (dns.host, dns.certificate_arn),
            )
        return aliases

    def _flagger_objects(
        self, ready: dict[str, list[pulumi.Resource]]
    ) -> tuple[dict[str, tuple[pulumi.Resource, ...]], tuple[str, ...]]:
        """In each namespace where Flagger releases an app, what its Canaries may name (Flagger
        admits no cross-namespace reference): the platform's MetricTemplates and, per Slack
        receiver of the tenant, an AlertProvider (components/delivery/flagger_tenant.py)."""
        platform, tenant = self._platform, self._tenant
        assert platform.prometheus_url is not None, "config.py: flagger needs Prometheus"
        released = sorted(
            {app_namespace(app, self.namespaces) for app in tenant.apps if app.needs_rollout}
        )
        receivers = flagger_tenant.slack_receivers(tenant.alerts.receivers)
        providers = (
            tuple(flagger_tenant.provider_name(r) for r in receivers)
            if platform.external_secrets is not None
            else ()
        )
        created: dict[str, tuple[pulumi.Resource, ...]] = {}
        for namespace in released:
            after = [*ready[namespace], *platform.rollouts[:1]]
            objects = flagger_tenant.metric_templates(
                f"{namespace}-flagger",
                namespace,
                platform.prometheus_url,
                labels=self._labels,
                opts=self._k8s(depends_on=after),
            )
            if providers:
                objects += flagger_tenant.alert_providers(
                    f"{namespace}-flagger",
                    namespace,
                    receivers,
                    secret_prefix=secrets_prefix(self._context, tenant.name),
                    store_name=TENANT_SECRET_STORE,
                    labels=self._labels,
                    opts=self._k8s(
                        depends_on=[
                            *after,
                            *filter(None, [platform.external_secrets, self._stores.get(namespace)]),
                        ]
                    ),
                )
            created[namespace] = tuple(objects)
        return created, providers

    def _app(
        self,
        app: AppConfig,
        ready: dict[str, list[pulumi.Resource]],
        aliases: tuple[tuple[str, Optional[pulumi.Output[str]]], ...] = (),
        rollout_annotations: Optional[Mapping[str, str]] = None,
        release_objects: tuple[pulumi.Resource, ...] = (),
        alert_providers: tuple[str, ...] = (),
    ) -> None:
        """An app from the tenant file, in its namespace, as the tenant's `workload` identity:
        the workload role trusts exactly that service account, so apps share it rather than
        widen the role's trust with one service account per app."""
        namespace = app_namespace(app, self.namespaces)
        platform = self._platform
        flags = self._app_flags(app, namespace, ready[namespace]) if app.flags else None
        render_app(
            app,
            AppTarget(
                tenant=self._tenant.name,
                namespace=namespace,
                labels=self._labels,
                parent=self,
                provider=self._context.provider,
                production=self._context.production,
                service_account=WORKLOAD_SERVICE_ACCOUNT,
                depends_on=tuple(ready[namespace]),
                rollouts=platform.rollouts,
                ingress_class_name=platform.ingress_class_name,
                load_balancer_controller=platform.load_balancer_controller,
                monitoring=platform.monitoring_namespace is not None,
                prometheus_operator=platform.prometheus_operator,
                # A flag-reading pod is admitted by the flag guardrail and injected by the
                # operator's webhook: its workload waits for them, and for what it reads.
                admission_policies=(
                    *platform.admission_policies,
                    *(flags.depends_on if flags is not None else ()),
                ),
                dns_zones=platform.dns_zones,
                tags=self._tags,
                otlp_endpoint=platform.otlp_endpoint,
                aliases=aliases,
                flags=flags,
                scaled_externally=(
                    platform.keda is not None
                    and any(r.consumer == app.name for r in self._tenant.resources)
                ),
                rollout_annotations=rollout_annotations or {},
                engine=platform.release_engine,
                gateway_ref=platform.gateway_ref,
                alert_providers=alert_providers,
                release_objects=release_objects,
            ),
        )
        if app.service_level is not None and platform.prometheus_operator is not None:
            slo_rule(
                f"{self._tenant.name}/{app.name}/slo-rule",
                SloTarget(
                    self._tenant.name,
                    namespace,
                    app.name,
                    user_services(app),
                    app.service_level,
                    platform.runbook_base_url,
                    platform.grafana_url,
                ),
                labels=self._labels,
                parent=self,
                provider=self._context.provider,
                depends_on=[*ready[namespace][:1], platform.prometheus_operator],
            )

    def _release_notifications(
        self, ready: dict[str, list[pulumi.Resource]], stores: dict[str, pulumi.Resource]
    ) -> dict[str, str]:
        """The team's releases announced to its Slack receivers
        (components/insight/release_notifications.py): in each namespace holding one of its
        Rollouts, the notification ConfigMap and the ExternalSecret bringing the webhook URLs
        from the team's own prefix through its own store. Returns the Rollouts' annotations:
        the subscriptions, or why there are none."""
        tenant, platform = self._tenant, self._platform
        receivers = tenant.alerts.receivers
        if not release_notifications.slack_receivers(receivers):
            return {release_notifications.STATUS_ANNOTATION: release_notifications.NO_SLACK}
        if platform.external_secrets is None:
            return {release_notifications.STATUS_ANNOTATION: release_notifications.NO_SECRETS}
        if not platform.release_notifications:
            return {}  # no delivery layer: the config refuses apps that need a Rollout
        released = dict.fromkeys(
            app_namespace(app, self.namespaces) for app in tenant.apps if app.needs_rollout
        )
        for namespace in released:
            manifest = release_notifications.external_secret(
                namespace=namespace,
                secret_prefix=secrets_prefix(self._context, tenant.name),
                store_name=TENANT_SECRET_STORE,
                labels=self._labels,
                receivers=receivers,
            )
            k8s.apiextensions.CustomResource(
                f"{namespace}-release-notification-secret",
                api_version=manifest["apiVersion"],
                kind=manifest["kind"],
                metadata=manifest["metadata"],
                spec=manifest["spec"],
                opts=self._k8s(
                    depends_on=[*ready[namespace], stores[namespace], platform.external_secrets]
                ),
            )
            k8s.core.v1.ConfigMap(
                f"{namespace}-release-notifications",
                metadata=self._metadata(release_notifications.CONFIG_MAP, namespace),
                data=release_notifications.config_map_data(receivers),
                opts=self._k8s(depends_on=ready[namespace][:1]),
            )
        return {
            **release_notifications.subscriptions(receivers),
            release_notifications.STATUS_ANNOTATION: release_notifications.status(receivers),
        }

    def _app_flags(
        self, app: AppConfig, namespace: str, ready: list[pulumi.Resource]
    ) -> Optional[AppFlags]:
        """What an app with `flags: true` reads its flags through (config.py refuses the
        combinations that cannot work: no flag system, no flags, no secrets service)."""
        platform = self._platform
        if platform.flags == "openfeature" and namespace in self._flag_sets:
            return openfeature_app([*self._flag_sets[namespace], *platform.flag_operator])
        if platform.flags == "launchdarkly" and namespace in self._stores:
            return launchdarkly_app(
                app,
                namespace,
                tenant=self._tenant.name,
                secret_prefix=secrets_prefix(self._context, self._tenant.name),
                store_name=TENANT_SECRET_STORE,
                labels=self._labels,
                parent=self,
                provider=self._context.provider,
                after=[*ready, self._stores[namespace]],
            )
        return None

    def _insight_rules(
        self, operator: pulumi.Resource, ready: dict[str, list[pulumi.Resource]]
    ) -> None:
        """Capacity alerts per namespace and anomaly alerts per api-service app
        (components/insight), each in its own PrometheusRule in the tenant's namespace; the
        release records of its Rollouts beside Grafana (components/insight/release_dora.py)."""
        tenant, platform = self._tenant, self._platform
        links = {"runbook_base_url": platform.runbook_base_url, "grafana_url": platform.grafana_url}
        for namespace in self.namespaces:
            prometheus_rule(
                f"{namespace}-capacity-rules",
                name="capacity",
                namespace=namespace,
                labels=self._labels,
                groups=capacity.tenant_rule_groups(tenant.name, namespace, **links),
                parent=self,
                provider=self._context.provider,
                depends_on=[operator, ready[namespace][0]],
            )
        for app in tenant.apps:
            if app.template != "api-service":
                continue
            namespace = app_namespace(app, self.namespaces)
            groups = anomaly.app_rule_groups(
                tenant.name,
                namespace,
                app.name,
                (app.name, canary_service(app), preview_service(app)),
                **links,
            )
            prometheus_rule(
                f"{tenant.name}/{app.name}/anomaly-rules",
                name=f"{app.name}-anomaly",
                namespace=namespace,
                labels=self._labels,
                groups=groups,
                parent=self,
                provider=self._context.provider,
                depends_on=[operator, ready[namespace][0]],
            )
        released = release_dora.released_apps(tenant.apps, self.namespaces)
        if released and platform.monitoring_namespace:
            release_dora.release_rule(
                tenant.name,
                released,
                namespace=platform.monitoring_namespace,
                labels=self._labels,
                parent=self,
                provider=self._context.provider,
                operator=operator,
            )

    def _resources(
        self,
        role: aws.iam.Role,
        ready: dict[str, list[pulumi.Resource]],
        pods_group: Optional[aws.ec2.SecurityGroup],
    ) -> None:
        """The databases, caches, names and triggers the tenant file asks for
        (components/resources/), each delivering its connection details into the tenant's first
        namespace through its SecretStore."""
        tenant, platform, context = self._tenant, self._platform, self._context
        namespace = self.namespaces[0]
        target = ResourceTarget(
            tenant=tenant.name,
            namespace=namespace,
            prefix=context.prefix,
            region=context.region,
            account_id=context.account_id,
            production=context.production,
            tags=self._tags,
            labels=self._labels,
            vpc_id=context.vpc_id,
            subnet_ids=platform.private_subnet_ids or [],
            client_security_group_id=pods_group.id if pods_group is not None else None,
            workload_role=role,
            secrets_prefix=secrets_prefix(context, tenant.name),
            store_name=TENANT_SECRET_STORE,
            provider=context.provider,
            secret_after=(*ready[namespace], *filter(None, [platform.external_secrets])),
            deliver_secrets=platform.external_secrets is not None,
        )
        consumed: dict[str, list[pulumi.Output[str]]] = {}
        for resource in tenant.resources:
            name = f"{tenant.name}/{resource.name}"
            if resource.type == "postgres":
                Postgres(name, resource, target, opts=pulumi.ResourceOptions(parent=self))
            elif resource.type == "redis":
                Redis(name, resource, target, opts=pulumi.ResourceOptions(parent=self))
            elif resource.type == "events":
                trigger = EventTrigger(
                    name, resource, target, opts=pulumi.ResourceOptions(parent=self)
                )
                if resource.consumer is not None:
                    consumed.setdefault(resource.consumer, []).append(trigger.queue_url)
        if consumed and platform.keda is not None:
            self._queue_scaling(consumed, ready)

    def _queue_scaling(
        self, consumed: dict[str, list[pulumi.Output[str]]], ready: dict[str, list[pulumi.Resource]]
    ) -> None:
        """Each consumer app scales on its queues' depth (components/resources/keda.py)."""
        tenant, platform = self._tenant, self._platform
        apps = {app.name: app for app in tenant.apps}
        assert platform.keda is not None
        authenticated: dict[str, pulumi.Resource] = {}
        for app_name, queues in sorted(consumed.items()):
            app = apps[app_name]
            namespace = app_namespace(app, self.namespaces)
            after = [*ready[namespace][:1], platform.keda]
            if namespace not in authenticated:
                authenticated[namespace] = trigger_authentication(
                    f"{namespace}-keda-auth",
                    namespace,
                    self._labels,
                    parent=self,
                    provider=self._context.provider,
                    depends_on=after,
                )
            scaled_object(
                f"{tenant.name}/{app_name}/scaled-object",
                app=app_name,
                namespace=namespace,
                labels=self._labels,
                queues=queues,
                region=self._context.region,
                min_replicas=app.replicas,
                max_replicas=max(app.replicas, app.max_replicas),
                parent=self,
                provider=self._context.provider,
                depends_on=[*after, authenticated[namespace], *platform.rollouts[:1]],
                # Flagger's target is a Deployment (it gives the primary a copy of this object).
                workload=(
                    ("apps/v1", "Deployment")
                    if platform.release_engine == "flagger"
                    else ("argoproj.io/v1alpha1", "Rollout")
                ),
            )

    def _dashboard(self, monitoring: str, stack: Optional[pulumi.Resource]) -> None:
        """The tenant's Grafana dashboard, beside Grafana (after the release that creates the
        namespace it goes in and the sidecar that loads it)."""
        tenant, platform = self._tenant, self._platform
        spec = dashboards.DashboardSpec(
            tenant=tenant.name,
            title=tenant.title,
            namespaces=tuple(self.namespaces),
            apps=tuple(
                dashboards.DashboardApp(app.name, app_namespace(app, self.namespaces))
                for app in tenant.apps
                if app.template == "api-service"
            ),
            region=self._context.region,
            log_group=platform.container_log_group,
            releases=release_dora.released_apps(tenant.apps, self.namespaces),
            cost=platform.cost_records,
        )
        manifest = dashboards.config_map_manifest(spec, monitoring, self._labels)
        k8s.core.v1.ConfigMap(
            f"{tenant.name}-dashboard",
            metadata=manifest["metadata"],
            data=manifest["data"],
            opts=self._k8s(depends_on=[stack] if stack is not None else []),
        )

    def _app_project(self, gitops_namespace: str, argo_cd: pulumi.Resource) -> None:
        tenant = self._tenant
        k8s.apiextensions.CustomResource(
            f"{tenant.name}-app-project",
            api_version="argoproj.io/v1alpha1",
            kind="AppProject",
            metadata=self._metadata(tenant.name, gitops_namespace),
            spec={
                "description": f"{tenant.title}: deploys only its repositories into its namespaces",
                "sourceRepos": list(tenant.repositories),
                "destinations": [
                    {"server": IN_CLUSTER, "namespace": namespace} for namespace in self.namespaces
                ],
                # Nothing cluster-scoped: no namespaces, CRDs, ClusterRoles or webhooks.
                "clusterResourceWhitelist": [],
                "namespaceResourceBlacklist": [
                    {"group": group, "kind": kind} for group, kind in GUARDRAIL_KINDS
                ],
            },
            opts=self._k8s(depends_on=[argo_cd]),
        )


def _tenants_selector(tenants: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": TENANT_LABEL, "operator": "In", "values": sorted(tenants)}]
        }
    }


def _has_consumers(tenant: TenantConfig) -> bool:
    return any(r.type == "events" and r.consumer is not None for r in tenant.resources)


def _workload_trust(
    oidc: OidcProvider, namespaces: list[str], keda_role_arn: Optional[pulumi.Output[str]] = None
) -> pulumi.Output[str]:
    """One IRSA trust for the tenant's `workload` service account in each of its namespaces;
    with event consumers, KEDA's operator role too (it reads their queues' depth as this role)."""
    trusts = [
        irsa_trust_policy(oidc, namespace, WORKLOAD_SERVICE_ACCOUNT) for namespace in namespaces
    ]
    if keda_role_arn is None:
        return pulumi.Output.all(*trusts).apply(_merge_statements)
    return pulumi.Output.all(keda_role_arn, *trusts).apply(
        lambda args: _merge_statements(list(args[1:]), args[0])
    )


def _merge_statements(documents: list[str], keda_role_arn: Optional[str] = None) -> str:
    statements = [statement for doc in documents for statement in json.loads(doc)["Statement"]]
    if keda_role_arn is not None:
        statements.append(
            {
                "Sid": "KedaReadsQueueDepth",
                "Effect": "Allow",
                "Principal": {"AWS": keda_role_arn},
                "Action": "sts:AssumeRole",
            }
        )
    return policy_document(*statements)
