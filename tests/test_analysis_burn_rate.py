"""SLO-aware analysis: `release.analysis.burnRate` gates a release on the error-budget burn rate of
the new version's own traffic, through the platform's `burn-rate` ClusterAnalysisTemplate.

Its query's verdicts (fast burn fails, normal traffic passes, no traffic is inconclusive) are
evaluated with promtool in tests/test_analysis_promtool.py; here: the template against the
upstream CRD, the Rollouts that use it, and the tenant-file mistakes the plan refuses.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from components.delivery import analysis
from pavedroad.engine import PlanEngine
from tests.conftest import (
    SHIPPED_STACKS,
    assert_refused,
    make_project,
    pavedroad,
    shipped_plan,
    stack_config,
)
from tests.crds import crd_errors, require_crds
from tests.test_apps import IMAGE, api, args_of, project_with_apps, rollout_strategy

BURN_RATE = {"burnRate": {"max": 14.4}}


def analysis_of(strategy: dict[str, Any]) -> dict[str, Any]:
    if "canary" in strategy:
        return strategy["canary"]["analysis"]
    return strategy["blueGreen"]["prePromotionAnalysis"]


def template_names(block: dict[str, Any]) -> list[str]:
    return [t["templateName"] for t in block["templates"]]


# --------------------------------------------------------------------------------------------------
# The template


@pytest.mark.parametrize("provider", ["prometheus", "datadog", "newrelic"])
def test_the_template_validates_against_the_upstream_crd(provider: str) -> None:
    require_crds()
    address = "http://prometheus.monitoring.svc:9090" if provider == "prometheus" else None
    manifest = {
        "apiVersion": analysis.API_VERSION,
        "kind": analysis.KIND,
        "metadata": {"name": analysis.BURN_RATE},
        "spec": analysis.template_spec(analysis.BURN_RATE, provider, address),  # type: ignore[arg-type]
    }
    assert crd_errors(manifest) == []
    (metric,) = manifest["spec"]["metrics"]
    assert metric["name"] == "burn-rate"
    tags = {t.strip() for t in re.findall(r"\{\{(.*?)\}\}", str(metric))}
    assert tags == {f"args.{name}" for name in analysis.ARGS[analysis.BURN_RATE]}


def test_the_prometheus_template_is_the_shared_query_function() -> None:
    """The one function other engines reuse (e.g. as a Flagger MetricTemplate's query) is the
    one the Argo Rollouts template runs; given values, it selects exactly those."""
    placeholders = analysis.burn_rate_query(
        "{{args.service-name}}", "{{args.namespace}}", "{{args.objective}}", "5m"
    )
    assert analysis.prometheus_queries()[analysis.BURN_RATE] == placeholders
    query = analysis.burn_rate_query("web-canary", "shop", "0.999", "10m")
    assert 'namespace="shop", namespace!="", service="web-canary", service!=""' in query
    assert "[10m]" in query and query.endswith("(1 - 0.999)") and 'code=~"5.."' in query
    assert "{{" not in query


def test_the_shipped_dev_plan_installs_it_on_the_core_prometheus() -> None:
    plan = shipped_plan("dev")
    (template,) = [
        r
        for r in plan.by_type(f"kubernetes:{analysis.API_VERSION}:{analysis.KIND}")
        if r.inputs["metadata"]["name"] == "burn-rate"
    ]
    (metric,) = template.inputs["spec"]["metrics"]
    assert metric["provider"]["prometheus"]["address"] == plan.outputs["prometheusUrl"]


# --------------------------------------------------------------------------------------------------
# Rollouts that use it


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_storefront_web_is_gated_on_its_canarys_burn_rate(stack: str) -> None:
    """The shipped example: a canary with a 99.9% SLO and `burnRate: {max: 14.4}`."""
    plan = shipped_plan(stack)
    block = analysis_of(rollout_strategy(plan, "storefront-web"))
    assert template_names(block) == ["success-rate", "latency-p99", "burn-rate"]
    args = args_of(block)
    assert args["service-name"] == "storefront-web-canary", "the canary's traffic, not stable's"
    assert (args["objective"], args["max-burn-rate"]) == ("0.999", "14.4")
    for other in ("recommendations", "checkout-api"):
        assert "burn-rate" not in template_names(analysis_of(rollout_strategy(plan, other)))


def test_blue_green_checks_the_previews_burn_rate_before_the_switch(tmp_path: Path) -> None:
    """The default SLO (99.5%) is the budget when the tenant file writes none."""
    app = api(release={"strategy": "blueGreen", "analysis": {"burnRate": {"max": 6}}})
    plan = PlanEngine("dev", project_with_apps(tmp_path, [app])).run()
    block = rollout_strategy(plan, "api")["blueGreen"]["prePromotionAnalysis"]
    assert template_names(block) == ["success-rate", "burn-rate"]
    assert args_of(block) == {
        "service-name": "api-preview",
        "namespace": "bad",
        "threshold": "0.99",
        "objective": "0.995",
        "max-burn-rate": "6.0",
    }


def test_the_objective_is_the_apps_availability_as_an_exact_ratio(tmp_path: Path) -> None:
    app = api(slo={"availability": 99.95}, release={"analysis": BURN_RATE})
    plan = PlanEngine("dev", project_with_apps(tmp_path, [app])).run()
    args = args_of(rollout_strategy(plan, "api")["canary"]["analysis"])
    assert args["objective"] == "0.9995" and args["service-name"] == "api-canary"


# --------------------------------------------------------------------------------------------------
# Mistakes the plan refuses

WHERE = "apps[0].release.analysis.burnRate"
CONSUMER = {
    "name": "consumer",
    "template": "kafka-consumer",
    "image": IMAGE,
    "kafka": {"topic": "orders"},
}

BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "an app that opted out of its SLO": (
        api(slo=False, release={"analysis": BURN_RATE}),
        WHERE,
        "opted out of its SLO (slo: false)",
    ),
    "a template without an SLO": (
        {**CONSUMER, "release": {"analysis": BURN_RATE}},
        WHERE,
        "a kafka-consumer has none",
    ),
    "an analysis switched off": (
        api(release={"analysis": {"enabled": False, **BURN_RATE}}),
        WHERE,
        "the analysis is off",
    ),
    "a strategy without analysis": (
        api(release={"strategy": "serviceSwitch", "analysis": BURN_RATE}),
        "apps[0].release.analysis",
        "serviceSwitch runs no analysis",
    ),
    "a zero limit": (
        api(release={"analysis": {"burnRate": {"max": 0}}}),
        f"{WHERE}.max",
        "greater than 0",
    ),
    "a negative limit": (
        api(release={"analysis": {"burnRate": {"max": -2}}}),
        f"{WHERE}.max",
        "greater than 0",
    ),
    "an absurd limit": (
        api(release={"analysis": {"burnRate": {"max": 5000}}}),
        f"{WHERE}.max",
        "less than or equal to 1000",
    ),
    "a limit that is not a number": (
        api(release={"analysis": {"burnRate": {"max": "fast"}}}),
        f"{WHERE}.max",
        "'fast' is not a number",
    ),
    "a limit written as a boolean": (
        api(release={"analysis": {"burnRate": {"max": True}}}),
        f"{WHERE}.max",
        "True is not a number",
    ),
    "a limit the SLO can never reach": (
        # 99.5%: every request failing burns at 200x.
        api(release={"analysis": {"burnRate": {"max": 200}}}),
        f"{WHERE}.max",
        "can never be exceeded: with availability 99.5% even every request failing burns the "
        "budget at 200x",
    ),
    "an unknown field": (
        api(release={"analysis": {"burnRate": {"max": 14.4, "window": "1h"}}}),
        f"{WHERE}.window",
        "unknown field (allowed: max)",
    ),
    "a bare number": (
        api(release={"analysis": {"burnRate": 14.4}}),
        WHERE,
        "14.4 is not a mapping (expected e.g. {max: 14.4})",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_burn_rate_is_refused_with_file_and_field(case: str, tmp_path: Path) -> None:
    app, field, message = BAD[case]
    engine = PlanEngine("dev", project_with_apps(tmp_path, [app]))
    assert_refused(engine, "tenants/bad.yaml", field, message)


def test_a_limit_just_under_the_slos_ceiling_is_accepted(tmp_path: Path) -> None:
    app = api(slo={"availability": 99.9}, release={"analysis": {"burnRate": {"max": 999.9}}})
    plan = PlanEngine("dev", project_with_apps(tmp_path, [app])).run()
    assert args_of(rollout_strategy(plan, "api")["canary"]["analysis"])["max-burn-rate"] == "999.9"


def test_an_override_in_the_stack_file_is_refused_naming_the_stack_file(tmp_path: Path) -> None:
    config = copy.deepcopy(stack_config("dev"))
    config["paved-road:tenants"] = [
        "payments",
        "search",
        {"name": "storefront", "apps": [api(slo=False, release={"analysis": BURN_RATE})]},
    ]
    assert_refused(
        PlanEngine("dev", make_project(tmp_path, config, "dev")),
        "stacks/Pulumi.dev.yaml",
        f"paved-road:tenants[2].{WHERE}",
        "opted out of its SLO",
    )


def test_the_cli_exits_2_and_names_the_field(tmp_path: Path) -> None:
    root = project_with_apps(tmp_path, [api(slo=False, release={"analysis": BURN_RATE})])
    result = pavedroad("plan", "dev", "-C", str(root))
    assert result.returncode == 2
    assert f"tenants/bad.yaml: {WHERE}: needs an SLO" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "build").exists()
