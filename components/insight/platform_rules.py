"""The platform team's own insight rules: anomalies of all apps' traffic together and the
cluster's capacity, in the monitoring namespace (whose rules see the whole cluster)."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import InsightsConfig
from components.insight import anomaly, capacity
from components.insight.contract import DEFAULT_GRAFANA_URL
from components.insight.rules import prometheus_rule
from components.kubernetes import MANAGED_BY_LABELS

NAME = "platform-insight"


def platform_rules(
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    *,
    namespace: str,
    operator: pulumi.Resource,
    config: InsightsConfig,
) -> k8s.apiextensions.CustomResource:
    base = config.runbook_base_url
    grafana = config.grafana_url or DEFAULT_GRAFANA_URL
    return prometheus_rule(
        f"{NAME}-rules",
        name=NAME,
        namespace=namespace,
        labels=MANAGED_BY_LABELS,
        groups=[
            *anomaly.platform_rule_groups(runbook_base_url=base, grafana_url=grafana),
            *capacity.platform_rule_groups(runbook_base_url=base, grafana_url=grafana),
        ],
        parent=parent,
        provider=provider,
        depends_on=[operator],
    )
