"""Anomaly and capacity alerts (components/insight/anomaly.py, capacity.py), judged by promtool.

Every planned rule group passes `promtool check rules`; `promtool test rules` suites feed synthetic
series to the generated groups and assert which alerts fire. Metric names and labels follow the
exporters: kube-state-metrics' `kube_resourcequota{namespace, resourcequota, resource, type}`
(kubernetes/kube-state-metrics, docs/resourcequota-metrics.md; the kube-prometheus-stack scrapes it
with `honor_labels`, so `namespace` is the quota's) and the kubelet's
`kubelet_volume_stats_available_bytes{namespace, persistentvolumeclaim}` as kube-prometheus'
KubePersistentVolumeFillingUp reads it (prometheus-operator/kube-prometheus, the kubernetes-mixin
storage alerts).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest
import yaml

from components.insight import anomaly, capacity, contract
from components.kubernetes import TENANT_LABEL
from pavedroad.plan import kubernetes_objects
from tests.conftest import shipped_plan
from tests.crds import crd_errors
from tests.test_analysis_promtool import require_promtool

RUNBOOK = "https://example.com/README.md"
MINUTE, HOUR, DAY = 60, 3600, 24 * 3600


def planned_rules(stack: str = "dev") -> list[dict[str, Any]]:
    objects = kubernetes_objects(shipped_plan(stack).resources)
    return [
        o
        for o in objects
        if o["kind"] == "PrometheusRule"
        and (
            o["metadata"]["name"] in ("capacity", "platform-insight")
            or o["metadata"]["name"].endswith("-anomaly")
        )
    ]


def alerts_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


# --------------------------------------------------------------------------------------------------
# The planned objects


def test_every_api_service_has_anomaly_rules_and_every_namespace_capacity_rules() -> None:
    run = shipped_plan("dev")
    rules = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in planned_rules()}
    assert ("monitoring", "platform-insight") in rules
    objects = kubernetes_objects(run.resources)
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    tenant_namespaces = {
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "Namespace" and TENANT_LABEL in o["metadata"].get("labels", {})
    }
    assert tenant_namespaces and all((ns, "capacity") in rules for ns in tenant_namespaces)
    # Every api-service (the only template with a ServiceMonitor) and nothing else.
    api_services = {
        (o["metadata"]["namespace"], f"{o['metadata']['name']}-anomaly")
        for o in objects
        if o["kind"] == "ServiceMonitor"
    }
    assert api_services and {r for r in rules if r[1].endswith("-anomaly")} == api_services
    assert all(ns in namespaces for ns, _ in api_services)


def test_every_rule_group_passes_promtool_check(tmp_path: Path) -> None:
    promtool = require_promtool()
    files = []
    for rule in planned_rules():
        path = tmp_path / f"{rule['metadata']['namespace']}-{rule['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
        files.append(str(path))
    assert len(files) >= 3
    run = subprocess.run([promtool, "check", "rules", *files], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_prometheus_rule_validates_against_the_crd() -> None:
    for rule in planned_rules():
        assert crd_errors(rule) == [], rule["metadata"]


def test_every_alert_carries_the_contract_labels_and_annotations() -> None:
    """Tenant alerts name their tenant, namespace (the rule's own) and app; platform alerts have
    no tenant and go to the platform team; all are tickets with the four annotations."""
    for rule in planned_rules():
        namespace = rule["metadata"]["namespace"]
        tenant = rule["metadata"]["labels"].get(TENANT_LABEL)
        for alert in alerts_of(rule):
            labels = alert["labels"]
            assert labels["severity"] == contract.SEVERITY_TICKET
            assert labels[contract.KIND_LABEL] in (contract.KIND_ANOMALY, contract.KIND_CAPACITY)
            assert set(alert["annotations"]) == set(contract.ANNOTATIONS)
            assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())
            assert alert["annotations"]["dashboard"].startswith(contract.DEFAULT_GRAFANA_URL)
            if namespace == "monitoring":
                assert contract.TENANT_LABEL not in labels and labels["team"] == "platform"
                continue
            assert labels[contract.TENANT_LABEL] == tenant
            assert labels[contract.NAMESPACE_LABEL] == namespace
            assert alert["annotations"]["dashboard"] == contract.dashboard_url(
                contract.DEFAULT_GRAFANA_URL, tenant, labels.get(contract.APP_LABEL)
            )
            if labels[contract.KIND_LABEL] == contract.KIND_ANOMALY:
                app = labels[contract.APP_LABEL]
                assert rule["metadata"]["name"] == f"{app}-anomaly"


SELECTOR = re.compile(
    r"(http_requests_total|http_request_duration_seconds_bucket|kube_resourcequota"
    r"|kubelet_volume_stats_available_bytes|app:[a-z0-9_:]+)\{([^}]*)\}"
)


def test_tenant_rules_select_only_their_own_namespace() -> None:
    """The Prometheus enforces `namespace` on tenant rules; the rules say it themselves too, so
    they read the same with enforcement and in promtool."""
    for rule in planned_rules():
        namespace = rule["metadata"]["namespace"]
        if namespace == "monitoring":
            continue
        selectors = [
            match
            for group in rule["spec"]["groups"]
            for r in group["rules"]
            for match in SELECTOR.finditer(r["expr"])
        ]
        assert selectors, rule["metadata"]
        for match in selectors:
            assert f'namespace="{namespace}"' in match.group(2), match.group(0)


# --------------------------------------------------------------------------------------------------
# promtool test rules


def promtool_test(
    tmp_path: Path,
    groups: list[dict[str, Any]],
    series: dict[str, str],
    checks: Sequence[tuple[str, str, float]],
    *,
    interval: str,
    evaluation_interval: str,
) -> None:
    """Run `groups` over `series` and assert each (expr, eval_time, value): the query answers
    exactly one sample without labels of that value (queries are `count(...) or vector(0)`
    or a `round`ed scalar-like vector)."""
    promtool = require_promtool()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": evaluation_interval,
        "tests": [
            {
                "interval": interval,
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": at, "exp_samples": [{"labels": "{}", "value": v}]}
                    for expr, at, v in checks
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def firing(alert: str) -> str:
    return f'count(ALERTS{{alertname="{alert}", alertstate="firing"}}) or vector(0)'


def present(expr: str) -> str:
    return f"count({expr}) or vector(0)"


def at(seconds: int) -> str:
    return f"{seconds}s"


# --- anomalies: a week of history, one sample every 2 minutes (rate[5m] needs two) -----------

STEP = 2 * MINUTE
ANOMALY_DAYS = 8
SPIKE_AT = 7 * DAY + 12 * HOUR


def counter(rate: Callable[[int], float], days: int = ANOMALY_DAYS) -> str:
    """A counter's samples every STEP seconds, growing at `rate(t)` requests per second."""
    total, values = 0.0, []
    for i in range(days * DAY // STEP + 1):
        values.append(f"{total:.1f}")
        total += rate(i * STEP) * STEP
    return " ".join(values)


def noisy(base: float, sigma: float) -> Callable[[int], float]:
    """`base` ± `sigma` in ten-minute blocks: a week's standard deviation of about `sigma`."""
    return lambda t: base + (sigma if (t // 600) % 2 else -sigma)


def bump(
    shape: Callable[[int], float], height: float, starts: Sequence[int], length: int
) -> Callable[[int], float]:
    return lambda t: shape(t) + (height if any(s <= t < s + length for s in starts) else 0.0)


def checkout_rules() -> list[dict[str, Any]]:
    return anomaly.app_rule_groups(
        "shop", "shop", "checkout", ["checkout", "checkout-canary"], runbook_base_url=RUNBOOK
    )


def requests_series(rate: Callable[[int], float]) -> dict[str, str]:
    return {'http_requests_total{namespace="shop", service="checkout", code="200"}': counter(rate)}


RATE_ALERT = "AppRequestRateAnomaly"
ZSCORE = f'{anomaly.record("app", anomaly.RATE, "zscore_1w")}{{app="checkout"}}'


def test_a_five_sigma_spike_raises_an_anomaly_after_ten_minutes(tmp_path: Path) -> None:
    rate = bump(noisy(20, 2), 5 * 2 + 2, [SPIKE_AT], HOUR)
    promtool_test(
        tmp_path,
        checkout_rules(),
        requests_series(rate),
        [
            (firing(RATE_ALERT), at(SPIKE_AT - 30 * MINUTE), 0),
            (firing(RATE_ALERT), at(SPIKE_AT + 30 * MINUTE), 1),
            (firing(RATE_ALERT), at(SPIKE_AT + 3 * HOUR), 0),
        ],
        interval="2m",
        evaluation_interval="4m",
    )


def test_a_pattern_that_repeats_every_week_raises_nothing(tmp_path: Path) -> None:
    """The same rush at the same hour a week ago: unusual for the week (the plain z-score is
    above 3), but not for this time of the week."""
    rate = bump(noisy(20, 2), 5 * 2 + 2, [SPIKE_AT - 7 * DAY, SPIKE_AT], HOUR)
    promtool_test(
        tmp_path,
        checkout_rules(),
        requests_series(rate),
        [
            (present(f"{ZSCORE} > 3"), at(SPIKE_AT + 30 * MINUTE), 1),
            (firing(RATE_ALERT), at(SPIKE_AT + 30 * MINUTE), 0),
        ],
        interval="2m",
        evaluation_interval="4m",
    )


def test_a_quiet_app_below_the_traffic_floor_raises_nothing(tmp_path: Path) -> None:
    floor = anomaly.TRAFFIC_FLOOR_RPS
    rate = bump(noisy(floor * 0.3, floor * 0.03), floor * 0.18, [SPIKE_AT], HOUR)
    promtool_test(
        tmp_path,
        checkout_rules(),
        requests_series(rate),
        [
            (present(f"{ZSCORE} > 3"), at(SPIKE_AT + 30 * MINUTE), 1),
            (firing(RATE_ALERT), at(SPIKE_AT + 30 * MINUTE), 0),
        ],
        interval="2m",
        evaluation_interval="4m",
    )


# --- capacity: a day and a bit of history, one sample every 10 minutes -------------------------

CAPACITY_STEP = 10 * MINUTE
EVAL = 26 * HOUR  # a day of trend, then more than the alerts' `for: 1h`


def linear(start: float, end_at_eval: float, steps: int = 200) -> str:
    """A series growing linearly from `start` to `end_at_eval` at EVAL (promtool's `a+bxN`)."""
    per_step = (end_at_eval - start) / (EVAL // CAPACITY_STEP)
    sign = "-" if per_step < 0 else "+"
    return f"{start}{sign}{abs(per_step)!r}x{steps}"


def quota_series(days_left: float) -> dict[str, str]:
    """requests.cpu of a 4-CPU quota, used 1 CPU a day before EVAL, growing so that it reaches
    the hard limit `days_left` days after EVAL."""
    hard, start = 4.0, 1.0
    slope = (hard - start) / (EVAL + days_left * DAY)  # per second
    labels = 'namespace="shop", resourcequota="tenant-quota", resource="requests.cpu"'
    return {
        f'kube_resourcequota{{{labels}, type="hard"}}': f"{hard}x200",
        f'kube_resourcequota{{{labels}, type="used"}}': linear(start, start + slope * EVAL),
        # Another resource, flat: never predicted to fill.
        f'kube_resourcequota{{namespace="shop", resourcequota="tenant-quota", resource="pods", type="used"}}': "10x200",
        f'kube_resourcequota{{namespace="shop", resourcequota="tenant-quota", resource="pods", type="hard"}}': "50x200",
    }


def tenant_capacity_rules() -> list[dict[str, Any]]:
    return capacity.tenant_rule_groups("shop", "shop", runbook_base_url=RUNBOOK)


def quota_hours_left() -> str:
    # The alerts' group; the rightsizing records follow it (components/insight/rightsizing.py).
    group = tenant_capacity_rules()[0]
    (rule,) = [r for r in group["rules"] if r.get("alert") == "TenantQuotaFillingUp"]
    return f"round(sum(({rule['expr']})) / 3600)"


def test_a_quota_full_in_three_days_alerts_with_the_time_left(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        tenant_capacity_rules(),
        quota_series(3),
        [
            (firing("TenantQuotaFillingUp"), at(EVAL), 1),
            (quota_hours_left(), at(EVAL), 72),
        ],
        interval="10m",
        evaluation_interval="10m",
    )


def test_a_quota_full_in_thirty_days_does_not_alert(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        tenant_capacity_rules(),
        quota_series(30),
        [(firing("TenantQuotaFillingUp"), at(EVAL), 0)],
        interval="10m",
        evaluation_interval="10m",
    )


def volume_series(days_left: float) -> dict[str, str]:
    """A 100 GB claim with 60 GB free a day before EVAL, emptying `days_left` days after EVAL."""
    start = 60e9
    slope = start / (EVAL + days_left * DAY)
    labels = 'namespace="shop", persistentvolumeclaim="data-postgres-0", node="ip-10-0-1-1"'
    return {
        f"kubelet_volume_stats_available_bytes{{{labels}}}": linear(start, start - slope * EVAL),
        f"kubelet_volume_stats_capacity_bytes{{{labels}}}": "100e9x200",
    }


def test_a_volume_full_in_two_days_alerts(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        tenant_capacity_rules(),
        volume_series(2),
        [(firing("TenantVolumeFillingUp"), at(EVAL), 1)],
        interval="10m",
        evaluation_interval="10m",
    )


def test_a_volume_full_in_twenty_days_does_not_alert(tmp_path: Path) -> None:
    promtool_test(
        tmp_path,
        tenant_capacity_rules(),
        volume_series(20),
        [(firing("TenantVolumeFillingUp"), at(EVAL), 0)],
        interval="10m",
        evaluation_interval="10m",
    )


def cluster_series(cpu_requests_at_eval: float, cpu_requests_start: float) -> dict[str, str]:
    """Two nodes of 4 allocatable CPUs; one running pod whose CPU requests grow (kube-state-
    metrics' series per pod; a Succeeded pod's requests do not count)."""
    return {
        'kube_node_status_allocatable{node="a", resource="cpu", unit="core"}': "4x200",
        'kube_node_status_allocatable{node="b", resource="cpu", unit="core"}': "4x200",
        'kube_pod_container_resource_requests{namespace="shop", pod="api", container="api", node="a", resource="cpu", unit="core"}': linear(
            cpu_requests_start, cpu_requests_at_eval
        ),
        'kube_pod_status_phase{namespace="shop", pod="api", phase="Running"}': "1x200",
        'kube_pod_container_resource_requests{namespace="shop", pod="done", container="job", node="b", resource="cpu", unit="core"}': "4x200",
        'kube_pod_status_phase{namespace="shop", pod="done", phase="Succeeded"}': "1x200",
    }


def test_cluster_requests_passing_85_percent_within_a_week_alert_the_platform(
    tmp_path: Path,
) -> None:
    # 8 CPUs: from 3 to 5 requested in a day (2/day), 85% (6.8) is reached in under a day.
    groups = capacity.platform_rule_groups(runbook_base_url=RUNBOOK)
    promtool_test(
        tmp_path,
        groups,
        cluster_series(5, 3),
        [
            (firing("ClusterRequestsNearAllocatable"), at(EVAL), 1),
            (
                present('ALERTS{alertname="ClusterRequestsNearAllocatable", team="platform"}'),
                at(EVAL),
                1,
            ),
        ],
        interval="10m",
        evaluation_interval="10m",
    )


def test_cluster_requests_growing_slowly_do_not_alert(tmp_path: Path) -> None:
    # From 3 to 3.2 CPUs in a day: 6.8 is 18 days away; the finished pod's 4 CPUs do not count.
    groups = capacity.platform_rule_groups(runbook_base_url=RUNBOOK)
    promtool_test(
        tmp_path,
        groups,
        cluster_series(3.2, 3),
        [(firing("ClusterRequestsNearAllocatable"), at(EVAL), 0)],
        interval="10m",
        evaluation_interval="10m",
    )


def test_an_error_spike_raises_the_apps_and_the_platforms_error_anomaly(tmp_path: Path) -> None:
    """Errors at about 1% (varying on their own rhythm), then 6% for an hour: the app's alert
    and the platform-wide one (all apps together, in monitoring) both fire; the rate does not."""
    errors = bump(lambda t: 0.2 + (0.04 if (t // 1200) % 2 else -0.04), 1.0, [SPIKE_AT], HOUR)
    series = {
        **requests_series(noisy(20, 2)),
        'http_requests_total{namespace="shop", service="checkout", code="503"}': counter(errors),
    }
    groups = [*checkout_rules(), *anomaly.platform_rule_groups(runbook_base_url=RUNBOOK)]
    promtool_test(
        tmp_path,
        groups,
        series,
        [
            (firing("AppErrorRatioAnomaly"), at(SPIKE_AT - 30 * MINUTE), 0),
            (firing("AppErrorRatioAnomaly"), at(SPIKE_AT + 30 * MINUTE), 1),
            (
                present('ALERTS{alertname="PlatformErrorRatioAnomaly", team="platform"}'),
                at(SPIKE_AT + 30 * MINUTE),
                1,
            ),
            (firing(RATE_ALERT), at(SPIKE_AT + 30 * MINUTE), 0),
        ],
        interval="2m",
        evaluation_interval="4m",
    )


def test_every_alert_has_its_runbook_entry_in_the_readme() -> None:
    """`runbook_url` is the README's anchor of the alert's name: a heading must exist for it
    (GitHub's anchors: lower case, punctuation dropped, spaces as dashes)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in readme.splitlines()
        if line.startswith("#")
    }
    names = {alert["alert"] for rule in planned_rules() for alert in alerts_of(rule)}
    assert len(names) == 9
    for name in names:
        assert contract.runbook_url(RUNBOOK, name).split("#")[1] in anchors, name
