"""Rightsizing: what a tenant's pods ask for against what they use, over a week.

The cheapest saving is a smaller request: a node is paid for what pods reserve, not what they
burn. These recording rules, one group per tenant namespace, keep the namespace's CPU and memory
requests and usage (as `sum`s, then averaged over 7 days), their ratio (a week of 0.2 means
four fifths of the reservation sits idle), and the quota's headroom (the share of the hard
limit still unrequested, the tightest quota's if several). The tenant's dashboard plots them (components/insight/dashboards.py).

Sources, as kube-prometheus-stack scrapes them: kube-state-metrics'
`kube_pod_container_resource_requests{resource="cpu"|"memory"}` (counted for Running pods only,
`kube_pod_status_phase`) and `kube_resourcequota{type="used"|"hard"}`; cAdvisor's
`container_cpu_usage_seconds_total` and `container_memory_working_set_bytes` (containers only:
`container!=""` drops the pod-level cgroup series, `image!=""` the pause container's).
Every series carries `namespace`, the label a tenant's rules are scoped by.
"""

from __future__ import annotations

from typing import Any

from components.insight import contract

WINDOW = "7d"
# The 7-day averages read the per-namespace sums recorded every evaluation.
RESOURCES = ("cpu", "memory")
QUOTA_RESOURCES = ("requests.cpu", "requests.memory")


def record(resource: str, what: str, window: str = "") -> str:
    """A record name, `namespace:<resource>_<what>:<sum|avg_over_time_7d>`."""
    return f"namespace:{resource}_{what}:{'avg_over_time_' + window if window else 'sum'}"


RATIO = "namespace:{resource}_usage_over_requests:ratio_7d"
HEADROOM = "namespace_resource:quota_headroom:ratio"


def ratio_record(resource: str) -> str:
    return RATIO.format(resource=resource)


def tenant_rule_groups(tenant: str, namespace: str) -> list[dict[str, Any]]:
    """A tenant namespace's rightsizing records, labelled with the tenant."""
    labels = {contract.TENANT_LABEL: tenant}
    ns = f'namespace="{namespace}"'
    running = f'max by (namespace, pod) (kube_pod_status_phase{{{ns}, phase="Running"}} == 1)'

    def requests(resource: str) -> str:
        return (
            f"sum by (namespace) (\n  kube_pod_container_resource_requests{{{ns}, "
            f'resource="{resource}"}}\n  * on(namespace, pod) group_left() {running}\n)'
        )

    containers = f'{ns}, container!="", image!=""'
    usage = {
        "cpu": f"sum by (namespace) (rate(container_cpu_usage_seconds_total{{{containers}}}[5m]))",
        "memory": f"sum by (namespace) (container_memory_working_set_bytes{{{containers}}})",
    }
    rules: list[dict[str, Any]] = []
    for resource in RESOURCES:
        rules += [
            {
                "record": record(resource, "requests"),
                "expr": requests(resource),
                "labels": dict(labels),
            },
            {"record": record(resource, "usage"), "expr": usage[resource], "labels": dict(labels)},
        ]
    for resource in RESOURCES:
        for what in ("requests", "usage"):
            rules.append(
                {
                    "record": record(resource, what, WINDOW),
                    "expr": f"avg_over_time({record(resource, what)}{{{ns}}}[{WINDOW}])",
                    "labels": dict(labels),
                }
            )
        rules.append(
            {
                "record": ratio_record(resource),
                "expr": (
                    f"{record(resource, 'usage', WINDOW)}{{{ns}}}\n"
                    f"/ on(namespace) ({record(resource, 'requests', WINDOW)}{{{ns}}} > 0)"
                ),
                "labels": dict(labels),
            }
        )
    escaped = "|".join(r.replace(".", "\\\\.") for r in QUOTA_RESOURCES)
    quota = f'{ns}, resource=~"{escaped}"'
    keys = "namespace, resourcequota, resource"
    hard = f'kube_resourcequota{{{quota}, type="hard"}}'
    used = f'kube_resourcequota{{{quota}, type="used"}}'
    rules.append(
        {
            "record": HEADROOM,
            "expr": (
                f"min by (namespace, resource) (\n  ({hard} - on({keys}) {used})\n"
                f"  / on({keys}) ({hard} > 0)\n)"
            ),
            "labels": dict(labels),
        }
    )
    return [{"name": "rightsizing", "rules": rules}]
