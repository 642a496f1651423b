"""Rightsizing records (components/insight/rightsizing.py): planned in every tenant namespace's
`capacity` PrometheusRule, accepted by `promtool check rules`, and computed by promtool from fed
series: a week of requests against usage, and the quota's headroom."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from components.insight import rightsizing
from pavedroad.plan import kubernetes_objects
from tests.conftest import shipped_plan
from tests.test_analysis_promtool import require_promtool
from tests.test_insight_anomaly_capacity import at, promtool_test

HOUR, DAY = 3600, 24 * 3600
NS = "payments"


def test_every_tenant_namespace_records_rightsizing_in_its_capacity_rule() -> None:
    objects = kubernetes_objects(shipped_plan("dev").resources)
    tenant_namespaces = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Namespace" and "paved-road/tenant" in o["metadata"].get("labels", {})
    }
    found = {}
    for o in objects:
        if o["kind"] == "PrometheusRule" and o["metadata"]["name"] == "capacity":
            groups = {g["name"]: g for g in o["spec"]["groups"]}
            found[o["metadata"]["namespace"]] = groups["rightsizing"]
    assert tenant_namespaces and set(found) == tenant_namespaces
    for namespace, group in found.items():
        records = {r["record"] for r in group["rules"]}
        assert {
            rightsizing.ratio_record("cpu"),
            rightsizing.ratio_record("memory"),
            rightsizing.HEADROOM,
        } <= records
        for rule in group["rules"]:
            assert f'namespace="{namespace}"' in rule["expr"]
            assert rule["labels"]["tenant"] == o_tenant(objects, namespace)


def o_tenant(objects: list, namespace: str) -> str:
    (ns,) = [o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == namespace]
    return ns["metadata"]["labels"]["paved-road/tenant"]


def test_the_rules_pass_promtool_check(tmp_path: Path) -> None:
    promtool = require_promtool()
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rightsizing.tenant_rule_groups(NS, NS)}))
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def series_for_a_week() -> dict[str, str]:
    """Two Running pods requesting 1 CPU and 1Gi each, using 0.25 CPU (a counter growing 0.25
    s/s, sampled every 5 minutes: 75 per sample) and 512Mi each; a quota of 8 CPU with 2 used and
    16Gi with 4Gi used; a pod of another namespace, which must not count."""
    samples = 8 * 24 * 12  # eight days at 5-minute steps
    gib = 1024**3
    series: dict[str, str] = {}
    for pod in ("a", "b"):
        labels = f'namespace="{NS}", pod="{pod}", container="app"'
        series[f'kube_pod_container_resource_requests{{{labels}, resource="cpu"}}'] = f"1x{samples}"
        series[f'kube_pod_container_resource_requests{{{labels}, resource="memory"}}'] = (
            f"{gib}x{samples}"
        )
        series[f'kube_pod_status_phase{{namespace="{NS}", pod="{pod}", phase="Running"}}'] = (
            f"1x{samples}"
        )
        series[f'container_cpu_usage_seconds_total{{{labels}, image="app:1"}}'] = f"0+75x{samples}"
        series[f'container_memory_working_set_bytes{{{labels}, image="app:1"}}'] = (
            f"{gib // 2}x{samples}"
        )
    # The pod-level cgroup series (no container) would double the usage if counted.
    series[f'container_cpu_usage_seconds_total{{namespace="{NS}", pod="a", container=""}}'] = (
        f"0+150x{samples}"
    )
    other = 'namespace="search", pod="x", container="app"'
    series[f'kube_pod_container_resource_requests{{{other}, resource="cpu"}}'] = f"4x{samples}"
    series['kube_pod_status_phase{namespace="search", pod="x", phase="Running"}'] = f"1x{samples}"
    quota = f'namespace="{NS}", resourcequota="quota"'
    for resource, hard, used in (("requests.cpu", 8, 2), ("requests.memory", 16 * gib, 4 * gib)):
        for kind, value in (("hard", hard), ("used", used)):
            series[f'kube_resourcequota{{{quota}, resource="{resource}", type="{kind}"}}'] = (
                f"{value}x{samples}"
            )
    return series


def test_a_week_of_quarter_used_requests_reads_as_a_quarter(tmp_path: Path) -> None:
    week = at(7 * DAY + HOUR)
    cpu = rightsizing.ratio_record("cpu")
    memory = rightsizing.ratio_record("memory")
    headroom = rightsizing.HEADROOM
    promtool_test(
        tmp_path,
        rightsizing.tenant_rule_groups(NS, NS),
        series_for_a_week(),
        [
            (f'round(sum({cpu}{{namespace="{NS}", tenant="{NS}"}}), 0.01)', week, 0.25),
            (f'round(sum({memory}{{namespace="{NS}"}}), 0.01)', week, 0.5),
            (f'sum({rightsizing.record("cpu", "requests", "7d")})', week, 2),
            (f'round(sum({rightsizing.record("cpu", "usage", "7d")}), 0.01)', week, 0.5),
            (f'sum({headroom}{{namespace="{NS}", resource="requests.cpu"}})', week, 0.75),
            (f'sum({headroom}{{namespace="{NS}", resource="requests.memory"}})', week, 0.75),
            # Nothing recorded for another namespace.
            (f'count({cpu}{{namespace="search"}}) or vector(0)', week, 0),
        ],
        interval="5m",
        evaluation_interval="5m",
    )


def test_every_tenant_dashboard_has_a_rightsizing_row_on_its_own_records() -> None:
    from components.insight import dashboards
    from tests.test_insight_dashboards import tenant_dashboards

    models = {meta["name"]: model for meta, model in tenant_dashboards(shipped_plan("dev"))}
    assert models
    for name, model in models.items():
        tenant = name.removeprefix(dashboards.CONFIG_MAP_PREFIX)
        rows = [p for p in model["panels"] if p["type"] == "row"]
        (row,) = [r for r in rows if r["title"] == dashboards.RIGHTSIZING_ROW]
        at = model["panels"].index(row)
        panels = model["panels"][at + 1 : at + 4]
        assert [p["title"] for p in panels] == [
            "CPU used / requested",
            "Memory used / requested",
            "Quota headroom",
        ]
        assert [p["targets"][0]["expr"] for p in panels] == [
            f'{rightsizing.ratio_record("cpu")}{{tenant="{tenant}"}}',
            f'{rightsizing.ratio_record("memory")}{{tenant="{tenant}"}}',
            f'{rightsizing.HEADROOM}{{tenant="{tenant}"}}',
        ]
        above = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in model["panels"][:at])
        assert row["gridPos"]["y"] >= above
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids))


def test_every_tenant_dashboard_shows_what_its_pods_cost(tmp_path: Path) -> None:
    """The last row, where OpenCost runs: the month's pace from the tenant's cost record and the
    hourly cost of each of its namespaces — evaluated by promtool on the fed series of the cost
    records' own test (payments: $0.205 per hour, so $149.65 at 730 hours a month)."""
    from components.insight import cost, dashboards
    from tests.test_cost import fed_cost_series
    from tests.test_insight_dashboards import tenant_dashboards

    plan = shipped_plan("dev")
    namespaces = {
        o["metadata"]["name"]: o["metadata"]["labels"]["paved-road/tenant"]
        for o in kubernetes_objects(plan.resources)
        if o["kind"] == "Namespace" and "paved-road/tenant" in o["metadata"].get("labels", {})
    }
    models = {meta["name"]: model for meta, model in tenant_dashboards(plan)}
    assert models
    for name, model in models.items():
        tenant = name.removeprefix(dashboards.CONFIG_MAP_PREFIX)
        row, pace, per_namespace = model["panels"][-3:]
        assert row["type"] == "row" and row["title"] == dashboards.COST_ROW
        assert pace["targets"][0]["expr"] == (
            f'sum({cost.TENANT}{{tenant="{tenant}"}}) * {dashboards.HOURS_PER_MONTH}'
        )
        own = sorted(n for n, t in namespaces.items() if t == tenant)
        shown = per_namespace["targets"][0]["expr"].split('namespace=~"')[1].split('"')[0]
        assert sorted(shown.split("|")) == own
        assert pace["gridPos"]["y"] == per_namespace["gridPos"]["y"] == row["gridPos"]["y"] + 1
    spec = dashboards.DashboardSpec("payments", "Payments", ("payments", "payments-jobs"), (), "x")
    queries = dashboards.cost_queries(spec)
    pace_expr = queries["This month's pace (USD/month)"][0]
    per_ns = queries["Per namespace (USD/hour)"][0]
    promtool_test(
        tmp_path,
        cost.rule_groups(),
        fed_cost_series(),
        [
            (f"round({pace_expr}, 0.01)", "5m", 149.65),
            (f"round(sum({per_ns}), 0.0001)", "5m", 0.205),
        ],
        interval="1m",
        evaluation_interval="1m",
    )


def test_no_cost_row_without_opencost(tmp_path: Path) -> None:
    import copy

    from components.insight import dashboards
    from pavedroad.engine import PlanEngine
    from tests.conftest import make_project, stack_config
    from tests.test_insight_dashboards import tenant_dashboards

    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"]["cost"] = {"enabled": False}
    plan = PlanEngine("dev", make_project(tmp_path, config, "dev")).run()
    models = [model for _, model in tenant_dashboards(plan)]
    assert models
    for model in models:
        assert dashboards.COST_ROW not in {p["title"] for p in model["panels"]}
