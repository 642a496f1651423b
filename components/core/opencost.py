"""Cost allocation: OpenCost prices what every pod requests and uses, from the in-cluster Prometheus.

OpenCost reads the cluster's usage from Prometheus (kube-state-metrics and cAdvisor, which
kube-prometheus-stack already scrapes), prices each node from AWS's public price list, and
exports its own metrics (`node_cpu_hourly_cost`, `node_ram_hourly_cost`,
`container_cpu_allocation`, `container_memory_allocation_bytes`, `pv_hourly_cost`, …), which
Prometheus scrapes back through the chart's ServiceMonitor. The cost of a namespace, a tenant
or a cost center is then a PromQL query over them.

Only the API and metrics run: the UI (nginx, which writes to its root filesystem) and the MCP
server stay off, so the pod meets Pod Security `restricted`; its one writable path is an
emptyDir for the config files OpenCost writes at start. It needs no AWS identity: the on-demand
and spot prices it uses are public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.core.base import (
    RESTRICTED_CONTAINER,
    ClusterContext,
    helm_release,
    ordered_after,
    platform_namespace,
    resources,
)
from components.core.observability import MONITORING, PROMETHEUS_PORT
from components.core.observability import FULLNAME as PROMETHEUS_FULLNAME
from components.versions import CHARTS

NAMESPACES = ("opencost",)
(OPENCOST,) = NAMESPACES
CHART = CHARTS["opencost"]
FULLNAME = "opencost"
# The exporter's API and /metrics port (chart `opencost.exporter.apiPort`).
API_PORT = 9003
# Where OpenCost writes its configuration files at start. Set explicitly: without CONFIG_PATH
# some of its code (the cloud providers' pricing config) falls back to /models/, which the
# read-only root filesystem would refuse.
CONFIG_PATH = "/var/configs"
# A fixed non-root user, so `restricted` admits the pod whatever the image's USER says.
USER_ID = 1001


def api_address(namespace: str = OPENCOST) -> str:
    """The in-cluster URL of OpenCost's allocation API (`/allocation`, `/assets`)."""
    return f"http://{FULLNAME}.{namespace}.svc.cluster.local:{API_PORT}"


@dataclass(frozen=True)
class OpenCostArgs:
    context: ClusterContext
    # kube-prometheus-stack's release: the ServiceMonitor CRD the chart's monitor needs.
    prometheus_operator: pulumi.Resource


class OpenCost(pulumi.ComponentResource):
    api_url: str
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: OpenCostArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:OpenCost", name, None, opts)
        context = args.context
        namespace = platform_namespace(
            f"{name}-namespace", OPENCOST, parent=self, provider=context.provider
        )
        self.release = helm_release(
            f"{name}-opencost",
            CHART,
            namespace=namespace.metadata.name,
            values=opencost_values(context.cluster_name),
            parent=self,
            provider=context.provider,
            depends_on=[*ordered_after(opts), namespace, args.prometheus_operator],
            release_name=FULLNAME,
        )
        self.api_url = api_address()
        self.register_outputs({"apiUrl": self.api_url})


def opencost_values(cluster_name: str) -> dict[str, Any]:
    """Values of the `opencost` chart: the in-cluster Prometheus as its source, scraped back
    by a ServiceMonitor, AWS list prices, API and metrics only, restricted pod security."""
    return {
        "fullnameOverride": FULLNAME,
        # The DNS suffix of in-cluster Service names (the chart builds Prometheus' address
        # with it), not the EKS cluster's name.
        "clusterName": "cluster.local",
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "extraVolumes": [{"name": "configs", "emptyDir": {}}],
        "opencost": {
            "exporter": {
                # Series carry cluster_id: the EKS cluster's name, one per stack.
                "defaultClusterId": cluster_name,
                "replicas": 1,
                "resources": resources("50m", "512Mi", "500m"),
                "securityContext": RESTRICTED_CONTAINER,
                "extraVolumeMounts": [{"name": "configs", "mountPath": CONFIG_PATH}],
                "env": [{"name": "CONFIG_PATH", "value": f"{CONFIG_PATH}/"}],
                # No credentials: AWS on-demand and spot list prices are public.
                "aws": {"secret_access_key": "", "access_key_id": ""},
            },
            "prometheus": {
                "internal": {
                    "enabled": True,
                    "serviceName": f"{PROMETHEUS_FULLNAME}-prometheus",
                    "namespaceName": MONITORING,
                    "port": PROMETHEUS_PORT,
                    "scheme": "http",
                },
                "external": {"enabled": False},
            },
            "metrics": {
                "serviceMonitor": {"enabled": True, "scrapeInterval": "60s"},
            },
            "ui": {"enabled": False},
            "mcp": {"enabled": False},
            "cloudCost": {"enabled": False},
        },
        # A cost report is not on anyone's serving path: one replica, even in production;
        # its history lives in Prometheus, not in the pod.
        "pdb": {"enabled": False},
    }
