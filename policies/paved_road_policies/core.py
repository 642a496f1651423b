"""What every rule is made of, whichever engine runs it.

A rule is a plain function over a `Resource` (one resource's type, urn, name, inputs with provider
wire names, options) or over a `Stack` (all of them), plus the metadata CrossGuard wants: name,
description, remediation, severity and a default enforcement level. The same function runs inside
`pulumi preview --policy-pack policies` (through `crossguard.py`) and offline over a recorded
plan (through `runner.py`), so the two can never disagree about what a rule means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

ADVISORY, MANDATORY, REMEDIATE, DISABLED = "advisory", "mandatory", "remediate", "disabled"
LEVELS = (ADVISORY, MANDATORY, REMEDIATE, DISABLED)
LOW, MEDIUM, HIGH, CRITICAL = "low", "medium", "high", "critical"
SEVERITIES = (LOW, MEDIUM, HIGH, CRITICAL)

# Packages of the multi-language components the program uses, whose children it does not write.
THIRD_PARTY_COMPONENTS = ("eks", "awsx")
TENANT_COMPONENT = "paved-road:tenants:Tenant"
TENANT_LABEL = "paved-road/tenant"
PLATFORM_LABEL = "paved-road/platform"
ENVIRONMENT_TAG = "paved-road:environment"
TENANT_TAG = "paved-road:tenant"
# The domain a tenant belongs to (domains/<domain>.yaml), on every object and tagged AWS resource
# the Tenant component creates: how a domain's stricter levels find its tenants' resources.
DOMAIN_LABEL = "paved-road/domain"
DOMAIN_TAG = "paved-road:domain"


class _Unknown:
    """A value the engine does not know yet (a preview of a resource not yet created)."""

    _instance: Optional["_Unknown"] = None

    def __new__(cls) -> "_Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


# Rules never report on what they cannot see: a value unknown during a preview is checked again
# during `pulumi up`, when the engine knows it, before the resource is created.
UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def dig(value: Any, *path: Union[str, int]) -> Any:
    """`value[path[0]][path[1]]…`, or None where a step is missing (UNKNOWN stays UNKNOWN)."""
    for step in path:
        if value is UNKNOWN:
            return UNKNOWN
        if isinstance(step, int):
            value = (
                value[step]
                if isinstance(value, list) and -len(value) <= step < len(value)
                else None
            )
        else:
            value = value.get(step) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def urn_types(urn: str) -> tuple[str, ...]:
    """The type chain a URN encodes: every ancestor's type, then the resource's own."""
    parts = urn.split("::")
    return tuple(parts[2].split("$")) if len(parts) >= 4 else ()


@dataclass(frozen=True)
class Resource:
    """One resource as an engine sees it: inputs keep provider wire names (camelCase)."""

    type: str
    urn: str
    name: str
    inputs: Mapping[str, Any]
    parent: Optional[str] = None
    protect: bool = False
    dependencies: tuple[str, ...] = ()
    # Which resources each input property came from (CrossGuard's stack view only).
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The provider's id where an engine knows it (stack view; offline, the plan's mock ids).
    id: Optional[str] = None
    # Options that change how an update happens, only those set (plan.json's `options`):
    # deleteBeforeReplace, replaceOnChanges, ignoreChanges, retainOnDelete.
    options: Mapping[str, Any] = field(default_factory=dict)

    def get(self, *path: Union[str, int]) -> Any:
        return dig(self.inputs, *path)

    @property
    def ancestor_types(self) -> tuple[str, ...]:
        return urn_types(self.urn)[:-1]

    @property
    def in_tenant(self) -> bool:
        return TENANT_COMPONENT in self.ancestor_types

    @property
    def in_foreign_component(self) -> bool:
        """Created inside a third-party component (pulumi-eks, awsx), not by this program."""
        return any(t.split(":", 1)[0] in THIRD_PARTY_COMPONENTS for t in self.ancestor_types)

    # Kubernetes objects -------------------------------------------------------------------------

    @property
    def labels(self) -> Mapping[str, Any]:
        labels = self.get("metadata", "labels")
        return labels if isinstance(labels, Mapping) else {}

    @property
    def object_name(self) -> Any:
        return self.get("metadata", "name")

    @property
    def namespace(self) -> Any:
        return self.get("metadata", "namespace")

    # AWS resources ------------------------------------------------------------------------------

    @property
    def tags(self) -> Any:
        return self.inputs.get("tags")


class Stack:
    """Every resource of one stack, indexed the ways stack rules look across resources."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources: tuple[Resource, ...] = tuple(resources)
        self._by_urn = {r.urn: r for r in self.resources}
        self._by_type: dict[str, list[Resource]] = {}
        for r in self.resources:
            self._by_type.setdefault(r.type, []).append(r)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def get(self, urn: Optional[str]) -> Optional[Resource]:
        return self._by_urn.get(urn) if urn else None

    def of_type(self, *types: str) -> list[Resource]:
        return [r for type_ in dict.fromkeys(types) for r in self._by_type.get(type_, ())]

    def referenced(
        self, resource: Resource, prop: str, values: Iterable[Any], types: Sequence[str]
    ) -> tuple[list[Resource], list[Any]]:
        """The resources of `types` that `resource.<prop>` points at, and the values it names
        that match none of them.

        A value matches a candidate by id (ids are known after creation, and offline from the
        plan's deterministic mock ids). Values unknown during a preview fall back to the engine's
        dependency graph: the property's own dependencies where the engine gives them, else every
        dependency of a matching type.
        """
        candidates = self.of_type(*types)
        by_id = {c.id: c for c in candidates if isinstance(c.id, str)}
        found: dict[str, Resource] = {}
        unmatched: list[Any] = []
        unknown = False
        for value in values:
            if isinstance(value, str) and value in by_id:
                found.setdefault(by_id[value].urn, by_id[value])
            elif isinstance(value, str):
                unmatched.append(value)
            else:
                unknown = True
        if unknown or unmatched:
            urns = set(resource.property_dependencies.get(prop) or resource.dependencies)
            via_graph = [c for c in candidates if c.urn in urns]
            if via_graph:
                for c in via_graph:
                    found.setdefault(c.urn, c)
                unmatched = []
        return list(found.values()), unmatched


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the resources: its configured options, the environment, and
    the levels each domain sets for its tenants (domain → rule → level, from `domains/*.yaml`)."""

    options: Mapping[str, Any] = field(default_factory=dict)
    production: bool = False
    domains: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        return self.options.get(name)


@dataclass(frozen=True)
class Finding:
    """A stack rule's report: the resource at fault (urn) and why."""

    urn: str
    message: str


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Stack, Context], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    remediation: str
    severity: str
    level: str
    concern: str
    # JSON Schema of each option, the same `configSchema` CrossGuard validates the pack config with.
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in (ADVISORY, MANDATORY):
            raise ValueError(f"{self.name}: default level must be advisory or mandatory")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.name}: severity must be one of {SEVERITIES}")

    def default_options(self) -> dict[str, Any]:
        return {k: s["default"] for k, s in self.options.items() if "default" in s}


@dataclass(frozen=True)
class ResourceRule(Rule):
    """Judges one resource at a time: in CrossGuard before the resource is created."""

    check: ResourceCheck = field(default=lambda resource, context: ())
    types: tuple[str, ...] = ()

    def applies_to(self, type_: str) -> bool:
        return not self.types or type_ in self.types

    def violations(self, resource: Resource, context: Context) -> list[str]:
        return list(self.check(resource, context)) if self.applies_to(resource.type) else []


@dataclass(frozen=True)
class StackRule(Rule):
    """Judges the whole stack, for properties that live across resources."""

    check: StackCheck = field(default=lambda stack, context: ())

    def violations(self, stack: Stack, context: Context) -> list[Finding]:
        return list(self.check(stack, context))


def _metadata(
    check: Callable[..., Any],
    name: str,
    description: str,
    remediation: str,
    severity: str,
    level: str,
    options: Optional[Mapping[str, Mapping[str, Any]]],
) -> dict[str, Any]:
    """What every rule carries, resource or stack: its concern is the module it is written in."""
    return {
        "name": name,
        "description": description,
        "remediation": remediation,
        "severity": severity,
        "level": level,
        "concern": check.__module__.rsplit(".", 1)[-1],
        "options": dict(options or {}),
        "check": check,
    }


def resource_rule(
    *,
    name: str,
    description: str,
    remediation: str,
    severity: str,
    level: str = MANDATORY,
    types: Sequence[str] = (),
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Callable[[ResourceCheck], ResourceRule]:
    def define(check: ResourceCheck) -> ResourceRule:
        metadata = _metadata(check, name, description, remediation, severity, level, options)
        return ResourceRule(**metadata, types=tuple(types))

    return define


def stack_rule(
    *,
    name: str,
    description: str,
    remediation: str,
    severity: str,
    level: str = MANDATORY,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Callable[[StackCheck], StackRule]:
    def define(check: StackCheck) -> StackRule:
        return StackRule(
            **_metadata(check, name, description, remediation, severity, level, options)
        )

    return define


def rules_of(module: Any) -> list[Rule]:
    """Every rule a module defines, in definition order."""
    return [value for value in vars(module).values() if isinstance(value, Rule)]
