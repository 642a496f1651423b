"""Every rule over a set of resources, outside the Pulumi engine (the offline plan, the tests).

It applies the same semantics CrossGuard does: resource rules see each resource of their types,
stack rules see them all, levels come from the pack config, and a rule's `production` option,
when the config sets it, wins over the stack's `paved-road:production`. The domains' levels
(`domains/*.yaml`) reach every rule's context; only `domains-raised-levels` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from .config import PackConfig
from .core import MANDATORY, Context, Resource, ResourceRule, Rule, Stack, StackRule


@dataclass(frozen=True, order=True)
class Violation:
    level: str
    rule: str
    urn: str
    message: str
    severity: str

    @property
    def mandatory(self) -> bool:
        return self.level == MANDATORY


def context_for(
    rule: Rule,
    options: Mapping[str, Any],
    stack_production: bool,
    domains: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> Context:
    """The options a rule runs with, and whether the stack is production: the rule's `production`
    option when configured, else the stack's own `paved-road:production`. `domains` are the
    levels each domain sets for its tenants (`domains.load_domain_levels`)."""
    production = options.get("production")
    return Context(
        options=dict(options),
        production=production if isinstance(production, bool) else stack_production,
        domains=dict(domains or {}),
    )


def evaluate(
    rules: Iterable[Rule],
    resources: Iterable[Resource],
    config: Optional[PackConfig] = None,
    production: bool = False,
    domains: Optional[Mapping[str, Mapping[str, str]]] = None,
) -> list[Violation]:
    config = config or PackConfig()
    stack = Stack(resources)
    found: set[Violation] = set()
    for rule in rules:
        if not config.enabled(rule):
            continue
        level = config.reported_level(rule)
        context = context_for(rule, config.options(rule), production, domains)
        if isinstance(rule, ResourceRule):
            reports = [(r.urn, m) for r in stack for m in rule.violations(r, context)]
        elif isinstance(rule, StackRule):
            reports = [(f.urn, f.message) for f in rule.violations(stack, context)]
        else:
            raise TypeError(f"{rule.name}: neither a resource nor a stack rule")
        found.update(Violation(level, rule.name, urn, m, rule.severity) for urn, m in reports)
    # Mandatory first, then by rule and resource: the same order on every run.
    return sorted(found, key=lambda v: (v.level != MANDATORY, v.level, v.rule, v.urn, v.message))
