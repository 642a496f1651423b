"""Cost: every team's AWS spending attributable and bounded.

Every AWS resource the platform creates carries `paved-road:environment` and, for a team's,
`paved-road:tenant` and `paved-road:cost-center` (components/tenant.py). Those tags only reach
Cost Explorer and AWS Budgets once they are activated as cost-allocation tags, so the stack
activates them; a budget filtered by a tag that is not active would count nothing and never
alert. AWS accepts the activation only once the tag appears in billing data (up to a day after
the first tagged resource), and the activation is account-wide: stacks sharing an account
share it.

A team that sets `budget` in its tenant file gets an AWS Budget over its `paved-road:tenant`
tag; the stack may set one over the whole environment (`paved-road:insights.budget`). Each
alerts its addresses twice: when 80% of the month's limit is actually spent, and when the month
is forecast to end above 100% — the second one arrives while there is still time to act.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.tenants_config import BudgetConfig

ENVIRONMENT_TAG = "paved-road:environment"
TENANT_TAG = "paved-road:tenant"
COST_CENTER_TAG = "paved-road:cost-center"
# The tags Cost Explorer groups by: the environment, the team and who pays for it.
COST_ALLOCATION_TAGS = (ENVIRONMENT_TAG, TENANT_TAG, COST_CENTER_TAG)
# (threshold %, notification type): spent so far, and where the month is heading.
ALERTS = ((80.0, "ACTUAL"), (100.0, "FORECASTED"))


def tag_filter(key: str, value: str) -> str:
    """A budget's `TagKeyValue` filter value: AWS names user-defined cost-allocation tags
    `user:<key>` and joins key and value with `$`."""
    return f"user:{key}${value}"


@dataclass(frozen=True)
class TenantBudget:
    """A team's budget, as plain data: the cost layer knows tenants only by name."""

    tenant: str
    budget: BudgetConfig


@dataclass(frozen=True)
class CostArgs:
    prefix: str
    environment: str
    tags: dict[str, str]
    environment_budget: Optional[BudgetConfig] = None
    tenant_budgets: tuple[TenantBudget, ...] = ()


class Cost(pulumi.ComponentResource):
    """The cost-allocation tags, the environment's budget and each team's."""

    budgets: dict[str, aws.budgets.Budget]

    def __init__(
        self, name: str, args: CostArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:cost:Cost", name, None, opts)
        activated = [
            aws.costexplorer.CostAllocationTag(
                f"{name}-tag-{key.replace(':', '-')}",
                tag_key=key,
                status="Active",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key in COST_ALLOCATION_TAGS
        ]
        self.budgets = {}
        if args.environment_budget is not None:
            self.budgets[args.environment] = self._budget(
                f"{name}-environment",
                budget_name=args.prefix,
                budget=args.environment_budget,
                tag=(ENVIRONMENT_TAG, args.environment),
                tags=args.tags,
                activated=activated,
            )
        for entry in args.tenant_budgets:
            self.budgets[entry.tenant] = self._budget(
                f"{name}-{entry.tenant}",
                budget_name=f"{args.prefix}-{entry.tenant}",
                budget=entry.budget,
                tag=(TENANT_TAG, entry.tenant),
                tags={**args.tags, TENANT_TAG: entry.tenant},
                activated=activated,
            )
        self.register_outputs({"budgets": sorted(self.budgets)})

    def _budget(
        self,
        name: str,
        *,
        budget_name: str,
        budget: BudgetConfig,
        tag: tuple[str, str],
        tags: dict[str, str],
        activated: list[aws.costexplorer.CostAllocationTag],
    ) -> aws.budgets.Budget:
        """A monthly cost budget over one cost-allocation tag, with the two alerts."""
        return aws.budgets.Budget(
            name,
            name=budget_name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{budget.monthly_usd}",
            limit_unit="USD",
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[tag_filter(*tag)])
            ],
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    notification_type=kind,
                    threshold=threshold,
                    threshold_type="PERCENTAGE",
                    subscriber_email_addresses=list(budget.notify),
                )
                for threshold, kind in ALERTS
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=activated),
        )
