"""Stricter levels per domain: one pack for every tenant, and a domain may raise a rule for its own.

A domain (`domains/<domain>.yaml` at the project root) may list rules its tenants must meet:

    name: commerce
    policies:
      k8s-serving-redundant: mandatory

The pack stays one pack: every rule keeps its own level (and the environment's pack config) for
everyone. `domains-raised-levels` runs each rule a domain raises and reports, as mandatory, the
findings on resources of that domain's tenants only, naming the domain and the rule. A domain may
only raise: a level below the rule's own is refused, so a domain can never weaken the shared
guardrails for its tenants. The levels a domain may set are `advisory` and `mandatory`:
`disabled` would lower, and `remediate` means nothing more here (the pack's rules validate and
never rewrite, so CrossGuard reports a `remediate` rule as mandatory anyway).

A raised rule runs with its default options and the stack's `paved-road:production`: CrossGuard
hands each policy only its own config, so the pack config's options for the raised rule cannot
reach this rule there, and the offline runner does the same so the two engines agree. The
environment's pack config still governs this rule itself (`domains-raised-levels: advisory` in a
pack config makes every domain's raise advisory in that environment).

A resource belongs to a domain when it was created under a Tenant component whose resources carry
the `paved-road/domain` label (Kubernetes objects) or the `paved-road:domain` tag (AWS resources):
the Tenant component writes the tenant file's `domain` there. Platform resources belong to no
domain, whatever they carry.

Where the files come from: `pavedroad plan`/`check` read `<project-dir>/domains/`; the CrossGuard
pack (`pulumi preview --policy-pack policies`) reads `domains/` of the checkout it runs from, the
directory above `policies/` — the pack already runs from a checkout (its rules read
`components/versions.py` there), and reading the same files the program reads means a domain's
levels and its tenants can never disagree. A pack published on its own (`pulumi policy publish`)
must ship the `domains/` folder beside its `policies/` folder, or it enforces no domain's levels.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import yaml

from .config import PolicyConfigError
from .core import (
    ADVISORY,
    DISABLED,
    DOMAIN_LABEL,
    DOMAIN_TAG,
    HIGH,
    MANDATORY,
    TENANT_COMPONENT,
    Context,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Stack,
    StackRule,
    stack_rule,
)

DOMAINS_DIR = "domains"
META_RULE = "domains-raised-levels"
# What a domain may write, lowest first; the order a rule's level may only climb.
DOMAIN_LEVELS = (ADVISORY, MANDATORY)
_RANK = {DISABLED: 0, ADVISORY: 1, MANDATORY: 2}
# A domain file is a few lines; this bounds what a hostile one costs to read.
MAX_BYTES = 64 * 1024
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _shown(value: Any, limit: int = 80) -> str:
    """A value from a domain file, safe to print on one line: control characters escaped, cut."""
    text = value if isinstance(value, str) else repr(value)
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rules() -> Mapping[str, Rule]:
    # The registry imports this module (for the rule below), so it is imported when first used.
    from .registry import BY_NAME

    return BY_NAME


# --------------------------------------------------------------------------------------------------
# The files


def level_issues(policies: Any) -> list[tuple[str, str]]:
    """The problems of one domain file's `policies` value, as (field, message) pairs.

    None (no `policies` key) is fine. Each entry must name a rule of the pack other than this
    one, with `advisory` or `mandatory`, never below the rule's own level.
    """
    if policies is None:
        return []
    if not isinstance(policies, Mapping):
        return [
            (
                "policies",
                f"expected a mapping of rule name to level ({' or '.join(DOMAIN_LEVELS)}), "
                f"got {type(policies).__name__}",
            )
        ]
    rules = _rules()
    issues: list[tuple[str, str]] = []
    for name, level in policies.items():
        field = f"policies.{_shown(name)}"
        if not isinstance(name, str):
            issues.append(("policies", f"{_shown(name)}: a rule name is text"))
        elif name == META_RULE:
            issues.append(
                (field, f"{name} is the rule that applies domains' levels; a domain cannot set it")
            )
        elif name not in rules:
            issues.append(
                (field, f"{_shown(name)} is not a rule of the pack (README.md, 'The rules')")
            )
        elif not isinstance(level, str) or level not in DOMAIN_LEVELS:
            shown = _shown(level) if not isinstance(level, str) else repr(_shown(level))
            issues.append(
                (
                    field,
                    f"{shown} is not a level a domain may set ({' or '.join(DOMAIN_LEVELS)}); "
                    "a domain may raise a rule, never lower or switch one off",
                )
            )
        elif _RANK[level] < _RANK[rules[name].level]:
            issues.append(
                (
                    field,
                    f"{name} is {rules[name].level} for every tenant; a domain may raise a rule, "
                    "never lower one",
                )
            )
    return issues


def load_domain_levels(root: Path) -> dict[str, dict[str, str]]:
    """Every domain's levels (domain → rule → level) from `root/domains/*.yaml`, by name.

    Raises PolicyConfigError naming `domains/<file>.yaml` and the field for every problem found
    in any file (all at once). No `domains/` folder means no domain.
    """
    folder = root / DOMAINS_DIR
    if not os.path.lexists(folder):
        return {}
    try:
        is_folder = stat.S_ISDIR(os.stat(folder).st_mode)
    except OSError as error:
        raise PolicyConfigError(f"{DOMAINS_DIR}: cannot read ({error.strerror})") from None
    if not is_folder:
        raise PolicyConfigError(f"{DOMAINS_DIR}: not a directory")
    levels: dict[str, dict[str, str]] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        source = f"{DOMAINS_DIR}/{_shown(path.name)}"
        document, problem = _read(root, path)
        if problem is not None:
            errors.append(f"{source}: {problem}")
            continue
        if not isinstance(document, Mapping):
            errors.append(f"{source}: expected a mapping (name, policies, …)")
            continue
        name = document.get("name")
        if name != path.stem:
            errors.append(f"{source}: name: must equal the file name, {_shown(path.stem)!r}")
        if not DNS_LABEL.match(path.stem):
            errors.append(f"{source}: name: {_shown(path.stem)!r} is not a DNS label")
        issues = level_issues(document.get("policies"))
        errors.extend(f"{source}: {field}: {message}" for field, message in issues)
        if not issues and isinstance(name, str):
            levels[name] = dict(document.get("policies") or {})
    if errors:
        raise PolicyConfigError("\n".join(errors))
    return levels


def _read(root: Path, path: Path) -> tuple[Any, Optional[str]]:
    """One domain file's document, or why it cannot be read: only a regular file inside the
    project, at most MAX_BYTES, UTF-8, plain YAML (messages never quote the file's text)."""
    try:
        real = path.resolve(strict=True)
        real.relative_to(root.resolve())
        info = os.stat(real)
    except ValueError:
        return None, "a symbolic link out of the project"
    except (OSError, RuntimeError):
        return None, "cannot read (a broken or looping symbolic link)"
    if not stat.S_ISREG(info.st_mode):
        return None, "not a regular file"
    if info.st_size > MAX_BYTES:
        return None, f"larger than {MAX_BYTES // 1024} KiB"
    try:
        with open(real, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return None, f"larger than {MAX_BYTES // 1024} KiB"
        text = data.decode("utf-8")
    except OSError as error:
        return None, f"cannot read ({error.strerror})"
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    try:
        return yaml.load(text, Loader=_Loader), None  # a SafeLoader (below)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return None, f"{where}not valid YAML ({_shown(error.problem or error.context)})"
    except (yaml.YAMLError, RecursionError):
        return None, "not valid YAML"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key twice in one mapping (it would keep the last one
    silently; `pulumi up` and the program's own loader refuse the file)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue  # not a key a domain file uses: what it means is checked after loading
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_shown(key)!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# --------------------------------------------------------------------------------------------------
# Which domain a resource belongs to


def _markers(resource: Resource) -> set[str]:
    """The domains a resource itself names: its `paved-road/domain` label or tag."""
    found = set()
    label = resource.labels.get(DOMAIN_LABEL)
    if isinstance(label, str):
        found.add(label)
    tags = resource.tags
    if isinstance(tags, Mapping) and isinstance(tags.get(DOMAIN_TAG), str):
        found.add(tags[DOMAIN_TAG])
    return found


class Ownership:
    """Which domains own each tenant resource of a stack: those its Tenant component's resources
    name (components have no inputs, so the domain is read off what the Tenant created)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._tenant_of: dict[str, Optional[str]] = {}
        self._domains: dict[str, set[str]] = {}
        for resource in stack:
            markers = _markers(resource) if resource.in_tenant else set()
            tenant = self.tenant_of(resource) if markers else None
            if tenant is not None:
                self._domains.setdefault(tenant, set()).update(markers)

    def tenant_of(self, resource: Resource) -> Optional[str]:
        """The urn of the Tenant component `resource` was created under, following parents."""
        chain: list[str] = []
        urn = resource.parent
        found: Optional[str] = None
        while urn is not None:
            if urn in self._tenant_of:
                found = self._tenant_of[urn]
                break
            parent = self._stack.get(urn)
            if parent is None or urn in chain:
                break
            chain.append(urn)
            if parent.type == TENANT_COMPONENT:
                found = urn
                break
            urn = parent.parent
        for seen in chain:
            self._tenant_of[seen] = found
        return found

    def domains_of(self, resource: Resource) -> set[str]:
        if not resource.in_tenant:
            return set()
        tenant = self.tenant_of(resource)
        return _markers(resource) | (self._domains.get(tenant, set()) if tenant else set())


# --------------------------------------------------------------------------------------------------
# The rule


def raised(domains: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Rule name → the domains that raise it above its own level, both sorted."""
    rules = _rules()
    by_rule: dict[str, list[str]] = {}
    for domain in sorted(domains):
        for name, level in domains[domain].items():
            rule = rules.get(name)
            if rule is not None and name != META_RULE and _RANK.get(level, 0) > _RANK[rule.level]:
                by_rule.setdefault(name, []).append(domain)
    return dict(sorted(by_rule.items()))


def _findings(rule: Rule, stack: Stack, context: Context) -> Iterator[tuple[str, str]]:
    if isinstance(rule, ResourceRule):
        for resource in stack:
            for message in rule.violations(resource, context):
                yield resource.urn, message
    elif isinstance(rule, StackRule):
        for finding in rule.violations(stack, context):
            yield finding.urn, finding.message


@stack_rule(
    name=META_RULE,
    description=(
        "A rule a domain raises to mandatory (`policies` in domains/<domain>.yaml) is mandatory "
        "for that domain's tenants."
    ),
    remediation=(
        "Fix what the raised rule reports, as its own remediation says: the tenant's domain "
        "requires it (domains/<domain>.yaml, `policies`). A domain can raise a rule for its "
        "tenants, never lower one; the environment's pack config governs this rule itself."
    ),
    severity=HIGH,
    level=MANDATORY,
)
def raised_levels(stack: Stack, context: Context) -> Iterator[Finding]:
    by_rule = raised(context.domains)
    if not by_rule:
        return
    ownership = Ownership(stack)
    rules = _rules()
    for name, domains in by_rule.items():
        rule = rules[name]
        # The raised rule's defaults and the stack's production: what both engines know.
        own = Context(options=rule.default_options(), production=context.production)
        for urn, message in _findings(rule, stack, own):
            resource = stack.get(urn)
            if resource is None:
                continue
            owners = ownership.domains_of(resource)
            for domain in domains:
                if domain in owners:
                    yield Finding(urn, f"domain {domain} makes {name} mandatory: {message}")
