"""One Grafana dashboard per tenant: its apps' SLOs, traffic, releases and a way into their logs.

The dashboard is a ConfigMap in the monitoring namespace, labelled for kube-prometheus-stack's
Grafana dashboard sidecar (`grafana.sidecar.dashboards`, which core observability pins to that
namespace only: a tenant can create ConfigMaps in its own namespaces, and a labelled one there
could replace another team's dashboard under the same uid). Its uid is the one alerts link to (contract.dashboard_uid), and
its `app` variable is what `contract.dashboard_url(..., app)` sets, so an alert opens on its app.

Per app (a row repeated over `app`):

- SLI, error budget remaining and burn rate: the SLO recording rules (contract names), which carry
  the `tenant`, `app` and `slo` labels.
- Request rate, 5xx rate and p99 latency per Service (stable and canary, or active and preview,
  apart): the app metric contract (delivery/analysis.py), selected by the tenant's namespaces and
  the app's Service names, as the analysis templates select them.
- The Rollout's releases as annotations: Argo Rollouts' `rollout_events_total` counts the events
  the controller records (`RolloutUpdated` carries "Rollout updated to revision N"). The
  controller's ServiceMonitor has no `honorLabels`, so the Rollout's own namespace arrives as
  `exported_namespace` (the scrape target's `namespace` is argo-rollouts').
- A dashboard link per app to CloudWatch Logs Insights over the platform's container log group,
  filtered to the app's namespace and name label as Fluent Bit's kubernetes filter writes them.

Below, when the tenant has apps released by Argo Rollouts, a "Releases (DORA)" row: releases per
day, the share of releases that failed and the median time to restore over the last week, one
value per app (all released apps, consumers included, whatever `app` is set to), from the
tenant's release records (components/insight/release_dora.py).

Everything is built from plain data and serialised with sorted keys: the same tenant file gives
the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

from components.apps_config import CANARY_SUFFIX, PREVIEW_SUFFIX
from components.core.observability import (
    GRAFANA_DASHBOARD_LABEL,
    GRAFANA_DASHBOARD_LABEL_VALUE,
    GRAFANA_DATASOURCE_UID,
)
from components.insight import cost, rightsizing
from components.insight.contract import (
    APP_LABEL,
    KIND_SLO,
    SLO_BUDGET_REMAINING_RECORD,
    SLO_CURRENT_BURN_RATE_RECORD,
    SLO_LABEL,
    SLO_OBJECTIVE_RECORD,
    TENANT_LABEL,
    dashboard_uid,
    sli_error_ratio_record,
)
from components.insight.release_dora import (
    DEPLOYMENTS_RECORD,
    FAILURES_RECORD,
    RESTORE_RECORD,
    WINDOW,
)

# kube-prometheus-stack's Grafana sidecar: the label (and value) it watches ConfigMaps for, and
# the uid of the Prometheus datasource it provisions, as core observability sets them.
SIDECAR_LABEL = GRAFANA_DASHBOARD_LABEL
SIDECAR_LABEL_VALUE = GRAFANA_DASHBOARD_LABEL_VALUE
DATASOURCE_UID = GRAFANA_DATASOURCE_UID
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
CONFIG_MAP_PREFIX = "paved-road-dashboard-"

# What the dashboard reads besides the SLO records and the app metric contract.
REQUESTS = "http_requests_total"
DURATION_BUCKETS = "http_request_duration_seconds_bucket"
ROLLOUT_EVENTS = "rollout_events_total"
# Argo Rollouts' event reasons that mark a release (utils/conditions/conditions.go).
RELEASE_REASONS = ("RolloutUpdated", "RolloutCompleted", "RolloutAborted")
RATE_WINDOW = "5m"
SLI_WINDOW = "1h"
AVAILABILITY = "availability"
# Fluent Bit's kubernetes filter: the pod's namespace and labels under `kubernetes`.
LOG_NAMESPACE_FIELD = "kubernetes.namespace_name"
LOG_APP_FIELD = "`kubernetes.labels.app.kubernetes.io/name`"


@dataclass(frozen=True)
class DashboardApp:
    """An app that serves HTTP (the metric contract) and where it runs."""

    name: str
    namespace: str


@dataclass(frozen=True)
class DashboardSpec:
    tenant: str
    title: str
    namespaces: tuple[str, ...]
    apps: tuple[DashboardApp, ...]
    region: str
    # The container log group Fluent Bit writes (None: logs are switched off, no log links).
    log_group: Optional[str] = None
    # (namespace, app) of the apps Argo Rollouts releases (empty: no "Releases (DORA)" row).
    releases: tuple[tuple[str, str], ...] = ()
    # OpenCost's records exist (components/insight/cost.py): the "Cost" row.
    cost: bool = False


def _regex(values: tuple[str, ...]) -> str:
    return "|".join(values)


def _app_services() -> str:
    """The Services of `$app` the analysis templates query: stable/active and canary/preview."""
    return _regex(("$app", f"$app{CANARY_SUFFIX}", f"$app{PREVIEW_SUFFIX}"))


def queries(spec: DashboardSpec) -> dict[str, str]:
    """Each panel's PromQL, by panel title (the `app` variable still as `$app`)."""
    slo = f'{TENANT_LABEL}="{spec.tenant}", {APP_LABEL}="$app", {SLO_LABEL}="{AVAILABILITY}"'
    app = f'namespace=~"{_regex(spec.namespaces)}", service=~"{_app_services()}"'
    return {
        "Availability SLI (1h)": f"1 - {sli_error_ratio_record(SLI_WINDOW)}{{{slo}}}",
        "Objective": f"{SLO_OBJECTIVE_RECORD}{{{slo}}}",
        "Error budget remaining": f"{SLO_BUDGET_REMAINING_RECORD}{{{slo}}}",
        "Burn rate": f"{SLO_CURRENT_BURN_RATE_RECORD}{{{slo}}}",
        "Requests per second": (f"sum by (service) (rate({REQUESTS}{{{app}}}[{RATE_WINDOW}]))"),
        "5xx per second": (
            f'sum by (service) (rate({REQUESTS}{{{app}, code=~"5.."}}[{RATE_WINDOW}]))'
        ),
        "p99 latency": (
            "histogram_quantile(0.99, sum by (service, le) "
            f"(rate({DURATION_BUCKETS}{{{app}}}[{RATE_WINDOW}])))"
        ),
    }


# The "Releases (DORA)" row: title → (record, unit, what an app without a value means).
RELEASES_ROW = "Releases (DORA)"
RELEASE_PANELS = {
    f"Releases per day ({WINDOW})": (DEPLOYMENTS_RECORD, "none", "no releases"),
    f"Failed releases ({WINDOW})": (FAILURES_RECORD, "percentunit", "no releases"),
    f"Time to restore ({WINDOW} median)": (RESTORE_RECORD, "s", "nothing to restore"),
}


def release_queries(spec: DashboardSpec) -> dict[str, str]:
    """Each DORA panel's PromQL, by panel title: the tenant's records, one series per app."""
    return {
        title: f'{record}{{{TENANT_LABEL}="{spec.tenant}"}}'
        for title, (record, _, _) in RELEASE_PANELS.items()
    }


def release_annotation_query(spec: DashboardSpec) -> str:
    rollout = (
        f'exported_namespace=~"{_regex(spec.namespaces)}", name=~"$app", '
        f'reason=~"{_regex(RELEASE_REASONS)}"'
    )
    return f"sum by (name, reason) (increase({ROLLOUT_EVENTS}{{{rollout}}}[2m])) > 0"


def logs_insights_url(region: str, log_group: str, namespace: str, app: str) -> str:
    """A CloudWatch Logs Insights console link, query filled in, over the last hour.

    The console keeps its state in the URL fragment, encoded twice: values of the state object
    are URL-encoded with `*` for `%` (strings prefixed `'`, fields joined by `~`), and the
    fragment's own query string is URL-encoded with `$` for `%`.
    """
    query = (
        f"fields @timestamp, @logStream, @message\n"
        f'| filter {LOG_NAMESPACE_FIELD} = "{namespace}" and {LOG_APP_FIELD} = "{app}"\n'
        "| sort @timestamp desc\n| limit 200"
    )

    def value(text: str) -> str:
        return "'" + quote(text, safe="").replace("%", "*")

    state = (
        "~(end~0~start~-3600~timeType~'RELATIVE~unit~'seconds"
        f"~editorString~{value(query)}~source~(~{value(log_group)}))"
    )
    fragment = quote(f"?queryDetail={state}", safe="~()'*").replace("%", "$")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights{fragment}"
    )


def _target(expr: str, legend: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": "A"}


def _panel(
    panel_id: int,
    title: str,
    expr: str,
    kind: str,
    unit: str,
    x: int,
    y: int,
    legend: str,
    width: Optional[int] = None,
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"h": 6, "w": width or (6 if kind == "stat" else 8), "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [_target(expr, legend)],
    }


def _row(panel_id: int, title: str, y: int) -> dict[str, Any]:
    """A full-width, expanded row header at height `y`; its panels follow it."""
    return {
        "id": panel_id,
        "title": title,
        "type": "row",
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


# The "Rightsizing" row: title → (query of the tenant's records, unit, legend). Requests the
# pods do not use over a week are the cheapest saving; the headroom is what the quota still allows.
RIGHTSIZING_ROW = "Rightsizing (7d)"


def rightsizing_queries(spec: DashboardSpec) -> dict[str, tuple[str, str, str]]:
    tenant = f'{TENANT_LABEL}="{spec.tenant}"'
    return {
        "CPU used / requested": (
            f"{rightsizing.ratio_record('cpu')}{{{tenant}}}",
            "percentunit",
            "{{namespace}}",
        ),
        "Memory used / requested": (
            f"{rightsizing.ratio_record('memory')}{{{tenant}}}",
            "percentunit",
            "{{namespace}}",
        ),
        "Quota headroom": (
            f"{rightsizing.HEADROOM}{{{tenant}}}",
            "percentunit",
            "{{namespace}} {{resource}}",
        ),
    }


def _rightsizing_row(spec: DashboardSpec, first_id: int, y: int) -> list[dict[str, Any]]:
    """The row and its three panels: a week's usage over requests (CPU, memory) and the quota's
    headroom, one series per namespace."""
    row = _row(first_id, RIGHTSIZING_ROW, y)
    panels = [row]
    for index, (title, (expr, unit, legend)) in enumerate(rightsizing_queries(spec).items()):
        panels.append(
            _panel(first_id + 1 + index, title, expr, "timeseries", unit, 8 * index, y + 1, legend)
        )
    return panels


# The "Cost" row: what the team's pods cost, from OpenCost's prices (compute only: volumes, load
# balancers and data stores are in the AWS bill, under the team's cost-allocation tag).
COST_ROW = "Cost (pods, USD)"
HOURS_PER_MONTH = 730


def cost_queries(spec: DashboardSpec) -> dict[str, tuple[str, str, str]]:
    namespaces = f'namespace=~"{_regex(spec.namespaces)}"'
    return {
        "This month's pace (USD/month)": (
            f'sum({cost.TENANT}{{{TENANT_LABEL}="{spec.tenant}"}}) * {HOURS_PER_MONTH}',
            "currencyUSD",
            "{{tenant}}",
        ),
        "Per namespace (USD/hour)": (
            f"{cost.NAMESPACE}{{{namespaces}}}",
            "currencyUSD",
            "{{namespace}}",
        ),
    }


def _cost_row(spec: DashboardSpec, first_id: int, y: int) -> list[dict[str, Any]]:
    """The row and its two panels: the month's pace as one number, and the hourly cost of each
    of the team's namespaces."""
    row = _row(first_id, COST_ROW, y)
    (pace_title, (pace, unit, legend)), (ns_title, (per_ns, ns_unit, ns_legend)) = cost_queries(
        spec
    ).items()
    return [
        row,
        _panel(first_id + 1, pace_title, pace, "stat", unit, 0, y + 1, legend, width=8),
        _panel(
            first_id + 2, ns_title, per_ns, "timeseries", ns_unit, 8, y + 1, ns_legend, width=16
        ),
    ]


def _releases_row(spec: DashboardSpec, first_id: int, y: int) -> list[dict[str, Any]]:
    """The row and its three stat panels, side by side, a value per app."""
    row = _row(first_id, RELEASES_ROW, y)
    panels = [row]
    exprs = release_queries(spec)
    for index, (title, (_, unit, no_value)) in enumerate(RELEASE_PANELS.items()):
        panel = _panel(
            first_id + 1 + index, title, exprs[title], "stat", unit, 8 * index, y + 1, "{{app}}", 8
        )
        panel["fieldConfig"]["defaults"]["noValue"] = no_value
        panels.append(panel)
    return panels


def dashboard(spec: DashboardSpec) -> dict[str, Any]:
    """The dashboard model (Grafana's JSON, schema version 39)."""
    exprs = queries(spec)
    layout = [
        # title, kind, unit, x, row offset, legend
        ("Availability SLI (1h)", "stat", "percentunit", 0, 1, "{{app}}"),
        ("Objective", "stat", "percentunit", 6, 1, "{{app}}"),
        ("Error budget remaining", "stat", "percentunit", 12, 1, "{{app}}"),
        ("Burn rate", "stat", "none", 18, 1, "{{app}}"),
        ("Requests per second", "timeseries", "reqps", 0, 7, "{{service}}"),
        ("5xx per second", "timeseries", "reqps", 8, 7, "{{service}}"),
        ("p99 latency", "timeseries", "s", 16, 7, "{{service}}"),
    ]
    panels: list[dict[str, Any]] = [
        {
            "id": 1,
            "title": "$app",
            "type": "row",
            "collapsed": False,
            "repeat": "app",
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
            "panels": [],
        }
    ]
    for index, (title, kind, unit, x, y, legend) in enumerate(layout, start=2):
        panels.append(_panel(index, title, exprs[title], kind, unit, x, y, legend))
    if spec.releases:
        panels += _releases_row(spec, len(panels) + 1, 13)
    rightsizing_y = 20 if spec.releases else 13
    panels += _rightsizing_row(spec, len(panels) + 1, rightsizing_y)
    if spec.cost:
        panels += _cost_row(spec, len(panels) + 1, rightsizing_y + 7)
    names = [app.name for app in spec.apps]
    links = (
        [
            {
                "title": f"Logs: {app.name} ({app.namespace})",
                "type": "link",
                "url": logs_insights_url(spec.region, spec.log_group, app.namespace, app.name),
                "targetBlank": True,
                "icon": "doc",
                "tooltip": "CloudWatch Logs Insights, last hour",
            }
            for app in spec.apps
        ]
        if spec.log_group
        else []
    )
    return {
        "uid": dashboard_uid(spec.tenant),
        "title": f"{spec.title} — apps",
        "tags": ["paved-road", f"tenant:{spec.tenant}", KIND_SLO],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "utc",
        "links": links,
        "templating": {
            "list": [
                {
                    "name": "app",
                    "label": "app",
                    "type": "custom",
                    "query": ",".join(names),
                    "multi": True,
                    "includeAll": True,
                    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                    "options": [{"selected": False, "text": name, "value": name} for name in names],
                }
            ]
        },
        "annotations": {
            "list": [
                {
                    "name": "Releases",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "purple",
                    "expr": release_annotation_query(spec),
                    "step": "1m",
                    "titleFormat": "{{name}}: {{reason}}",
                    "tagKeys": "name,reason",
                    "useValueForTime": False,
                }
            ]
        },
        "panels": panels,
    }


def dashboard_json(spec: DashboardSpec) -> str:
    return json.dumps(dashboard(spec), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def config_map_manifest(
    spec: DashboardSpec, namespace: str, labels: dict[str, str]
) -> dict[str, Any]:
    """The ConfigMap's metadata and data; the sidecar reads every key as a dashboard file."""
    return {
        "metadata": {
            "name": f"{CONFIG_MAP_PREFIX}{spec.tenant}",
            "namespace": namespace,
            "labels": {**labels, SIDECAR_LABEL: SIDECAR_LABEL_VALUE},
        },
        "data": {f"{spec.tenant}.json": dashboard_json(spec)},
    }
