"""The PrometheusRule object every insight rule family is delivered in.

Rule groups are built as plain data by their own modules (anomaly, capacity), so tests can hand
them to promtool; this module only wraps them in the prometheus-operator resource.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.insight import contract

API_VERSION = "monitoring.coreos.com/v1"
KIND = "PrometheusRule"
# Platform-wide alerts carry no `tenant` label: they route to the platform's receivers.
PLATFORM_TEAM_LABEL = "team"
PLATFORM_TEAM = "platform"


def alert(
    name: str,
    expr: str,
    *,
    labels: Mapping[str, str],
    summary: str,
    description: str,
    runbook_base_url: str,
    dashboard: str,
    for_: str,
) -> dict[str, Any]:
    """One alerting rule carrying the contract's annotations (runbook anchored at its name)."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": dict(labels),
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": contract.runbook_url(runbook_base_url, name),
            "dashboard": dashboard,
        },
    }


def tenant_labels(
    tenant: str, namespace: str, kind: str, app: Optional[str] = None
) -> dict[str, str]:
    """What a tenant alert's route matches: the ticket severity, its kind, tenant and namespace
    (and app for per-app alerts)."""
    labels = {
        "severity": contract.SEVERITY_TICKET,
        contract.KIND_LABEL: kind,
        contract.TENANT_LABEL: tenant,
        contract.NAMESPACE_LABEL: namespace,
    }
    if app is not None:
        labels[contract.APP_LABEL] = app
    return labels


def platform_labels(kind: str) -> dict[str, str]:
    return {
        "severity": contract.SEVERITY_TICKET,
        contract.KIND_LABEL: kind,
        PLATFORM_TEAM_LABEL: PLATFORM_TEAM,
    }


def prometheus_rule(
    logical_name: str,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    groups: Sequence[dict[str, Any]],
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    depends_on: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """A PrometheusRule, created after `depends_on`: the release that brings its CRD and, for a
    tenant, its namespace."""
    return k8s.apiextensions.CustomResource(
        logical_name,
        api_version=API_VERSION,
        kind=KIND,
        metadata={"name": name, "namespace": namespace, "labels": dict(labels)},
        spec={"groups": list(groups)},
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on)),
    )
