"""Cost: the cost-allocation tags, each team's AWS Budget and the environment's.

Sources: pulumi-aws `aws.costexplorer.CostAllocationTag` (tagKey, status Active|Inactive) and
`aws.budgets.Budget` (budgetType, timeUnit, limitAmount, limitUnit, costFilters name/values,
notifications comparisonOperator/notificationType/threshold/thresholdType/
subscriberEmailAddresses); the AWS Budgets API's `TagKeyValue` cost filter, whose values are
`user:<tag key>$<tag value>` for user-defined cost-allocation tags.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cost import COST_ALLOCATION_TAGS
from components.tenants_config import load_tenant_file
from pavedroad.engine import PlanEngine, PlanRun, RecordedResource
from tests.conftest import (
    ROOT,
    assert_refused,
    make_project,
    one,
    project_with_tenant_bad,
    shipped_plan,
    stack_config,
)

BUDGET = "aws:budgets/budget:Budget"
TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"
COST = "paved-road:cost:Cost"


def budgets(plan: PlanRun) -> dict[str, RecordedResource]:
    return {r.inputs["name"]: r for r in plan.by_type(BUDGET)}


def shipped_tenants(stack: str) -> list[str]:
    return [
        e if isinstance(e, str) else e["name"] for e in stack_config(stack)["paved-road:tenants"]
    ]


def assert_alerts(budget: RecordedResource, notify: list[str]) -> None:
    """80% actually spent and 100% forecast, both to the same addresses."""
    alerts = sorted(
        (n["notificationType"], n["threshold"], n["comparisonOperator"], n["thresholdType"])
        for n in budget.inputs["notifications"]
    )
    assert alerts == [
        ("ACTUAL", 80.0, "GREATER_THAN", "PERCENTAGE"),
        ("FORECASTED", 100.0, "GREATER_THAN", "PERCENTAGE"),
    ]
    for notification in budget.inputs["notifications"]:
        assert notification["subscriberEmailAddresses"] == notify


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_tenant_that_sets_a_budget_gets_one_over_its_tenant_tag(stack: str) -> None:
    plan = shipped_plan(stack)
    found = budgets(plan)
    prefix = f"paved-road-{stack}"
    tenants_with_budgets = []
    for name in shipped_tenants(stack):
        tenant, issues = load_tenant_file(ROOT, name)
        assert tenant is not None and not issues
        if tenant.budget is None:
            assert f"{prefix}-{name}" not in found
            continue
        tenants_with_budgets.append(name)
        budget = found[f"{prefix}-{name}"]
        assert budget.inputs["budgetType"] == "COST"
        assert budget.inputs["timeUnit"] == "MONTHLY"
        assert budget.inputs["limitUnit"] == "USD"
        assert float(budget.inputs["limitAmount"]) == tenant.budget.monthly_usd
        assert budget.inputs["costFilters"] == [
            {"name": "TagKeyValue", "values": [f"user:paved-road:tenant${name}"]}
        ]
        assert_alerts(budget, list(tenant.budget.notify))
        assert budget.inputs["tags"]["paved-road:tenant"] == name
        assert budget.inputs["tags"]["paved-road:environment"] == stack
        assert COST in budget.urn
    # The shipped tenants all set one (production requires it: policy tenant-budget-in-production).
    assert tenants_with_budgets == shipped_tenants(stack)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_cost_allocation_tags_are_activated_before_any_budget_filters_by_them(
    stack: str,
) -> None:
    plan = shipped_plan(stack)
    tags = plan.by_type(TAG)
    assert sorted(t.inputs["tagKey"] for t in tags) == sorted(COST_ALLOCATION_TAGS)
    assert {t.inputs["status"] for t in tags} == {"Active"}
    assert {"paved-road:tenant", "paved-road:cost-center"} <= set(COST_ALLOCATION_TAGS)
    for budget in plan.by_type(BUDGET):
        assert {t.urn for t in tags} <= set(budget.dependencies)


def test_the_production_environment_has_a_budget_over_its_environment_tag() -> None:
    plan = shipped_plan("prod")
    expected = stack_config("prod")["paved-road:insights"]["budget"]
    budget = budgets(plan)["paved-road-prod"]
    assert float(budget.inputs["limitAmount"]) == expected["monthlyUsd"]
    assert budget.inputs["costFilters"] == [
        {"name": "TagKeyValue", "values": ["user:paved-road:environment$prod"]}
    ]
    assert_alerts(budget, expected["notify"])
    assert "paved-road-dev" not in budgets(shipped_plan("dev"))


def test_a_tenant_without_a_budget_gets_none(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    root = make_project(tmp_path, config, "dev")
    path = root / "tenants" / "search.yaml"
    document = yaml.safe_load(path.read_text())
    del document["budget"]
    path.write_text(yaml.safe_dump(document))
    found = budgets(PlanEngine("dev", root).run())
    assert "paved-road-dev-search" not in found
    assert "paved-road-dev-payments" in found


@pytest.mark.parametrize(
    ("budget", "field", "message"),
    [
        ({"monthlyUsd": 0, "notify": ["a@example.com"]}, "budget.monthlyUsd", "greater than"),
        ({"monthlyUsd": "2000", "notify": ["a@example.com"]}, "budget.monthlyUsd", "integer"),
        ({"monthlyUsd": 2000.5, "notify": ["a@example.com"]}, "budget.monthlyUsd", "integer"),
        ({"monthlyUsd": True, "notify": ["a@example.com"]}, "budget.monthlyUsd", "integer"),
        ({"monthlyUsd": 10**12, "notify": ["a@example.com"]}, "budget.monthlyUsd", "less than"),
        ({"monthlyUsd": 2000, "notify": []}, "budget.notify", "at least 1"),
        ({"monthlyUsd": 2000, "notify": ["not-an-address"]}, "budget.notify", "e-mail"),
        ({"monthlyUsd": 2000, "notify": ["a@example.com"] * 2}, "budget.notify", "twice"),
        ({"monthlyUsd": 2000, "notify": [7]}, "budget.notify[0]", "string"),
        ({"monthlyUsd": 2000}, "budget.notify", "required"),
        ({"notify": ["a@example.com"]}, "budget.monthlyUsd", "required"),
        ({"monthlyUsd": 2000, "notify": ["a@example.com"], "weekly": 1}, "budget.weekly", ""),
        ("2000", "budget", ""),
    ],
)
def test_a_bad_budget_is_refused_naming_file_and_field(
    tmp_path: Path, budget: Any, field: str, message: str
) -> None:
    root, _ = project_with_tenant_bad(tmp_path, {"budget": budget})
    engine = PlanEngine("dev", root)
    assert_refused(engine, "tenants/bad.yaml", field, message)


def test_a_bad_environment_budget_names_the_stack_file_and_field(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config.setdefault("paved-road:insights", {})["budget"] = {"monthlyUsd": -5, "notify": ["x"]}
    root = make_project(tmp_path, config, "dev")
    engine = PlanEngine("dev", root)
    assert_refused(engine, "stacks/Pulumi.dev.yaml", "paved-road:insights.budget.monthlyUsd", "")
    assert_refused(engine, "stacks/Pulumi.dev.yaml", "paved-road:insights.budget.notify", "e-mail")


def test_one_budget_per_name_and_the_component_is_their_parent() -> None:
    plan = shipped_plan("prod")
    names = [r.inputs["name"] for r in plan.by_type(BUDGET)]
    assert len(names) == len(set(names))
    component = one(plan.by_type(COST))
    for resource in [*plan.by_type(BUDGET), *plan.by_type(TAG)]:
        assert resource.parent == component.urn


# OpenCost -------------------------------------------------------------------------------------
# Source: opencost/opencost-helm-chart charts/opencost (Chart.yaml version 2.5.17, appVersion
# 1.120.1; values.yaml `opencost.prometheus.internal.{serviceName,namespaceName,port,scheme}`,
# `clusterName` as the Service DNS suffix in the Prometheus address (_helpers.tpl),
# `opencost.metrics.serviceMonitor.enabled`, `opencost.ui.enabled`, `opencost.mcp.enabled`,
# `opencost.exporter.{securityContext,extraVolumeMounts}`, top-level `extraVolumes`).

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def opencost_release(plan: PlanRun) -> RecordedResource:
    return one(r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "opencost")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_opencost_is_the_pinned_chart_reading_the_in_cluster_prometheus(stack: str) -> None:
    from components import versions
    from components.core import observability

    plan = shipped_plan(stack)
    release = opencost_release(plan)
    chart = versions.CHARTS["opencost"]
    assert (chart.version, chart.app_version) == ("2.5.17", "1.120.1")
    assert release.inputs["version"] == chart.version
    assert release.inputs["repositoryOpts"]["repo"] == chart.repository
    assert release.inputs["namespace"] == "opencost"
    values = release.inputs["values"]
    internal = values["opencost"]["prometheus"]["internal"]
    # The address the chart builds is the one Prometheus serves at.
    built = (
        f"{internal['scheme']}://{internal['serviceName']}.{internal['namespaceName']}"
        f".svc.{values['clusterName']}:{internal['port']}"
    )
    assert built == observability.prometheus_address()
    assert values["opencost"]["metrics"]["serviceMonitor"]["enabled"] is True
    assert values["opencost"]["ui"]["enabled"] is False
    assert values["opencost"]["mcp"]["enabled"] is False
    assert values["opencost"]["exporter"]["defaultClusterId"] == f"paved-road-{stack}"
    # The ServiceMonitor needs the Prometheus Operator's CRD.
    stack_release = one(
        r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"
    )
    assert stack_release.urn in release.dependencies


def test_opencost_runs_restricted_in_a_default_deny_namespace() -> None:
    plan = shipped_plan("prod")
    values = opencost_release(plan).inputs["values"]
    pod = values["podSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    container = values["opencost"]["exporter"]["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    mounts = values["opencost"]["exporter"]["extraVolumeMounts"]
    volumes = {v["name"]: v for v in values["extraVolumes"]}
    assert [m["mountPath"] for m in mounts] == ["/var/configs"]
    assert volumes[mounts[0]["name"]] == {"name": "configs", "emptyDir": {}}
    # OpenCost writes its config where CONFIG_PATH says (some of it defaults to /models/
    # otherwise): the writable emptyDir, the root filesystem being read-only.
    env = {e["name"]: e["value"] for e in values["opencost"]["exporter"]["env"]}
    assert env["CONFIG_PATH"].rstrip("/") == mounts[0]["mountPath"]
    namespace = one(
        r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == "opencost"
    )
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == (
        "restricted"
    )
    policies = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in plan.by_type(POLICY)
        if r.inputs["metadata"].get("namespace") == "opencost"
    }
    assert policies["default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    assert policies["allow-prometheus-queries"]["egress"][0]["ports"] == [
        {"protocol": "TCP", "port": 9090}
    ]
    monitoring = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in plan.by_type(POLICY)
        if r.inputs["metadata"].get("namespace") == "monitoring"
    }
    rule = monitoring["allow-opencost-queries"]["ingress"][0]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "opencost"}}}
    ]


def test_opencost_can_be_switched_off_and_follows_observability(tmp_path: Path) -> None:
    (tmp_path / "off").mkdir()
    (tmp_path / "bad").mkdir()
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"].setdefault("cost", {})["enabled"] = False
    plan = PlanEngine("dev", make_project(tmp_path / "off", config, "dev")).run()
    assert not [r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "opencost"]
    assert not [r for r in plan.by_type(NAMESPACE) if r.inputs["metadata"]["name"] == "opencost"]

    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:core"].setdefault("observability", {})["enabled"] = False
    config["paved-road:delivery"] = {"enabled": False}
    config.pop("paved-road:tenants")  # their rollouts need delivery, which needs Prometheus
    plan = PlanEngine("dev", make_project(tmp_path / "bad", config, "dev")).run()
    # It follows its Prometheus: no OpenCost, no cost records without observability.
    assert not [r for r in plan.by_type(RELEASE) if r.inputs["chart"] == "opencost"]
    assert not [r for r in plan.resources if r.name == "cost-allocation-rules"]


# Cost allocation as PromQL -----------------------------------------------------------------


def test_cost_records_are_planned_beside_prometheus_and_pass_promtool_check(
    tmp_path: Path,
) -> None:
    import subprocess

    from components.core import observability
    from components.insight import cost
    from pavedroad.plan import kubernetes_objects
    from tests.test_analysis_promtool import require_promtool

    objects = kubernetes_objects(shipped_plan("prod").resources)
    (rule,) = [
        o for o in objects if o["kind"] == "PrometheusRule" and o["metadata"]["name"] == cost.NAME
    ]
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["spec"]["groups"] == cost.rule_groups()
    ksm = one(
        r
        for r in shipped_plan("prod").by_type(RELEASE)
        if r.inputs["chart"] == "kube-prometheus-stack"
    ).inputs["values"]["kube-state-metrics"]
    assert ksm["metricLabelsAllowlist"] == ["namespaces=[paved-road/tenant,paved-road/cost-center]"]
    assert observability.NAMESPACE_LABELS_EXPORTED == (
        "paved-road/tenant",
        "paved-road/cost-center",
    )
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": cost.rule_groups()}))
    promtool = require_promtool()
    run = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def fed_cost_series() -> dict[str, str]:
    """Two nodes at $0.04 and $0.05 per core-hour and $0.005 per GiB-hour; payments runs a
    2-core 4GiB container on the first and a 1-core 2GiB one on the second, payments-jobs a
    1-core 1GiB one on the first; search runs 1 core on the second and carries another cost
    center; kube-system has no tenant label and reaches no tenant."""
    gib = 1024**3
    series = {
        'node_cpu_hourly_cost{node="n1", instance_type="m6i.xlarge"}': "0.04x20",
        'node_cpu_hourly_cost{node="n2", instance_type="m6i.2xlarge"}': "0.05x20",
        'node_ram_hourly_cost{node="n1", instance_type="m6i.xlarge"}': "0.005x20",
        'node_ram_hourly_cost{node="n2", instance_type="m6i.2xlarge"}': "0.005x20",
    }
    containers = [
        ("payments", "a", "n1", 2, 4),
        ("payments", "b", "n2", 1, 2),
        ("payments-jobs", "c", "n1", 1, 1),
        ("search", "d", "n2", 1, 0),
        ("kube-system", "e", "n1", 1, 1),
    ]
    for namespace, pod, node, cores, gibs in containers:
        labels = f'namespace="{namespace}", pod="{pod}", container="app", node="{node}"'
        series[f"container_cpu_allocation{{{labels}}}"] = f"{cores}x20"
        if gibs:
            series[f"container_memory_allocation_bytes{{{labels}}}"] = f"{gibs * gib}x20"
    for namespace, tenant, center in (
        ("payments", "payments", "cc-1234"),
        ("payments-jobs", "payments", "cc-1234"),
        ("search", "search", "cc-3050"),
    ):
        series[
            f'kube_namespace_labels{{namespace="{namespace}", label_paved_road_tenant="{tenant}",'
            f' label_paved_road_cost_center="{center}"}}'
        ] = "1x20"
    series['kube_namespace_labels{namespace="kube-system"}'] = "1x20"
    return series


def test_cost_per_namespace_tenant_and_cost_center_from_fed_series(tmp_path: Path) -> None:
    from components.insight import cost
    from tests.test_insight_anomaly_capacity import promtool_test

    series = fed_cost_series()
    # payments: 2*0.04 + 4*0.005 + 1*0.05 + 2*0.005 = 0.16; payments-jobs: 0.04 + 0.005;
    # search: 0.05 (CPU only).
    checks = [
        (f'round(sum({cost.NAMESPACE}{{namespace="payments"}}), 0.0001)', "5m", 0.16),
        (f'round(sum({cost.NAMESPACE}{{namespace="search"}}), 0.0001)', "5m", 0.05),
        (f'round(sum({cost.TENANT}{{tenant="payments"}}), 0.0001)', "5m", 0.205),
        (f'round(sum({cost.COST_CENTER}{{cost_center="cc-3050"}}), 0.0001)', "5m", 0.05),
        (f"count({cost.TENANT})", "5m", 2),
        (f'round(sum({cost.NAMESPACE}{{namespace="kube-system"}}), 0.0001)', "5m", 0.045),
    ]
    promtool_test(
        tmp_path,
        cost.rule_groups(),
        series,
        checks,
        interval="1m",
        evaluation_interval="1m",
    )
