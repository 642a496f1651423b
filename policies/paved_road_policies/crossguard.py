"""The rules as pulumi_policy policies: what `pulumi preview --policy-pack policies` runs.

Each adapter turns CrossGuard's arguments into the same `Resource`/`Stack` views the offline
runner builds from a plan, then calls the rule's own function. CrossGuard hands over inputs in
provider wire names behind a proxy that raises on values unknown during a preview; the adapter
unwraps them, marks unknowns as `UNKNOWN` (rules skip what they cannot see; `pulumi up` checks it
again once known) and turns whole numbers back into integers, as the plan does.

The domains' stricter levels (`domains/*.yaml`, see domains.py) are read once, when the pack is
built, from the checkout the pack runs from: the same files `pavedroad plan` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy
from pulumi_policy.deserialize import serialize_properties

from .core import UNKNOWN, Resource, ResourceRule, Rule, Stack, StackRule
from .domains import load_domain_levels
from .runner import context_for

# The checkout the pack runs from: policies/paved_road_policies/ is two levels below it.
PACK_ROOT = Path(__file__).resolve().parents[2]
Domains = Mapping[str, Mapping[str, str]]

_UNKNOWNS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """CrossGuard's proxied properties as plain data, unknowns as `UNKNOWN`."""
    # serialize_properties unwraps the proxies at every depth and keeps the unknown sentinels.
    return _mark(dict(serialize_properties(props)))


def _mark(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mark(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mark(item) for item in value]
    if isinstance(value, str) and value in _UNKNOWNS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def update_options(opts: Any) -> dict[str, Any]:
    """The update options CrossGuard passes (it has no replaceOnChanges or retainOnDelete), in
    plan.json's shape."""
    options: dict[str, Any] = {}
    if opts is not None and opts.delete_before_replace:
        options["deleteBeforeReplace"] = True
    if opts is not None and opts.ignore_changes:
        options["ignoreChanges"] = sorted(opts.ignore_changes)
    return options


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(
        type=args.resource_type,
        urn=args.urn,
        name=args.name,
        inputs=plain(args.props),
        parent=args.opts.parent if args.opts else None,
        protect=bool(args.opts.protect) if args.opts else False,
        options=update_options(args.opts),
    )


def resource_from_stack(resource: PolicyResource) -> Resource:
    props = plain(resource.props)
    parent = resource.parent.urn if resource.parent is not None else None
    return Resource(
        type=resource.resource_type,
        urn=resource.urn,
        name=resource.name,
        inputs=props,
        parent=parent or (resource.opts.parent if resource.opts else None),
        protect=bool(resource.opts.protect) if resource.opts else False,
        dependencies=tuple(d.urn for d in resource.dependencies),
        property_dependencies={
            key: tuple(d.urn for d in deps) for key, deps in resource.property_dependencies.items()
        },
        id=props.get("id") if isinstance(props.get("id"), str) else None,
        options=update_options(resource.opts),
    )


def stack_production() -> bool:
    """The stack's own `paved-road:production`: the Pulumi CLI hands a policy pack the stack's
    config, so the environment is known without repeating it in the pack config."""
    try:
        return bool(pulumi.Config("paved-road").get_bool("production"))
    except Exception:  # noqa: BLE001 — no config, or not a boolean: not production
        return False


def _options(rule: Rule, config: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    return {**rule.default_options(), **dict(config or {})}


def _metadata(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "description": rule.description,
        "enforcement_level": EnforcementLevel(rule.level),
        "config_schema": (
            PolicyConfigSchema(properties=dict(rule.options)) if rule.options else None
        ),
        "severity": Severity(rule.severity),
        "remediation_steps": rule.remediation,
        "tags": [rule.concern],
    }


def resource_policy(
    rule: ResourceRule, production: Callable[[], bool] = stack_production
) -> Policy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        context = context_for(rule, _options(rule, args.get_config()), production())
        for message in rule.violations(resource_from_args(args), context):
            report_violation(message, None)

    return ResourceValidationPolicy(validate=validate, **_metadata(rule))


def stack_policy(
    rule: StackRule,
    production: Callable[[], bool] = stack_production,
    domains: Optional[Domains] = None,
) -> Policy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = Stack(resource_from_stack(r) for r in args.resources)
        context = context_for(rule, _options(rule, args.get_config()), production(), domains)
        for finding in rule.violations(stack, context):
            report_violation(finding.message, finding.urn or None)

    return StackValidationPolicy(validate=validate, **_metadata(rule))


def policies(rules: Iterable[Rule], root: Path = PACK_ROOT) -> list[Policy]:
    """One pulumi_policy policy per rule, in the registry's order, with the levels of the domains
    in `root/domains/` (PolicyConfigError, naming file and field, when one is wrong)."""
    domains = load_domain_levels(root)
    built: list[Policy] = []
    for rule in rules:
        if isinstance(rule, ResourceRule):
            built.append(resource_policy(rule))
        elif isinstance(rule, StackRule):
            built.append(stack_policy(rule, domains=domains))
        else:
            raise TypeError(f"{rule.name}: neither a resource nor a stack rule")
    return built
