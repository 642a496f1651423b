"""The budget rules (policies/paved_road_policies/cost.py): every shipped plan passes; a tenant
whose budget is gone fails mandatorily in production and advisorily elsewhere, once."""

from __future__ import annotations

import pytest

from policies.paved_road_policies import registry
from policies.paved_road_policies.config import PackConfig
from policies.paved_road_policies.core import ADVISORY, MANDATORY, UNKNOWN, Resource
from tests.conftest import ROOT, SHIPPED_STACKS
from tests.test_policies_aws import edited, messages, swapped, violations, views

BUDGET = "aws:budgets/budget:Budget"
TENANT = "paved-road:tenants:Tenant"
RULES = ("cost-tenant-budget-in-production", "cost-tenant-budget")


def without_budget(resources: list[Resource], tenant: str) -> list[Resource]:
    return [
        r
        for r in resources
        if not (r.type == BUDGET and r.get("costFilters", 0, "values", 0).endswith(f"${tenant}"))
    ]


def budget_of(resources: list[Resource], tenant: str) -> Resource:
    (found,) = [
        r
        for r in resources
        if r.type == BUDGET and r.get("costFilters", 0, "values", 0).endswith(f"${tenant}")
    ]
    return found


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
@pytest.mark.parametrize("rule", RULES)
def test_the_shipped_plans_pass(stack: str, rule: str) -> None:
    resources = views(stack)
    assert [r for r in resources if r.type == TENANT], "not vacuous: the stack has tenants"
    assert violations(rule, resources, production=stack == "prod") == []


def test_a_production_tenant_without_a_budget_is_mandatory() -> None:
    resources = without_budget(views("prod"), "search")
    (found,) = violations("cost-tenant-budget-in-production", resources, production=True)
    assert found.level == MANDATORY
    assert found.urn.endswith("paved-road:tenants:Tenant::search")
    assert "user:paved-road:tenant$search" in found.message
    assert "tenants/search.yaml" in found.message
    # Reported once: the advisory rule is silent in production.
    assert violations("cost-tenant-budget", resources, production=True) == []


def test_outside_production_a_tenant_without_a_budget_is_advisory() -> None:
    resources = without_budget(views("dev"), "payments")
    (found,) = violations("cost-tenant-budget", resources, production=False)
    assert found.level == ADVISORY
    assert "tenant payments has no AWS Budget" in found.message
    assert violations("cost-tenant-budget-in-production", resources, production=False) == []


def test_the_production_option_wins_over_the_stack() -> None:
    resources = without_budget(views("dev"), "payments")
    config = PackConfig.load(ROOT / "policies" / "config" / "prod.json", registry.RULES)
    found = violations("cost-tenant-budget-in-production", resources, config=config)
    assert [v.level for v in found] == [MANDATORY]
    assert violations("cost-tenant-budget", resources, config=config) == []


def test_a_budget_filtered_by_another_tag_does_not_count() -> None:
    resources = views("prod")
    budget = budget_of(resources, "storefront")
    other = edited(
        budget,
        costFilters=[{"name": "TagKeyValue", "values": ["user:paved-road:cost-center$cc-2001"]}],
    )
    found = messages(
        "cost-tenant-budget-in-production", swapped(resources, budget, other), production=True
    )
    assert len(found) == 1 and "tenant storefront" in found[0]
    service = edited(budget, costFilters=[{"name": "Service", "values": ["Amazon EC2"]}])
    assert messages(
        "cost-tenant-budget-in-production", swapped(resources, budget, service), production=True
    )


def test_unknown_filters_during_a_preview_report_nothing() -> None:
    resources = without_budget(views("prod"), "search")
    budget = budget_of(resources, "payments")
    pending = swapped(resources, budget, edited(budget, costFilters=UNKNOWN))
    assert violations("cost-tenant-budget-in-production", pending, production=True) == []
