"""Capacity alerts that fire before exhaustion, with the predicted time in the description.

Each alert's value is the number of seconds left at the current growth, so the description says
*when* (`humanizeDuration`); the condition is `predict_linear` over the recent trend, as
kube-prometheus' KubePersistentVolumeFillingUp does, and both read the same least-squares slope
(`deriv` is `predict_linear`'s slope), so a firing alert always has a finite, positive time.

- A tenant's ResourceQuota (cpu, memory, pods): kube-state-metrics' `kube_resourcequota` series
  (labels `namespace`, `resourcequota`, `resource`, `type` = `used` | `hard`) predicted to reach
  the hard limit within `QUOTA_HORIZON`. The series carry the quota's namespace in `namespace`,
  so the rule works in the tenant's namespace, where the Prometheus enforces that label.
- A PersistentVolumeClaim running out of space within `VOLUME_HORIZON` (the kubelet's
  `kubelet_volume_stats_available_bytes`, labelled with the claim's `namespace`).
- The cluster: pods' CPU or memory requests above `CLUSTER_THRESHOLD` of the nodes' allocatable
  within `CLUSTER_HORIZON`, for the platform team (the node group is too small).

Quota and volume alerts route to the tenant, the cluster's to the platform team.
"""

from __future__ import annotations

from typing import Any

from components.insight import contract, rightsizing
from components.insight.anomaly import platform_dashboard
from components.insight.rules import alert, platform_labels, tenant_labels

DAY = 24 * 3600
QUOTA_HORIZON_DAYS = 7
VOLUME_HORIZON_DAYS = 4
CLUSTER_HORIZON_DAYS = 7
CLUSTER_THRESHOLD = 0.85
# How much history the trend is fitted over: a day for slow quotas and nodes (a daily cycle
# does not read as growth), six hours for volumes (kube-prometheus' choice).
QUOTA_TREND = "1d"
VOLUME_TREND = "6h"
CLUSTER_TREND = "1d"
# A capacity trend is only worth a ticket once it has held for an hour.
FOR = "1h"

# The ResourceQuota keys the tenant's quota sets for cpu, memory and pods (components/tenant.py).
QUOTA_RESOURCES = ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "pods")

CLUSTER_REQUESTS_RECORD = "cluster:kube_pod_container_resource_requests:ratio_allocatable"


def _quota_resources() -> str:
    return "|".join(r.replace(".", "\\\\.") for r in QUOTA_RESOURCES)


def tenant_rule_groups(
    tenant: str,
    namespace: str,
    *,
    runbook_base_url: str,
    grafana_url: str = contract.DEFAULT_GRAFANA_URL,
) -> list[dict[str, Any]]:
    """A tenant namespace's quota and volume alerts, and its rightsizing records (delivered in
    the same PrometheusRule: both read the namespace's quota)."""
    labels = tenant_labels(tenant, namespace, contract.KIND_CAPACITY)
    dashboard = contract.dashboard_url(grafana_url, tenant)
    selector = f'namespace="{namespace}", resource=~"{_quota_resources()}"'
    used = f'kube_resourcequota{{{selector}, type="used"}}'
    hard = f'kube_resourcequota{{{selector}, type="hard"}}'
    keys = "namespace, resourcequota, resource"
    horizon = QUOTA_HORIZON_DAYS * DAY
    quota = (
        f"({hard} - on({keys}) {used})\n"
        f"/ on({keys}) deriv({used}[{QUOTA_TREND}])\n"
        f"and on({keys})\n"
        f"predict_linear({used}[{QUOTA_TREND}], {horizon}) > on({keys}) {hard}"
    )
    available = f'kubelet_volume_stats_available_bytes{{namespace="{namespace}"}}'
    volume = (
        f"{available} / -deriv({available}[{VOLUME_TREND}])\n"
        f"and predict_linear({available}[{VOLUME_TREND}], {VOLUME_HORIZON_DAYS * DAY}) < 0"
    )
    return [
        {
            "name": "capacity",
            "rules": [
                alert(
                    "TenantQuotaFillingUp",
                    quota,
                    labels=labels,
                    summary=(
                        f"{namespace}: quota {{{{ $labels.resource }}}} will be used up "
                        f"within {QUOTA_HORIZON_DAYS} days"
                    ),
                    description=(
                        "At its growth over the last day, {{ $labels.resource }} of quota "
                        "{{ $labels.resourcequota }} in namespace {{ $labels.namespace }} "
                        "reaches its hard limit in {{ $value | humanizeDuration }}; then new "
                        "pods are refused. Scale down what is not needed, or raise the quota "
                        "in the tenant file."
                    ),
                    runbook_base_url=runbook_base_url,
                    dashboard=dashboard,
                    for_=FOR,
                ),
                alert(
                    "TenantVolumeFillingUp",
                    volume,
                    labels=labels,
                    summary=(
                        f"{namespace}: volume {{{{ $labels.persistentvolumeclaim }}}} will be "
                        f"full within {VOLUME_HORIZON_DAYS} days"
                    ),
                    description=(
                        "At its growth over the last six hours, PersistentVolumeClaim "
                        "{{ $labels.persistentvolumeclaim }} in namespace "
                        "{{ $labels.namespace }} is full in {{ $value | humanizeDuration }}. "
                        "Delete or compact data, or grow the claim."
                    ),
                    runbook_base_url=runbook_base_url,
                    dashboard=dashboard,
                    for_=FOR,
                ),
            ],
        },
        *rightsizing.tenant_rule_groups(tenant, namespace),
    ]


def platform_rule_groups(
    *, runbook_base_url: str, grafana_url: str = contract.DEFAULT_GRAFANA_URL
) -> list[dict[str, Any]]:
    """The cluster's requested share of allocatable CPU and memory, per resource.

    Requests count only for pods that hold them (Pending or Running), as kube-prometheus'
    `namespace_cpu:kube_pod_container_resource_requests:sum` does: finished pods keep their
    series in kube-state-metrics but no longer use the node.
    """
    resources = 'resource=~"cpu|memory"'
    active = 'max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"} == 1)'
    requested = (
        f"sum by (resource) (\n  kube_pod_container_resource_requests{{{resources}}}\n"
        f"  * on(namespace, pod) group_left() {active}\n)"
    )
    allocatable = f"sum by (resource) (kube_node_status_allocatable{{{resources}}})"
    ratio = CLUSTER_REQUESTS_RECORD
    slope = f"clamp_min(deriv({ratio}[{CLUSTER_TREND}]), 0)"
    # Already above the threshold: the time left is 0 (a negative over a zero slope is -Inf).
    seconds = f"clamp_min(({CLUSTER_THRESHOLD} - {ratio}) / {slope}, 0)"
    horizon = CLUSTER_HORIZON_DAYS * DAY
    percent = int(CLUSTER_THRESHOLD * 100)
    return [
        {
            "name": "capacity-cluster",
            "rules": [
                {"record": ratio, "expr": f"{requested}\n/\n{allocatable}"},
                alert(
                    "ClusterRequestsNearAllocatable",
                    f"{seconds}\nand predict_linear({ratio}[{CLUSTER_TREND}], {horizon}) "
                    f"> {CLUSTER_THRESHOLD}",
                    labels=platform_labels(contract.KIND_CAPACITY),
                    summary=(
                        f"Cluster {{{{ $labels.resource }}}} requests will pass {percent}% "
                        f"of allocatable within {CLUSTER_HORIZON_DAYS} days"
                    ),
                    description=(
                        "At the growth of the last day, pods request more than "
                        f"{percent}% of the nodes' allocatable {{{{ $labels.resource }}}} in "
                        "{{ $value | humanizeDuration }} (0s: already). New pods will wait "
                        "for nodes: raise the node group's maximum size or instance type."
                    ),
                    runbook_base_url=runbook_base_url,
                    dashboard=platform_dashboard(grafana_url),
                    for_=FOR,
                ),
            ],
        }
    ]
