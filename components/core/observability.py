"""Observability: metrics and alerts with kube-prometheus-stack, container logs in CloudWatch Logs.

Prometheus picks up every ServiceMonitor, PodMonitor and PrometheusRule in the cluster, so a team
(or the delivery layer's analysis templates) gets scraped and alerted on by creating one in its
own namespace — no label to remember, no platform ticket. A tenant's monitors and rules are
scoped to their own namespace (`tenant_scoping`): they scrape only its pods and select only its
series; the platform's namespaces keep their cluster-wide view. Grafana's admin password is
generated, kept a Pulumi secret and handed to the chart as an existing Secret, so it never appears
in values, plans or manifests. Fluent Bit ships container logs to a log group the platform creates
with a retention, through an IRSA role that can write to that log group and nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.config import LogsConfig, MailServerConfig, ObservabilityConfig
from components.core.base import (
    service_role,
    ordered_after,
    ClusterContext,
    helm_release,
    irsa_annotation,
    platform_namespace,
    resources,
)
from components.core.network_policies import Openings, openings_for
from components.iam import allow, policy_document
from components.kubernetes import MANAGED_BY_LABELS, TENANT_LABEL
from components.versions import CHARTS

NAMESPACES = ("monitoring", "logging")
MONITORING, LOGGING = NAMESPACES

STACK_CHART = CHARTS["kube-prometheus-stack"]
FLUENT_BIT_CHART = CHARTS["aws-for-fluent-bit"]
# fullnameOverride pins every object name the chart derives (`<fullname>-prometheus`, …), so the
# Prometheus address below never changes with the release name.
FULLNAME = "kube-prometheus-stack"
PROMETHEUS_PORT = 9090
STORAGE_CLASS = "gp3"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER = "admin"
FLUENT_BIT_SERVICE_ACCOUNT = "aws-for-fluent-bit"
# Grafana's dashboard sidecar loads ConfigMaps with this label and value from `monitoring` only;
# its Prometheus datasource has this uid. Dashboards (components/insight) rely on both.
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
GRAFANA_DASHBOARD_LABEL_VALUE = "1"
GRAFANA_DATASOURCE_UID = "prometheus"

# Non-root and unprivileged, for every chart that lets us say so.
RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "fsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
# Prometheus and Alertmanager images expect the chart's default user and group.
PROMETHEUS_POD = {**RESTRICTED_POD, "runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def prometheus_address(namespace: str = MONITORING) -> str:
    """The in-cluster URL of Prometheus: the chart's `<fullname>-prometheus` Service, port 9090."""
    return f"http://{FULLNAME}-prometheus.{namespace}.svc.cluster.local:{PROMETHEUS_PORT}"


def container_log_group_name(cluster_name: str) -> str:
    return f"/aws/eks/{cluster_name}/containers"


@dataclass(frozen=True)
class ObservabilityArgs:
    context: ClusterContext
    config: ObservabilityConfig
    # The platform's namespaces (core's and the layers above): their monitors and rules see the
    # whole cluster, as the platform's own must; every other namespace's are scoped to itself.
    platform_namespaces: tuple[str, ...] = ()
    # The SMTP server of every `email` receiver (paved-road:insights.email); None: no e-mail.
    mail_server: Optional[MailServerConfig] = None


class Observability(pulumi.ComponentResource):
    prometheus_url: str
    # kube-prometheus-stack: brings the Prometheus Operator's CRDs (ServiceMonitor, …).
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Observability", name, None, opts)
        self._after = ordered_after(opts)
        context, config = args.context, args.config

        # node-exporter shares the node's network and PID namespaces and mounts its root
        # filesystem (hostNetwork, hostPID, hostPath), which only `privileged` admits; every
        # other workload of the stack is configured to meet `restricted` all the same.
        monitoring = platform_namespace(
            f"{name}-monitoring",
            MONITORING,
            parent=self,
            provider=context.provider,
            enforce="privileged",
            openings=monitoring_openings(args.mail_server),
        )
        grafana_secret = self._grafana_admin(name, context, monitoring) if config.grafana else None
        self.release = self._metrics_stack(
            name,
            context,
            config,
            monitoring,
            grafana_secret,
            args.platform_namespaces,
            args.mail_server,
        )
        self.prometheus_url = prometheus_address()

        # Reserved for the platform whether or not logs are on; Fluent Bit reads the nodes'
        # /var/log through hostPath, which only `privileged` admits, so that level is granted
        # only while it runs.
        log_namespace = platform_namespace(
            f"{name}-logging",
            LOGGING,
            parent=self,
            provider=context.provider,
            enforce="privileged" if config.logs.enabled else "restricted",
        )
        if config.logs.enabled:
            self._container_logs(name, context, config.logs, log_namespace)

        self.register_outputs({"prometheusUrl": self.prometheus_url})

    # ----------------------------------------------------------------------------------------------
    # Metrics, alerts and dashboards

    def _grafana_admin(
        self, name: str, context: ClusterContext, namespace: k8s.core.v1.Namespace
    ) -> k8s.core.v1.Secret:
        """A generated admin password in a Secret the chart reads (`grafana.admin.existingSecret`):
        it stays a Pulumi secret end to end and never passes through Helm values."""
        password = random.RandomPassword(
            f"{name}-grafana-admin-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=GRAFANA_ADMIN_SECRET,
                namespace=namespace.metadata.name,
                labels=dict(MANAGED_BY_LABELS),
            ),
            type="Opaque",
            string_data={
                "admin-user": pulumi.Output.secret(GRAFANA_ADMIN_USER),
                "admin-password": pulumi.Output.secret(password.result),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider),
        )

    def _metrics_stack(
        self,
        name: str,
        context: ClusterContext,
        config: ObservabilityConfig,
        namespace: k8s.core.v1.Namespace,
        grafana_secret: Optional[k8s.core.v1.Secret],
        platform_namespaces: tuple[str, ...] = (),
        mail_server: Optional[MailServerConfig] = None,
    ) -> k8s.helm.v3.Release:
        values = {
            "fullnameOverride": FULLNAME,
            # EKS runs the control plane: there is no etcd, scheduler or controller-manager
            # endpoint in the cluster to scrape, only alerts that would fire forever.
            "kubeEtcd": {"enabled": False},
            "kubeScheduler": {"enabled": False},
            "kubeControllerManager": {"enabled": False},
            "prometheusOperator": _operator_values(),
            "prometheus": _prometheus_values(config, platform_namespaces),
            # The kubelet Service the operator maintains, and the chart's monitor of it, live in
            # the monitoring namespace: with namespace selectors ignored, a monitor finds
            # endpoints only in its own namespace (cAdvisor's container metrics come from here).
            "kubelet": {"namespace": MONITORING},
            # The chart's CoreDNS and kube-proxy monitors sit in `monitoring` and select Services
            # in kube-system, which ignored namespace selectors no longer allow; EKS's kube-proxy
            # serves metrics on the node's loopback only, and CoreDNS metrics are given up (see
            # the README, "Metrics a tenant can see").
            "coreDns": {"enabled": False},
            "kubeProxy": {"enabled": False},
            "alertmanager": _alertmanager_values(config.alertmanager_replicas, mail_server),
            "grafana": _grafana_values() if grafana_secret is not None else {"enabled": False},
            "kube-state-metrics": _kube_state_metrics_values(),
            "prometheus-node-exporter": _node_exporter_values(),
        }
        return helm_release(
            f"{name}-kube-prometheus-stack",
            STACK_CHART,
            namespace=namespace.metadata.name,
            values=values,
            parent=self,
            provider=context.provider,
            depends_on=[
                *self._after,
                namespace,
                *([grafana_secret] if grafana_secret else []),
            ],
            release_name=FULLNAME,
        )

    # ----------------------------------------------------------------------------------------------
    # Container logs

    def _container_logs(
        self,
        name: str,
        context: ClusterContext,
        config: LogsConfig,
        namespace: k8s.core.v1.Namespace,
    ) -> k8s.helm.v3.Release:
        child = pulumi.ResourceOptions(parent=self)
        # Created here, with a retention, so Fluent Bit never creates a log group kept forever.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-container-logs",
            name=container_log_group_name(context.cluster_name),
            retention_in_days=config.retention_days,
            tags=context.tags,
            opts=child,
        )
        role = service_role(
            f"{name}-fluent-bit-irsa",
            context,
            role_suffix="fluent-bit",
            namespace=LOGGING,
            service_account=FLUENT_BIT_SERVICE_ACCOUNT,
            policy=log_group.arn.apply(fluent_bit_policy),
            parent=self,
        )
        return helm_release(
            f"{name}-aws-for-fluent-bit",
            FLUENT_BIT_CHART,
            namespace=namespace.metadata.name,
            values=_fluent_bit_values(context, log_group.name, role.arn),
            parent=self,
            provider=context.provider,
            depends_on=[*self._after, namespace, log_group, role],
        )


def fluent_bit_policy(log_group_arn: str) -> str:
    """Write access to the one container log group and its streams.

    The `cloudwatch_logs` output creates a stream per container and puts events into it;
    `DescribeLogStreams` lets it resume an existing stream. The group already exists and the
    chart's `autoCreateGroup` is off, so neither `CreateLogGroup`, `PutRetentionPolicy` nor the
    account-wide `DescribeLogGroups` is granted.
    """
    return policy_document(
        allow(
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        )
    )


# --------------------------------------------------------------------------------------------------
# Chart values: kube-prometheus-stack (and its subcharts)


def _operator_values() -> dict[str, Any]:
    """The operator runs one replica (it has no HA mode); its webhook cert job is bounded too."""
    return {
        # Beside the chart's kubelet monitor (see `kubelet.namespace` in the stack's values).
        "kubeletService": {"enabled": True, "namespace": MONITORING},
        "resources": resources("100m", "256Mi", "500m"),
        "securityContext": RESTRICTED_POD,
        "containerSecurityContext": RESTRICTED_CONTAINER,
        "admissionWebhooks": {"patch": {"resources": resources("50m", "64Mi", "200m")}},
        # The config-reloader sidecar runs in every Prometheus and Alertmanager pod.
        "prometheusConfigReloader": {"resources": resources("50m", "64Mi", "200m")},
    }


# Namespaces whose monitors and rules stay cluster-wide besides the platform's: `kube-system`
# (the kubelet's and CoreDNS' own objects, if any) and `default` (where the chart puts the API
# server's monitor when namespace selectors are ignored). No tenant can claim either.
UNSCOPED_SYSTEM_NAMESPACES = ("default", "kube-system")
# prometheus-operator's kinds that enforcement applies to (ObjectReference.resource).
ENFORCED_RESOURCES = ("podmonitors", "probes", "prometheusrules", "servicemonitors")
NAMESPACE_LABEL = "namespace"


def tenant_scoping(platform_namespaces: tuple[str, ...]) -> dict[str, Any]:
    """prometheusSpec fields that keep a tenant's monitors and rules inside its namespace.

    - `ignoreNamespaceSelectors`: a ServiceMonitor or PodMonitor finds targets only in its own
      namespace, whatever its `namespaceSelector` says (no scraping another team's pods).
    - `enforcedNamespaceLabel: namespace`: every series scraped through a monitor is labelled
      `namespace` with the monitor's namespace, and every PrometheusRule's
      expressions get `namespace="<its namespace>"` added to each selector, its alerts the label
      too: a rule evaluates over its own namespace's series only, and its alerts route as its own.
    - `excludedFromEnforcement`: the platform's namespaces, whose rules and monitors are about
      the whole cluster (kube-state-metrics, node-exporter, the chart's default rules).
    """
    unscoped = sorted({*platform_namespaces, *UNSCOPED_SYSTEM_NAMESPACES})
    return {
        "ignoreNamespaceSelectors": True,
        "enforcedNamespaceLabel": NAMESPACE_LABEL,
        "excludedFromEnforcement": [
            {"group": "monitoring.coreos.com", "resource": resource, "namespace": namespace}
            for namespace in unscoped
            for resource in ENFORCED_RESOURCES
        ],
    }


def _prometheus_values(
    config: ObservabilityConfig, platform_namespaces: tuple[str, ...] = ()
) -> dict[str, Any]:
    prometheus = config.prometheus
    return {
        "podDisruptionBudget": {"enabled": prometheus.replicas > 1},
        "prometheusSpec": {
            "replicas": prometheus.replicas,
            "retention": prometheus.retention,
            "resources": resources("500m", "2Gi", "2"),
            "securityContext": PROMETHEUS_POD,
            "storageSpec": {
                "volumeClaimTemplate": {
                    "spec": {
                        "storageClassName": STORAGE_CLASS,
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": prometheus.storage_size}},
                    }
                }
            },
            # Select monitors and rules from every namespace without requiring the chart's
            # `release` label: tenants and the delivery layer just create them.
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            # ... but each tenant's only over its own namespace.
            **tenant_scoping(platform_namespaces),
        },
    }


# Alert routing (components/insight/routing.py builds the objects): the platform's
# AlertmanagerConfig in the monitoring namespace is the Alertmanager's top-level configuration;
# tenants' AlertmanagerConfigs carry the routing label and live in tenant-labelled namespaces.
PLATFORM_ALERTMANAGER_CONFIG = "platform-alerts"
ALERT_ROUTING_LABEL = "paved-road/alert-routing"
ALERT_RECEIVER_SECRET = "alert-receivers"
SMTP_PASSWORD_KEY = "smtp-password"


def monitoring_openings(mail_server: Optional[MailServerConfig] = None) -> Openings:
    """The monitoring namespace's network openings; with e-mail receivers, the Alertmanager
    also reaches the mail server's port (only HTTPS is open otherwise)."""
    openings = openings_for(MONITORING)
    if mail_server is None:
        return openings
    port = int(mail_server.smarthost.rsplit(":", 1)[1])
    return dataclasses.replace(
        openings,
        internet_ports=tuple(sorted({*openings.internet_ports, port})),
        why=f"{openings.why}; the mail server of e-mail alerts (port {port})",
    )


def alert_routing(mail_server: Optional[MailServerConfig] = None) -> dict[str, Any]:
    """alertmanagerSpec fields that merge the tenants' routing trees under the platform's.

    - `alertmanagerConfiguration`: the platform's AlertmanagerConfig is the top-level tree (the
      operator enforces no namespace on it), with the SMTP server every e-mail receiver uses.
    - `alertmanagerConfigSelector` / `alertmanagerConfigNamespaceSelector`: the tenants' configs,
      by the routing label, in tenants' namespaces.
    - `alertmanagerConfigMatcherStrategy: OnNamespace`: the operator sets `namespace="<the
      config's namespace>"` on each tenant config's top route and inhibition rules, replacing any
      `namespace` matcher it has: a team's tree only ever sees its own namespaces' alerts.
    """
    configuration: dict[str, Any] = {"name": PLATFORM_ALERTMANAGER_CONFIG}
    if mail_server is not None:
        host, port = mail_server.smarthost.rsplit(":", 1)
        smtp: dict[str, Any] = {
            "from": mail_server.from_address,
            "smartHost": {"host": host, "port": port},
            "requireTLS": True,
        }
        if mail_server.username is not None:
            smtp["authUsername"] = mail_server.username
            smtp["authPassword"] = {"name": ALERT_RECEIVER_SECRET, "key": SMTP_PASSWORD_KEY}
        configuration["global"] = {"smtp": smtp}
    return {
        "alertmanagerConfiguration": configuration,
        "alertmanagerConfigSelector": {"matchLabels": {ALERT_ROUTING_LABEL: "tenant"}},
        "alertmanagerConfigNamespaceSelector": {
            "matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]
        },
        "alertmanagerConfigMatcherStrategy": {"type": "OnNamespace"},
    }


def _alertmanager_values(
    replicas: int, mail_server: Optional[MailServerConfig] = None
) -> dict[str, Any]:
    return {
        "podDisruptionBudget": {"enabled": replicas > 1},
        "alertmanagerSpec": {
            **alert_routing(mail_server),
            "replicas": replicas,
            "resources": resources("50m", "128Mi", "200m"),
            "securityContext": PROMETHEUS_POD,
            # Silences and notification state survive a restart.
            "storage": {
                "volumeClaimTemplate": {
                    "spec": {
                        "storageClassName": STORAGE_CLASS,
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "2Gi"}},
                    }
                }
            },
        },
    }


def _grafana_values() -> dict[str, Any]:
    """One replica: Grafana keeps its state in a local SQLite database."""
    return {
        "enabled": True,
        "admin": {
            "existingSecret": GRAFANA_ADMIN_SECRET,
            "userKey": "admin-user",
            "passwordKey": "admin-password",
        },
        "resources": resources("100m", "256Mi", "500m"),
        # The dashboard sidecar loads ConfigMaps labelled `grafana_dashboard: "1"` from this
        # namespace only (the chart's default is every namespace, where a tenant could plant
        # one under another team's dashboard uid); the datasource keeps a fixed uid that
        # dashboards name. Set here, not left to chart defaults, as insight relies on them.
        "sidecar": {
            "resources": resources("50m", "128Mi", "200m"),
            "dashboards": {
                "enabled": True,
                "label": GRAFANA_DASHBOARD_LABEL,
                "labelValue": GRAFANA_DASHBOARD_LABEL_VALUE,
                "searchNamespace": [MONITORING],
            },
            "datasources": {"uid": GRAFANA_DATASOURCE_UID},
        },
        "securityContext": {**RESTRICTED_POD, "runAsUser": 472, "runAsGroup": 472, "fsGroup": 472},
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The chown init container runs as root; the Helm test pod has no resource limits.
        "initChownData": {"enabled": False},
        "testFramework": {"enabled": False},
    }


# Namespace labels kube-state-metrics exports on `kube_namespace_labels` (as
# `label_paved_road_tenant`, `label_paved_road_cost_center`): cost by tenant and cost center
# (components/insight/cost.py) joins on them.
NAMESPACE_LABELS_EXPORTED = ("paved-road/tenant", "paved-road/cost-center")


def _kube_state_metrics_values() -> dict[str, Any]:
    return {
        "metricLabelsAllowlist": [f"namespaces=[{','.join(NAMESPACE_LABELS_EXPORTED)}]"],
        "resources": resources("50m", "128Mi", "200m"),
        "securityContext": {"enabled": True, **RESTRICTED_POD},
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }


def _node_exporter_values() -> dict[str, Any]:
    """Host network, PID and root filesystem stay (they are what node-exporter measures); the
    process itself runs as nobody with no capabilities."""
    return {
        "resources": resources("50m", "64Mi", "200m"),
        "securityContext": RESTRICTED_POD,
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }


# --------------------------------------------------------------------------------------------------
# Chart values: aws-for-fluent-bit


def _fluent_bit_values(
    context: ClusterContext, log_group_name: pulumi.Input[str], role_arn: pulumi.Input[str]
) -> dict[str, Any]:
    """Only the `cloudwatch_logs` output, into the platform's log group, as the IRSA role.

    Fluent Bit runs as root: it reads root-owned container logs and keeps its read positions in
    a database under the node's /var/log. It gets no capabilities and cannot escalate.
    """
    return {
        "serviceAccount": {
            "create": True,
            "name": FLUENT_BIT_SERVICE_ACCOUNT,
            "annotations": irsa_annotation(role_arn),
        },
        "cloudWatchLogs": {
            "enabled": True,
            "region": context.region,
            "logGroupName": log_group_name,
            "logStreamPrefix": "fluentbit-",
            # The group exists already, with its retention; the role may not create groups.
            "autoCreateGroup": False,
        },
        "cloudWatch": {"enabled": False},
        "firehose": {"enabled": False},
        "kinesis": {"enabled": False},
        "elasticsearch": {"enabled": False},
        "resources": resources("50m", "128Mi", "500m"),
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        # Logs of every node, tainted ones included, before anything else is scheduled there.
        "priorityClassName": "system-node-critical",
        "tolerations": [{"operator": "Exists"}],
    }
