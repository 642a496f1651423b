"""Traces: an OpenTelemetry collector that receives apps' spans over OTLP and sends them to X-Ray.

Apps get the OpenTelemetry environment from the platform (components/apps.py): their SDK exports
to this collector's Service, with `tenant`, `app` and `version` as resource attributes, the same
names the metrics (`tenant`, `app` on the SLO series) and the logs (namespace and app label from
Fluent Bit) carry. The collector is the upstream chart in `deployment` mode running the contrib
image, since the `awsxray` exporter is a contrib component; it writes to X-Ray as its own IRSA
role, which may put trace segments and read sampling rules and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import TracingConfig
from components.core.base import (
    ClusterContext,
    helm_release,
    irsa_annotation,
    ordered_after,
    platform_namespace,
    resources,
    service_role,
)
from components.iam import allow, policy_document
from components.versions import CHARTS

NAMESPACES = ("tracing",)
(TRACING,) = NAMESPACES
CHART = CHARTS["opentelemetry-collector"]
# fullnameOverride: the Service (and so the endpoint apps are given) keeps this name.
FULLNAME = "opentelemetry-collector"
SERVICE_ACCOUNT = "opentelemetry-collector"
# The contrib distribution (the `awsxray` exporter) and its binary; the tag is the chart's
# appVersion unless set, and is pinned here to it.
IMAGE = "otel/opentelemetry-collector-contrib"
COMMAND = "otelcol-contrib"
OTLP_GRPC_PORT, OTLP_HTTP_PORT = 4317, 4318
OTLP_PORTS = (OTLP_GRPC_PORT, OTLP_HTTP_PORT)

# What the awsxray exporter calls: PutTraceSegments and PutTelemetryRecords, and the sampling
# APIs the X-Ray remote sampler reads. X-Ray grants these on no narrower resource than "*".
XRAY_ACTIONS = (
    "xray:GetSamplingRules",
    "xray:GetSamplingStatisticSummaries",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
)


def otlp_endpoint(namespace: str = TRACING) -> str:
    """The collector's OTLP/HTTP address, as apps' SDKs are given it."""
    return f"http://{FULLNAME}.{namespace}.svc.cluster.local:{OTLP_HTTP_PORT}"


def xray_policy() -> str:
    return policy_document(allow(list(XRAY_ACTIONS), ["*"]))


@dataclass(frozen=True)
class TracingArgs:
    context: ClusterContext
    config: TracingConfig


class Tracing(pulumi.ComponentResource):
    otlp_endpoint: str
    release: k8s.helm.v3.Release

    def __init__(
        self, name: str, args: TracingArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:core:Tracing", name, None, opts)
        context = args.context
        namespace = platform_namespace(
            f"{name}-namespace", TRACING, parent=self, provider=context.provider
        )
        role = service_role(
            f"{name}-collector-irsa",
            context,
            role_suffix="otel-collector",
            namespace=TRACING,
            service_account=SERVICE_ACCOUNT,
            policy=xray_policy(),
            parent=self,
        )
        self.release = helm_release(
            f"{name}-opentelemetry-collector",
            CHART,
            namespace=namespace.metadata.name,
            values=collector_values(context.region, role.arn, context.production),
            parent=self,
            provider=context.provider,
            depends_on=[*ordered_after(opts), namespace, role],
            release_name=FULLNAME,
        )
        self.otlp_endpoint = otlp_endpoint()
        self.register_outputs({"otlpEndpoint": self.otlp_endpoint})


def collector_config(region: str) -> dict[str, Any]:
    """The whole collector configuration: OTLP in, batched, X-Ray out; nothing else listens.

    Given as `alternateConfig`, which replaces the chart's default config instead of merging
    with it (the default's Jaeger, Zipkin and Prometheus receivers and debug exporters would
    otherwise stay). `health_check` is what the chart's probes call.
    """
    pod_ip = "${env:MY_POD_IP}"
    return {
        "extensions": {"health_check": {"endpoint": f"{pod_ip}:13133"}},
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"{pod_ip}:{OTLP_GRPC_PORT}"},
                    "http": {"endpoint": f"{pod_ip}:{OTLP_HTTP_PORT}"},
                }
            }
        },
        "processors": {
            "memory_limiter": {
                "check_interval": "5s",
                "limit_percentage": 80,
                "spike_limit_percentage": 25,
            },
            "batch": {},
        },
        "exporters": {"awsxray": {"region": region}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["awsxray"],
                }
            },
        },
    }


def collector_values(region: str, role_arn: pulumi.Input[str], production: bool) -> dict[str, Any]:
    """Values of the `opentelemetry-collector` chart: a Deployment (two in production), the
    contrib image, OTLP ports only, restricted pod security, the IRSA role."""
    return {
        "mode": "deployment",
        "fullnameOverride": FULLNAME,
        "replicaCount": 2 if production else 1,
        "image": {"repository": IMAGE, "tag": CHART.app_version},
        "command": {"name": COMMAND},
        "serviceAccount": {
            "create": True,
            "name": SERVICE_ACCOUNT,
            "annotations": irsa_annotation(role_arn),
        },
        "alternateConfig": collector_config(region),
        "ports": {
            name: {"enabled": False}
            for name in ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")
        },
        # memory_limiter's percentages are of this limit (and GOMEMLIMIT is 80% of it).
        "resources": resources("100m", "512Mi", "500m"),
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
