"""Per-tenant Grafana dashboards: valid, linked from alerts, reading only series that exist.

Sources the tests rely on:
- kube-prometheus-stack's Grafana sidecar watches ConfigMaps labelled `grafana_dashboard: "1"`
  (prometheus-community/helm-charts charts/kube-prometheus-stack/values.yaml,
  `grafana.sidecar.dashboards.label`/`labelValue`/`searchNamespace`, default `ALL`); the platform
  sets them, the search to `monitoring` only. The grafana chart joins a list `searchNamespace`
  with "," into the sidecar's NAMESPACE (grafana/helm-charts charts/grafana/templates/_pod.tpl).
- Argo Rollouts' controller metrics (argoproj/argo-rollouts controller/metrics/prommetrics.go,
  v1.9): `rollout_events_total{namespace,name,type,reason}`, `rollout_info`; event reasons from
  utils/conditions/conditions.go (`RolloutUpdated`: "Rollout updated to revision %s").
- The chart's controller ServiceMonitor (argoproj/argo-helm charts/argo-rollouts/templates/
  controller/servicemonitor.yaml) sets no `honorLabels`, so the Rollout's `namespace` is kept
  as `exported_namespace`.
- The "Releases (DORA)" row reads the tenant's release records (components/insight/
  release_dora.py), whose values tests/test_release_dora.py checks with promtool.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from components.delivery import analysis
from components.insight import contract, cost, dashboards, release_dora, rightsizing
from components.kubernetes import TENANT_LABEL
from pavedroad.engine import PlanRun
from tests.conftest import shipped_plan, stack_config
from tests.test_analysis_promtool import require_promtool

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

# Every series a dashboard may read, with where it comes from.
RECORDED = {
    *(contract.sli_error_ratio_record(w) for w in contract.SLO_WINDOWS),
    contract.SLO_OBJECTIVE_RECORD,
    contract.SLO_ERROR_BUDGET_RECORD,
    contract.SLO_CURRENT_BURN_RATE_RECORD,
    contract.SLO_BUDGET_REMAINING_RECORD,
    release_dora.DEPLOYMENTS_RECORD,
    release_dora.FAILURES_RECORD,
    release_dora.RESTORE_RECORD,
    # components/insight/rightsizing.py
    rightsizing.ratio_record("cpu"),
    rightsizing.ratio_record("memory"),
    rightsizing.HEADROOM,
    # components/insight/cost.py (OpenCost's prices)
    cost.NAMESPACE,
    cost.TENANT,
}
# The app metric contract (components/delivery/analysis.py).
APP_METRICS = {analysis.REQUESTS, analysis.DURATION_BUCKETS}
# Argo Rollouts' controller, scraped through its chart's ServiceMonitor (prommetrics.go).
ROLLOUTS_METRICS = {"rollout_events_total", "rollout_info", "rollout_info_replicas_available"}
KNOWN_SERIES = RECORDED | APP_METRICS | ROLLOUTS_METRICS

PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "and", "or", "unless", "bool", "offset", "rate", "irate", "increase",
    "histogram_quantile", "vector", "scalar", "clamp_min", "clamp_max", "abs", "time",
}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """Metric names in a PromQL expression: a small tokenizer, enough for the platform's own.

    Strings, label matchers, range selectors, grouping label lists and Grafana variables are
    removed first; what remains that is a name and not a function or keyword is a metric.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "", text)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        rest = text[match.end() :].lstrip()
        word = match.group(0)
        if word in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(word)
    return names


def test_the_tokenizer_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (service, le) (rate(foo_bucket{a="b:c", d=~"$app"}[5m])))'
        " / on (x) group_left slo:sli_error:ratio_rate1h > 0"
    )
    assert metric_names(expr) == {"foo_bucket", "slo:sli_error:ratio_rate1h"}


def tenant_dashboards(plan: PlanRun) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for config_map in plan.by_type(CONFIG_MAP):
        labels = config_map.inputs["metadata"].get("labels", {})
        if labels.get(dashboards.SIDECAR_LABEL) is None:
            continue
        for text in config_map.inputs["data"].values():
            yield config_map.inputs["metadata"], json.loads(text)


def all_queries(model: dict[str, Any]) -> list[str]:
    found = [a["expr"] for a in model["annotations"]["list"]]
    for panel in model["panels"]:
        found += [target["expr"] for target in panel.get("targets", [])]
    return found


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_tenant_has_one_dashboard_with_the_uid_alerts_link_to(stack: str) -> None:
    plan = shipped_plan(stack)
    found = {meta["labels"][TENANT_LABEL]: (meta, model) for meta, model in tenant_dashboards(plan)}
    tenants = [
        t if isinstance(t, str) else t["name"] for t in stack_config(stack)["paved-road:tenants"]
    ]
    assert sorted(found) == sorted(tenants)
    for tenant, (meta, model) in found.items():
        assert model["uid"] == contract.dashboard_uid(tenant)
        url = contract.dashboard_url("http://grafana", tenant, "x")
        assert url == f"http://grafana/d/{model['uid']}?var-app=x"
        assert [v["name"] for v in model["templating"]["list"]] == ["app"]
        assert meta["labels"][dashboards.SIDECAR_LABEL] == dashboards.SIDECAR_LABEL_VALUE
        # Beside Grafana, where tenants cannot create ConfigMaps: no team can plant a dashboard
        # under another's uid.
        assert meta["namespace"] == "monitoring"


def test_every_query_reads_only_recorded_or_scraped_series() -> None:
    models = [model for _, model in tenant_dashboards(shipped_plan("dev"))]
    assert models
    for model in models:
        queries = all_queries(model)
        assert len(queries) >= 8
        for expr in queries:
            names = metric_names(expr)
            assert names, f"no metric in {expr!r}"
            assert names <= KNOWN_SERIES, f"{expr!r} reads unknown series {names - KNOWN_SERIES}"


def test_a_query_on_an_unknown_series_is_caught() -> None:
    """The check above can fail: a typo in a recording rule's name is not a known series."""
    assert metric_names('slo:sli_error:ratio_rate_1h{app="$app"}') - KNOWN_SERIES


def test_each_app_row_shows_slo_traffic_and_latency_and_releases_are_annotated() -> None:
    _, model = next(
        m
        for m in tenant_dashboards(shipped_plan("dev"))
        if m[0]["name"] == "paved-road-dashboard-payments"
    )
    row = model["panels"][0]
    assert row["type"] == "row" and row["repeat"] == "app"
    titles = {p["title"] for p in model["panels"][1:]}
    assert {"Availability SLI (1h)", "Error budget remaining", "Burn rate",
            "Requests per second", "5xx per second", "p99 latency"} <= titles  # fmt: skip
    exprs = " ".join(all_queries(model))
    assert 'slo="availability"' in exprs and 'tenant="payments"' in exprs
    assert 'code=~"5.."' in exprs
    (releases,) = model["annotations"]["list"]
    assert "rollout_events_total" in releases["expr"]
    assert "exported_namespace=~" in releases["expr"] and "RolloutUpdated" in releases["expr"]
    apps = model["templating"]["list"][0]["query"].split(",")
    assert "checkout-api" in apps
    assert "settlement" not in apps, "a batch job serves no HTTP metrics"


def test_tenants_with_rollouts_get_a_releases_row_reading_their_own_records() -> None:
    """Below the app rows: releases per day, failed share and time to restore of every app the
    controller releases (the kafka consumer too, which has no app row); none for a tenant whose
    apps are all released by switching a Service."""
    models = {meta["name"]: model for meta, model in tenant_dashboards(shipped_plan("dev"))}
    payments = models["paved-road-dashboard-payments"]
    rows = [p for p in payments["panels"] if p["type"] == "row"]
    assert [r["title"] for r in rows] == [
        "$app",
        dashboards.RELEASES_ROW,
        dashboards.RIGHTSIZING_ROW,
        dashboards.COST_ROW,
    ]
    assert "repeat" not in rows[1]
    at = payments["panels"].index(rows[1])
    dora = payments["panels"][at + 1 : payments["panels"].index(rows[2])]
    assert [p["title"] for p in dora] == list(dashboards.RELEASE_PANELS)
    assert [p["targets"][0]["expr"].split("{")[0] for p in dora] == [
        release_dora.DEPLOYMENTS_RECORD,
        release_dora.FAILURES_RECORD,
        release_dora.RESTORE_RECORD,
    ]
    for panel in dora:
        assert panel["targets"][0]["expr"].endswith('{tenant="payments"}')
        assert panel["targets"][0]["legendFormat"] == "{{app}}"
        assert panel["gridPos"]["y"] > max(p["gridPos"]["y"] for p in payments["panels"][:at])
    assert [p["fieldConfig"]["defaults"]["unit"] for p in dora] == ["none", "percentunit", "s"]
    ids = [p["id"] for p in payments["panels"]]
    assert len(ids) == len(set(ids))
    search = models["paved-road-dashboard-search"]
    assert dashboards.RELEASES_ROW not in {p["title"] for p in search["panels"]}


def test_each_app_links_to_its_logs_in_the_platforms_log_group() -> None:
    _, model = next(
        m
        for m in tenant_dashboards(shipped_plan("dev"))
        if m[0]["name"] == "paved-road-dashboard-payments"
    )
    (link,) = [l for l in model["links"] if "checkout-api" in l["title"]]
    url = link["url"]
    assert url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#"
    )
    assert "logs-insights$3FqueryDetail$3D~(" in url
    # The log group (observability.container_log_group_name) and the filters, as encoded.
    assert "source~(~'*2Faws*2Feks*2Fpaved-road-dev*2Fcontainers)" in url
    assert "kubernetes.namespace_name*20*3D*20*22payments*22" in url
    assert "kubernetes.labels.app.kubernetes.io*2Fname*60*20*3D*20*22checkout-api*22" in url


def test_dashboards_are_deterministic_json_with_sorted_keys() -> None:
    checked = 0
    for config_map in shipped_plan("dev").by_type(CONFIG_MAP):
        if not config_map.inputs["metadata"]["name"].startswith(dashboards.CONFIG_MAP_PREFIX):
            continue  # other ConfigMaps hold JSON too (a tenant's feature flags)
        for text in config_map.inputs.get("data", {}).values():
            checked += 1
            assert text == json.dumps(json.loads(text), sort_keys=True, indent=2,
                                      ensure_ascii=False) + "\n"  # fmt: skip
    assert checked


def test_grafana_searches_every_namespace_for_the_dashboard_label() -> None:
    (release,) = [
        r for r in shipped_plan("dev").by_type("kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "kube-prometheus-stack"
    ]  # fmt: skip
    sidecar = release.inputs["values"]["grafana"]["sidecar"]
    assert sidecar["dashboards"] == {
        "enabled": True,
        "label": dashboards.SIDECAR_LABEL,
        "labelValue": dashboards.SIDECAR_LABEL_VALUE,
        "searchNamespace": ["monitoring"],
    }
    assert sidecar["datasources"]["uid"] == dashboards.DATASOURCE_UID


# --------------------------------------------------------------------------------------------------
# promtool: the queries parse, and select the app's Services (stable and canary) and releases


def _payments_model() -> dict[str, Any]:
    return next(
        m
        for meta, m in tenant_dashboards(shipped_plan("dev"))
        if meta["name"] == "paved-road-dashboard-payments"
    )


def _for_app(expr: str, app: str) -> str:
    """The query as Grafana sends it for one selected app."""
    return expr.replace("$app", app)


def _promtool(tmp_path: Path, tests: list[dict[str, Any]], rules: list[dict[str, Any]]) -> None:
    promtool = require_promtool()
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "30s", "tests": tests})
    )
    result = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query, as sent for one app, is a recording rule promtool accepts."""
    rules = [
        {"record": f"dashboard:query{index}", "expr": _for_app(expr, "checkout-api")}
        for index, expr in enumerate(all_queries(_payments_model()))
    ]
    _promtool(tmp_path, [], rules)


def test_traffic_queries_select_the_apps_stable_and_canary_services_apart(tmp_path: Path) -> None:
    queries = dashboards.queries(
        dashboards.DashboardSpec("payments", "Payments", ("payments",), (), "eu-west-1")
    )
    series = {
        # 2 requests/s on the stable Service, 1/s on the canary, half of the canary's failing;
        # another app's Service and another tenant's namespace must not show.
        'http_requests_total{namespace="payments", service="checkout-api", code="200"}': "0+60x40",
        'http_requests_total{namespace="payments", service="checkout-api-canary", code="200"}': "0+15x40",
        'http_requests_total{namespace="payments", service="checkout-api-canary", code="503"}': "0+15x40",
        'http_requests_total{namespace="payments", service="ledger", code="200"}': "0+60x40",
        'http_requests_total{namespace="search", service="checkout-api", code="200"}': "0+60x40",
    }  # fmt: skip
    test = {
        "interval": "30s",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "promql_expr_test": [
            {
                "expr": _for_app(queries["Requests per second"], "checkout-api"),
                "eval_time": "15m",
                "exp_samples": [
                    {"labels": '{service="checkout-api"}', "value": 2},
                    {"labels": '{service="checkout-api-canary"}', "value": 1},
                ],
            },
            {
                "expr": _for_app(queries["5xx per second"], "checkout-api"),
                "eval_time": "15m",
                "exp_samples": [{"labels": '{service="checkout-api-canary"}', "value": 0.5}],
            },
        ],
    }
    _promtool(tmp_path, [test], [])


def test_a_new_revision_is_an_annotation_until_it_ages_out(tmp_path: Path) -> None:
    spec = dashboards.DashboardSpec("payments", "Payments", ("payments",), (), "eu-west-1")
    expr = _for_app(dashboards.release_annotation_query(spec), "checkout-api")
    events = (
        'rollout_events_total{namespace="argo-rollouts", exported_namespace="payments", '
        'name="checkout-api", type="Normal", reason="RolloutUpdated"}'
    )
    other = events.replace('name="checkout-api"', 'name="ledger"')
    test = {
        "interval": "30s",
        # one update at 5m (1 → 2: one event); the other Rollout updates all the time
        "input_series": [
            {"series": events, "values": "1x9 2x30"},
            {"series": other, "values": "0+1x40"},
        ],
        "promql_expr_test": [
            {"expr": expr, "eval_time": "4m", "exp_samples": []},
            {
                "expr": expr,
                "eval_time": "5m30s",
                "exp_samples": [
                    {"labels": '{name="checkout-api", reason="RolloutUpdated"}', "value": 1}
                ],
            },
            {"expr": expr, "eval_time": "10m", "exp_samples": []},
        ],
    }
    _promtool(tmp_path, [test], [])
