"""Cost allocation as PromQL: what each namespace, tenant and cost center costs per hour.

OpenCost (components/core/opencost.py) exports, per container, the CPU and memory it is
allocated (the larger of request and usage: `container_cpu_allocation` in cores,
`container_memory_allocation_bytes`) and, per node, their hourly prices (`node_cpu_hourly_cost`
per core, `node_ram_hourly_cost` per GiB). Their product, summed, is the namespace's cost; the
namespace's labels `paved-road/tenant` and `paved-road/cost-center`, which kube-state-metrics
exports on `kube_namespace_labels` (core observability allows them), carry it to the tenant and
the cost center. In US dollars per hour; `* 730` is a month. Persistent volumes and load
balancers are not included: AWS Budgets (components/cost.py) count every tagged resource.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.insight.rules import prometheus_rule
from components.kubernetes import MANAGED_BY_LABELS

NAME = "cost-allocation"
CPU = "namespace:opencost_cpu_hourly_cost:sum"
MEMORY = "namespace:opencost_memory_hourly_cost:sum"
NAMESPACE = "namespace:opencost_hourly_cost:sum"
TENANT = "tenant:opencost_hourly_cost:sum"
COST_CENTER = "cost_center:opencost_hourly_cost:sum"
# kube-state-metrics' names for the namespace labels paved-road/tenant and paved-road/cost-center.
TENANT_NAMESPACE_LABEL = "label_paved_road_tenant"
COST_CENTER_NAMESPACE_LABEL = "label_paved_road_cost_center"
GIB = 1024**3


def _by_label(source: str, target: str) -> str:
    """The namespaces' cost summed by one of their labels, renamed `target`."""
    joined = (
        f"{NAMESPACE}\n  * on(namespace) group_left({source})\n"
        f'  kube_namespace_labels{{{source}!=""}}'
    )
    return f'sum by ({target}) (\n  label_replace(\n  {joined},\n  "{target}", "$1", "{source}", "(.+)"\n  )\n)'


def rule_groups() -> list[dict[str, Any]]:
    return [
        {
            "name": NAME,
            "rules": [
                {
                    "record": CPU,
                    "expr": (
                        "sum by (namespace) (\n  container_cpu_allocation\n"
                        "  * on(node) group_left() node_cpu_hourly_cost\n)"
                    ),
                },
                {
                    "record": MEMORY,
                    "expr": (
                        f"sum by (namespace) (\n  container_memory_allocation_bytes / {GIB}\n"
                        "  * on(node) group_left() node_ram_hourly_cost\n)"
                    ),
                },
                {
                    # Either part alone still counts (a `+` would drop a namespace without one).
                    "record": NAMESPACE,
                    "expr": f'sum by (namespace) ({{__name__=~"{CPU}|{MEMORY}"}})',
                },
                {"record": TENANT, "expr": _by_label(TENANT_NAMESPACE_LABEL, "tenant")},
                {
                    "record": COST_CENTER,
                    "expr": _by_label(COST_CENTER_NAMESPACE_LABEL, "cost_center"),
                },
            ],
        }
    ]


def cost_rules(
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    *,
    namespace: str,
    operator: pulumi.Resource,
) -> k8s.apiextensions.CustomResource:
    """The records, in the monitoring namespace (whose rules see every namespace)."""
    return prometheus_rule(
        f"{NAME}-rules",
        name=NAME,
        namespace=namespace,
        labels=MANAGED_BY_LABELS,
        groups=rule_groups(),
        parent=parent,
        provider=provider,
        depends_on=[operator],
    )
