"""SLOs: the tenant-file section, the planned PrometheusRules, and their alerts run by promtool.

The alert suites feed `promtool test rules` synthetic counters, one sample a minute, and check
which of the four burn-rate alerts fire when. The windows and factors follow "The Site
Reliability Workbook", ch. 5, table 5-8 (14.4x over 1h/5m and 6x over 6h/30m page; 3x over 1d/2h
and 1x over 3d/6h open a ticket). PrometheusRule objects are validated against the
prometheus-operator CRD (../shared/crds/prometheus-operator/prometheusrules…yaml).
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any, Iterable, Optional

import pytest
import yaml

from components.apps_config import LatencySlo, SloConfig
from components.insight import contract
from components.insight.slo import (
    AVAILABILITY,
    BURN_ALERTS,
    LATENCY,
    SLO_NOTE_ANNOTATION,
    SloTarget,
    rule_groups,
)
from pavedroad.engine import PlanEngine
from pavedroad.plan import kubernetes_objects, summary
from tests.conftest import (
    assert_refused,
    SHIPPED_STACKS,
    pavedroad,
    project_with_tenant_bad,
    shipped_plan,
)
from tests.crds import crd_errors
from tests.test_analysis_promtool import require_promtool

FAST, SUSTAINED, SLOW, GRADUAL = (alert.name for alert in BURN_ALERTS)
PAGES, TICKETS = (FAST, SUSTAINED), (SLOW, GRADUAL)
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.0.0"

TARGET = SloTarget(
    tenant="shop",
    namespace="shop",
    app="web",
    services=("web", "web-canary"),
    slo=SloConfig(availability=99.9, latency=LatencySlo(threshold_ms=300, target=99)),
    runbook_base_url="https://example.com/README.md",
)


def _rules(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        o
        for o in objects
        if o["kind"] == "PrometheusRule" and o["metadata"]["name"].endswith("-slo")
    ]


def planned_rules(stack: str) -> list[dict[str, Any]]:
    return _rules(kubernetes_objects(shipped_plan(stack).resources))


# --------------------------------------------------------------------------------------------------
# Running promtool


def check_rules(tmp_path: Path, groups: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return subprocess.run(
        [require_promtool(), "check", "rules", str(path)], capture_output=True, text=True
    )


def counters(segments: list[tuple[int, float, float]], start: float = 0) -> tuple[str, str]:
    """(all requests, bad requests) cumulative counters, one sample a minute: each segment is
    (minutes, requests per second, bad share). Returns promtool `values` strings."""
    total, bad = [start], [0.0]
    for minutes, per_second, share in segments:
        for _ in range(minutes):
            total.append(total[-1] + per_second * 60)
            bad.append(bad[-1] + per_second * 60 * share)
    return " ".join(f"{v:g}" for v in total), " ".join(f"{v:g}" for v in bad)


def availability_series(segments: list[tuple[int, float, float]]) -> list[dict[str, str]]:
    total, bad = counters(segments)
    good = " ".join(
        f"{float(t) - float(b):g}" for t, b in zip(total.split(), bad.split(), strict=True)
    )
    selector = 'http_requests_total{namespace="shop", service="web", code="%s"}'
    return [
        {"series": selector % "200", "values": good},
        {"series": selector % "503", "values": bad},
        # Another app's errors in the same namespace never count.
        {
            "series": 'http_requests_total{namespace="shop", service="other", code="500"}',
            "values": "0+100000x600",
        },
    ]


def latency_series(segments: list[tuple[int, float, float]], le: str = "0.25") -> list[dict]:
    """The 250 ms bucket and +Inf: `share` is the share of requests slower than 250 ms."""
    total, slow = counters(segments)
    fast = " ".join(
        f"{float(t) - float(s):g}" for t, s in zip(total.split(), slow.split(), strict=True)
    )
    selector = (
        'http_request_duration_seconds_bucket{namespace="shop", service="web-canary", le="%s"}'
    )
    return [
        {"series": selector % le, "values": fast},
        {"series": selector % "+Inf", "values": total},
    ]


def alert_labels(alert: str, slo: str = AVAILABILITY) -> dict[str, str]:
    severity = next(a.severity for a in BURN_ALERTS if a.name == alert)
    return {
        "tenant": "shop",
        "namespace": "shop",
        "app": "web",
        "slo": slo,
        "severity": severity,
        "kind": contract.KIND_SLO,
    }


def expect(
    at: str, firing: Iterable[str] = (), silent: Iterable[str] = (), slo: str = AVAILABILITY
) -> list[dict[str, Any]]:
    """Alert tests at `at`: each of `firing` fires once with its labels, each of `silent` not."""
    tests = [
        {
            "eval_time": at,
            "alertname": name,
            "exp_alerts": [{"exp_labels": alert_labels(name, slo)}],
        }
        for name in firing
    ]
    tests += [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in silent]
    return tests


def run_suite(
    tmp_path: Path,
    series: list[dict[str, str]],
    alert_tests: list[dict[str, Any]],
    expr_tests: Optional[list[dict[str, Any]]] = None,
    target: SloTarget = TARGET,
    annotations: bool = False,
) -> None:
    """promtool test rules over the target's rules. promtool compares annotations too, so the
    alert-logic suites leave them out; test_the_page_says_how_fast_and_how_much_is_left reads
    them."""
    groups = copy.deepcopy(rule_groups(target))
    for group in groups:
        for rule in group["rules"]:
            if not annotations:
                rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    test: dict[str, Any] = {"interval": "1m", "input_series": series}
    if alert_tests:
        test["alert_rule_test"] = alert_tests
    if expr_tests:
        test["promql_expr_test"] = expr_tests
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [test]}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, width=1 << 20))
    result = subprocess.run(
        [require_promtool(), "test", "rules", "suite.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def minutes(*values: int) -> list[str]:
    return [f"{v}m" for v in values]


# --------------------------------------------------------------------------------------------------
# Availability, 99.9% over 30d: budget 0.1%


def test_a_sustained_two_percent_error_rate_pages_within_43_minutes(tmp_path: Path) -> None:
    """2% is a 20x burn: the 1h window passes 14.4x after 0.72 h (~43 min) of it, so the page
    fires between 43 and 46 minutes after the errors start, after three healthy hours."""
    onset = 180
    series = availability_series([(onset, 100, 0), (60, 100, 0.02)])
    tests = expect(f"{onset + 40}m", silent=(FAST, SUSTAINED))
    tests += expect(f"{onset + 46}m", firing=(FAST,), silent=(SUSTAINED,))
    tests += expect(f"{onset + 60}m", firing=(FAST,))
    run_suite(tmp_path, series, tests)


def test_the_page_says_how_fast_and_how_much_is_left(tmp_path: Path) -> None:
    """An hour of 2% after three healthy hours: a 20x burn over 1h; over the 4 hours of history
    the 30d ratio is 0.5%, five budgets, so -400% of the budget is left."""
    series = availability_series([(180, 100, 0), (60, 100, 0.02)])
    group, _ = rule_groups(TARGET)
    fast = next(r for r in group["rules"] if r.get("alert") == FAST)
    rendered = {
        **fast["annotations"],
        "description": fast["annotations"]["description"].split("burned at")[0]
        + "burned at 20.0x the sustainable rate; budget left over 30d: -400%.",
    }
    test = {
        "eval_time": "240m",
        "alertname": FAST,
        "exp_alerts": [{"exp_labels": alert_labels(FAST), "exp_annotations": rendered}],
    }
    run_suite(tmp_path, series, [test], annotations=True)


def test_half_a_percent_for_six_hours_opens_a_ticket_and_never_pages(tmp_path: Path) -> None:
    """0.5% is a 5x burn: above the tickets' 3x and 1x, below the pages' 6x and 14.4x."""
    series = availability_series([(60, 100, 0), (360, 100, 0.005)])
    tests = [t for at in range(70, 421, 10) for t in expect(f"{at}m", silent=PAGES)]
    tests += expect("420m", firing=(SLOW, GRADUAL))
    run_suite(tmp_path, series, tests)


def test_a_one_minute_blip_of_ten_percent_pages_nobody(tmp_path: Path) -> None:
    """The 5m window alone would page (10% over one of five minutes is 2%, 20x); the 1h window
    (0.17%, 1.7x) keeps everyone asleep."""
    series = availability_series([(180, 100, 0), (1, 100, 0.10), (120, 100, 0)])
    alerts = (*PAGES, *TICKETS)
    tests = [t for at in range(180, 301, 5) for t in expect(f"{at}m", silent=alerts)]
    expr = {
        "expr": 'slo:sli_error:ratio_rate5m{slo="availability"} > 0.0144',
        "eval_time": "183m",
        "exp_samples": [
            {
                "labels": 'slo:sli_error:ratio_rate5m{tenant="shop", namespace="shop", '
                'app="web", slo="availability"}',
                "value": 0.02,
            }
        ],
    }
    run_suite(tmp_path, series, tests, [expr])


def test_no_traffic_raises_nothing_and_records_no_nan(tmp_path: Path) -> None:
    """Flat counters (an app with no requests) and no series at all: no ratio, no alert."""
    series = availability_series([(400, 0, 0)])
    alerts = (*PAGES, *TICKETS)
    tests = [t for at in range(10, 401, 30) for t in expect(f"{at}m", silent=alerts)]
    exprs = [
        {"expr": f"{contract.sli_error_ratio_record(w)}", "eval_time": "300m", "exp_samples": []}
        for w in (*contract.SLO_WINDOWS, "30d")
    ]
    exprs.append(
        {"expr": contract.SLO_BUDGET_REMAINING_RECORD, "eval_time": "300m", "exp_samples": []}
    )
    run_suite(tmp_path, series, tests, exprs)
    run_suite(tmp_path, [{"series": "up", "values": "1+0x400"}], tests, exprs)


def test_an_app_that_never_failed_has_its_whole_budget(tmp_path: Path) -> None:
    """No 5xx series at all while there is traffic: a ratio of 0, the budget left 1."""
    series = availability_series([(120, 100, 0)])[:1]
    labels = '{tenant="shop", namespace="shop", app="web", slo="availability"}'
    exprs = [
        {
            "expr": f'{contract.SLO_BUDGET_REMAINING_RECORD}{{slo="availability"}}',
            "eval_time": "100m",
            "exp_samples": [{"labels": contract.SLO_BUDGET_REMAINING_RECORD + labels, "value": 1}],
        },
        {
            "expr": f'{contract.sli_error_ratio_record("1h")}{{slo="availability"}}',
            "eval_time": "100m",
            "exp_samples": [{"labels": contract.sli_error_ratio_record("1h") + labels, "value": 0}],
        },
    ]
    run_suite(tmp_path, series, [], exprs)


# --------------------------------------------------------------------------------------------------
# Latency: 99% within 300 ms, counted at the 250 ms bucket


def test_a_slow_canary_pages_on_latency(tmp_path: Path) -> None:
    """20% of requests over 250 ms is a 20x burn of a 1% budget: paged after ~43 minutes."""
    onset = 180
    series = latency_series([(onset, 50, 0.005), (60, 50, 0.20)])
    tests = expect(f"{onset + 40}m", silent=(FAST, SUSTAINED), slo=LATENCY)
    tests += expect(f"{onset + 46}m", firing=(FAST,), slo=LATENCY)
    run_suite(tmp_path, series, tests)


def test_latency_within_the_objective_raises_nothing(tmp_path: Path) -> None:
    series = latency_series([(400, 50, 0.005)])
    alerts = (*PAGES, *TICKETS)
    tests = [t for at in range(30, 401, 30) for t in expect(f"{at}m", silent=alerts, slo=LATENCY)]
    run_suite(tmp_path, series, tests)


@pytest.mark.parametrize("le", ["1", "1.0"])
def test_a_whole_second_bucket_matches_go_and_python_spelling(tmp_path: Path, le: str) -> None:
    """client_golang writes `le="1"`, client_python and Prometheus 3 `le="1.0"`."""
    target = SloTarget(
        "shop",
        "shop",
        "web",
        ("web-canary",),
        SloConfig(latency=LatencySlo(threshold_ms=1200, target=99)),
        "https://example.com/README.md",
    )
    series = latency_series([(120, 50, 0.5)], le=le)
    labels = '{tenant="shop", namespace="shop", app="web", slo="latency"}'
    record = contract.sli_error_ratio_record("1h")
    exprs = [
        {
            "expr": f'{record}{{slo="latency"}}',
            "eval_time": "100m",
            "exp_samples": [{"labels": record + labels, "value": 0.5}],
        }
    ]
    run_suite(tmp_path, series, [], exprs, target=target)


# --------------------------------------------------------------------------------------------------
# The planned rules


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_planned_rule_group_passes_promtool_check(stack: str, tmp_path: Path) -> None:
    rules = planned_rules(stack)
    assert rules
    for rule in rules:
        result = check_rules(tmp_path, rule["spec"]["groups"])
        assert result.returncode == 0, f"{rule['metadata']['name']}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_planned_rule_validates_against_the_crd(stack: str) -> None:
    for rule in planned_rules(stack):
        assert crd_errors(rule) == [], rule["metadata"]["name"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_api_service_has_its_slo_rule_unless_it_opted_out(stack: str) -> None:
    plan = shipped_plan(stack)
    objects = kubernetes_objects(plan.resources)
    rules = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in _rules(objects)}
    expected = {
        ("payments", "checkout-api-slo"),
        ("storefront", "storefront-web-slo"),
        ("storefront", "recommendations-slo"),
    }
    assert rules == expected
    rule = next(r for r in _rules(objects) if r["metadata"]["name"] == "recommendations-slo")
    (group,) = rule["spec"]["groups"]
    objective = next(r for r in group["rules"] if r.get("record") == contract.SLO_OBJECTIVE_RECORD)
    assert objective["expr"] == "vector(0.995)"
    assert rule["metadata"]["labels"]["paved-road/tenant"] == "storefront"


def test_dev_shows_one_latency_slo_and_one_opt_out() -> None:
    plan = shipped_plan("dev")
    rules = _rules(kubernetes_objects(plan.resources))
    with_latency = [
        r["metadata"]["name"]
        for r in rules
        if any(g["name"].endswith("-slo-latency") for g in r["spec"]["groups"])
    ]
    assert with_latency == ["storefront-web-slo"]
    text = summary(plan)
    assert "search/search-api: opted out (slo: false)" in text
    assert (
        "storefront/storefront-web: latency threshold 300 ms counted at the 250 ms bucket" in text
    )
    web = next(r for r in rules if r["metadata"]["name"] == "storefront-web-slo")
    assert "250 ms" in web["metadata"]["annotations"][SLO_NOTE_ANNOTATION]


def test_rules_wait_for_the_release_that_brings_the_crd() -> None:
    plan = shipped_plan("dev")
    release = next(
        r.urn
        for r in plan.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.name.endswith("kube-prometheus-stack")
    )
    rules = [
        r
        for r in plan.resources
        if r.type.endswith(":PrometheusRule") and r.name.endswith("/slo-rule")
    ]
    assert len(rules) == 3
    for rule in rules:
        assert release in rule.dependencies, rule.name
        assert "$paved-road:tenants:Tenant$" in rule.urn


def test_alerts_carry_the_contract_labels_and_links() -> None:
    group, _ = rule_groups(TARGET)
    alerts = [r for r in group["rules"] if "alert" in r]
    assert [a["alert"] for a in alerts] == [FAST, SUSTAINED, SLOW, GRADUAL]
    assert [a["labels"]["severity"] for a in alerts] == ["page", "page", "ticket", "ticket"]
    for alert in alerts:
        assert set(alert["annotations"]) == set(contract.ANNOTATIONS)
        assert alert["labels"]["kind"] == "slo"
        assert alert["annotations"]["runbook_url"] == contract.runbook_url(
            TARGET.runbook_base_url, alert["alert"]
        )
        assert alert["annotations"]["dashboard"] == (
            "http://localhost:3000/d/paved-road-shop?var-app=web"
        )
        assert "$value" in alert["annotations"]["description"]
        assert contract.SLO_BUDGET_REMAINING_RECORD in alert["annotations"]["description"]


# --------------------------------------------------------------------------------------------------
# Bad input

BAD_SLOS: dict[str, tuple[dict[str, Any], str, str]] = {
    "objective of 100": ({"slo": {"availability": 100}}, "apps[0].slo.availability", "below 100"),
    "objective of 0": ({"slo": {"availability": 0}}, "apps[0].slo.availability", "above 0"),
    "latency target above 100": (
        {"slo": {"latency": {"thresholdMs": 300, "target": 120}}},
        "apps[0].slo.latency.target",
        "below 100",
    ),
    "threshold below the smallest bucket": (
        {"slo": {"latency": {"thresholdMs": 2, "target": 99}}},
        "apps[0].slo.latency.thresholdMs",
        "smallest latency bucket",
    ),
    "window of 14d": ({"slo": {"window": "14d"}}, "apps[0].slo.window", "'7d', '28d' or '30d'"),
    "slo: true": ({"slo": True}, "apps[0].slo", "false to opt out"),
    "slo on a batch job": (
        {"template": "batch-job", "schedule": "0 3 * * *", "slo": {"availability": 99}},
        "apps[0].slo",
        "only an api-service",
    ),
    "slo on a kafka consumer": (
        {"template": "kafka-consumer", "kafka": {"topic": "orders"}, "slo": False},
        "apps[0].slo",
        "only an api-service",
    ),
}


def _bad_project(tmp_path: Path, fields: dict[str, Any]) -> Path:
    app = {"name": "web", "template": "api-service", "image": IMAGE, **fields}
    root, _ = project_with_tenant_bad(tmp_path, {"namespaces": ["bad"], "apps": [app]})
    return root


@pytest.mark.parametrize("case", sorted(BAD_SLOS))
def test_a_bad_slo_is_refused_with_file_and_field(case: str, tmp_path: Path) -> None:
    fields, field, message = BAD_SLOS[case]
    assert_refused(
        PlanEngine("dev", _bad_project(tmp_path, fields)), "tenants/bad.yaml", field, message
    )


def test_cli_exits_2_on_a_bad_window(tmp_path: Path) -> None:
    root = _bad_project(tmp_path, {"slo": {"window": "90d"}})
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2
    assert "tenants/bad.yaml: apps[0].slo.window" in result.stderr
    assert "Traceback" not in result.stderr
