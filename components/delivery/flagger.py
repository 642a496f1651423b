"""Flagger, the alternative release engine: chart values and the objects it reads.

Values are the `flagger` chart's own keys (fluxcd/flagger charts/flagger/values.yaml and
templates/deployment.yaml at the pinned 1.44.0). The chart's crds/ directory installs the CRDs
(Helm never deletes those), so `crd.create` stays off. The controller:

- shifts traffic through the Gateway API (`meshProvider: gatewayapi:v1`, on the tenants' Gateway
  of components/core/gateway.py) and queries the platform's Prometheus (`metricsServer`);
- refuses cross-namespace references (`noCrossNamespaceRefs`): a Canary may name only the
  MetricTemplates and AlertProviders of its own namespace, so no tenant's release can read
  another tenant's Slack webhook or a template pointed at an address of its choosing. The
  platform therefore writes its templates into each tenant namespace that releases with Flagger,
  built from the same queries as the Argo Rollouts ClusterAnalysisTemplates (analysis.py);
- runs as the image's user 10001 with a read-only root filesystem, no privilege escalation, no
  capabilities and the runtime's seccomp profile (the chart has no pod-level context, so all of
  it is on the container); two replicas with leader election and a disruption budget in
  production;
- calls no AWS API: it needs no IAM role.

Alerts: the Canary's `analysis.alerts` send Flagger's own events to the tenant's Slack receiver
(an AlertProvider whose webhook URL arrives through the tenant's SecretStore, under the key
`address` Flagger reads). Flagger grades its events `info` (a release started, promotion
finished), `warn` (waiting for approval, a manual rollback) and `error` (failed checks threshold
reached, progress deadline exceeded, promotion failed); an alert at `info` receives all three.
"""

from __future__ import annotations

from typing import Any, Optional

from components.delivery import analysis

NAMESPACES = ("flagger-system",)
NAMESPACE = NAMESPACES[0]
RELEASE_NAME = "flagger"
SERVICE_ACCOUNT = "flagger"
API_VERSION = "flagger.app/v1beta1"
PROVIDER = "gatewayapi:v1"
# The kubernetes provider: no traffic to route (a consumer), blue/green by iterations only.
NO_ROUTING = "kubernetes"
# The image's own user (the chart's `securityContext.context.runAsUser`).
IMAGE_USER = 10001
# A release aborts at its third failed check, as a Rollout's analysis does at its third failed
# measurement (analysis.FAILURE_LIMIT failures are tolerated).
THRESHOLD = analysis.FAILURE_LIMIT + 1
# Flagger's grades of its own events; `info` receives every grade.
ALERT_SEVERITY = "info"

# The templates' placeholders as Flagger's query templates spell them (MetricTemplateModel:
# `namespace`, `target` are functions; `variables` the Canary's templateVariables). Flagger names
# the new version's Service `<target>-canary`, for canary and blue/green alike.
PLACEHOLDERS = {
    "namespace": "{{ namespace }}",
    "service-name": "{{ target }}-canary",
    "consumer-group": "{{ variables.consumerGroup }}",
    "topic": "{{ variables.topic }}",
    "objective": "{{ variables.objective }}",
}
TEMPLATE_VARIABLES = {"consumer-group": "consumerGroup", "topic": "topic", "objective": "objective"}


def chart_values(
    *, production: bool, prometheus_url: str, metrics: bool, cluster_name: str
) -> dict[str, Any]:
    replicas = 2 if production else 1
    return {
        "fullnameOverride": RELEASE_NAME,
        "meshProvider": PROVIDER,
        "metricsServer": prometheus_url,
        "noCrossNamespaceRefs": True,
        "crd": {"create": False},
        # Every alert names its cluster.
        "clusterName": cluster_name,
        "leaderElection": {"enabled": replicas > 1, "replicaCount": replicas},
        "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "128Mi"},
        },
        "securityContext": {
            "enabled": True,
            "context": {
                "runAsNonRoot": True,
                "runAsUser": IMAGE_USER,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
        "serviceMonitor": {"enabled": metrics},
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "rbac": {"create": True},
    }


def query(template: str) -> str:
    """The template's PromQL with Flagger's placeholders: one definition for both engines."""
    return analysis.prometheus_queries(lambda name: PLACEHOLDERS[name])[template]


def metric_template_spec(template: str, prometheus_url: str) -> dict[str, Any]:
    return {"provider": {"type": "prometheus", "address": prometheus_url}, "query": query(template)}


def metric(
    template: str,
    *,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    window: str = analysis.RATE_WINDOW,
) -> dict[str, Any]:
    """A Canary's check against the template of its own namespace. The query's window (the
    templates' RATE_WINDOW, the burn rate's own) is stated as the metric's `interval` too."""
    bounds: dict[str, Any] = {}
    if minimum is not None:
        bounds["min"] = minimum
    if maximum is not None:
        bounds["max"] = maximum
    return {
        "name": template,
        "templateRef": {"name": template},
        "thresholdRange": bounds,
        "interval": window,
    }


def alert_provider_spec(channel: Optional[str], secret: str) -> dict[str, Any]:
    """A Slack AlertProvider whose webhook URL is the `address` key of `secret`."""
    spec: dict[str, Any] = {"type": "slack", "username": "flagger", "secretRef": {"name": secret}}
    if channel:
        spec["channel"] = channel
    return spec


def alerts(providers: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"name": provider, "severity": ALERT_SEVERITY, "providerRef": {"name": provider}}
        for provider in providers
    ]
