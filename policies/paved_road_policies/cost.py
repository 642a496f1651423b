"""Cost: every team's spending is bounded by an AWS Budget, required in production.

A team's budget (`budget` in its tenant file, components/cost.py) is an AWS Budget whose
`TagKeyValue` cost filter names the team's cost-allocation tag, `user:paved-road:tenant$<team>`.
In production a team without one is a mandatory violation: nobody is told when its spending runs
away. Elsewhere it is advisory, so a team sees the gap before it reaches production. Both rules
judge the Tenant components and the budgets of the whole stack (stack rules); which one speaks
depends on the stack being production (the `production` option, unset: the stack's
`paved-road:production`), so a team is reported once.
"""

from __future__ import annotations

from typing import Any, Iterator

from .core import (
    ADVISORY,
    MEDIUM,
    TENANT_COMPONENT,
    TENANT_TAG,
    Context,
    Finding,
    Stack,
    as_list,
    is_unknown,
    stack_rule,
)

BUDGET = "aws:budgets/budget:Budget"
TAG_FILTER = "TagKeyValue"
_PRODUCTION_OPTION = {
    "production": {
        "type": "boolean",
        "description": "Whether this stack is production; unset, the stack's paved-road:production.",
    }
}
_REMEDIATION = (
    "Set `budget: {monthlyUsd: <limit>, notify: [<address>]}` in the team's tenant file "
    "(tenants/<team>.yaml): the platform creates its AWS Budget."
)


def _budgeted_tenants(stack: Stack) -> tuple[set[str], bool]:
    """The teams some budget filters by their tenant tag, and whether any budget's filters are
    not yet known (a preview before the values resolve): then nothing is reported."""
    prefix = f"user:{TENANT_TAG}$"
    found: set[str] = set()
    unknown = False
    for budget in stack.of_type(BUDGET):
        filters = budget.get("costFilters")
        if is_unknown(filters):
            unknown = True
            continue
        for entry in as_list(filters):
            if not isinstance(entry, dict) or entry.get("name") != TAG_FILTER:
                continue
            values = entry.get("values")
            if is_unknown(values):
                unknown = True
                continue
            found.update(
                value[len(prefix) :]
                for value in as_list(values)
                if isinstance(value, str) and value.startswith(prefix)
            )
    return found, unknown


def _unbudgeted(stack: Stack) -> Iterator[tuple[str, Any]]:
    budgeted, unknown = _budgeted_tenants(stack)
    if unknown:
        return
    for tenant in stack.of_type(TENANT_COMPONENT):
        if tenant.name not in budgeted:
            yield tenant.urn, tenant.name


def _finding(urn: str, tenant: Any) -> Finding:
    return Finding(
        urn,
        f"tenant {tenant} has no AWS Budget over its cost-allocation tag "
        f"(user:{TENANT_TAG}${tenant}): set `budget` in tenants/{tenant}.yaml",
    )


@stack_rule(
    name="cost-tenant-budget-in-production",
    description=(
        "In production every tenant has an AWS Budget filtered by its `paved-road:tenant` "
        "cost-allocation tag (stack rule)."
    ),
    remediation=_REMEDIATION,
    severity=MEDIUM,
    options=_PRODUCTION_OPTION,
)
def tenant_budget_in_production(stack: Stack, context: Context) -> Iterator[Finding]:
    if not context.production:
        return
    for urn, tenant in _unbudgeted(stack):
        yield _finding(urn, tenant)


@stack_rule(
    name="cost-tenant-budget",
    description=(
        "Outside production a tenant without an AWS Budget is reported, before production "
        "requires one (stack rule)."
    ),
    remediation=_REMEDIATION,
    severity=MEDIUM,
    level=ADVISORY,
    options=_PRODUCTION_OPTION,
)
def tenant_budget(stack: Stack, context: Context) -> Iterator[Finding]:
    if context.production:
        return
    for urn, tenant in _unbudgeted(stack):
        yield _finding(urn, tenant)
