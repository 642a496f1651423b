"""The policy pack, offline: `pavedroad check build/<stack>/plan.json` and the last step of
`pavedroad plan`.

The rules are the pack's own (`policies/paved_road_policies`), run over the recorded resources
exactly as CrossGuard runs them over a preview: resource rules per resource, stack rules over all.
Levels and options come from the environment's pack config, `policies/config/<stack>.json` — the
file a user hands `pulumi preview --policy-pack-config` — and the stack's `paved-road:production`
tells rules whether they judge production. The domains' stricter levels come from the project's
`domains/*.yaml` (a broken one is bad input, exit 2). Mandatory violations fail (exit 1); advisory
ones are printed and pass.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from pulumi.runtime.mocks import MockResourceArgs

from pavedroad.engine import ROOT, StackFileError, load_stack_config
from pavedroad.mocks import PlatformMocks
from policies.paved_road_policies.config import PackConfig, PolicyConfigError
from policies.paved_road_policies.core import Resource
from policies.paved_road_policies.domains import load_domain_levels, raised
from policies.paved_road_policies.registry import RULES
from policies.paved_road_policies.runner import Violation, evaluate

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT = 0, 1, 2
CONFIG_DIR = Path("policies") / "config"
_RESOURCE_KEYS = ("urn", "type", "name", "inputs")


class PlanFileError(Exception):
    """A plan file that cannot be checked: missing, not JSON, or not a pavedroad plan."""


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    resources: int
    # The stack file's `paved-road:production`; None when the project has no such stack file.
    production: Optional[bool]
    config: PackConfig
    violations: tuple[Violation, ...]
    # Each domain's levels (domains/*.yaml): domain → rule → level.
    domains: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.mandatory]

    @property
    def exit_code(self) -> int:
        return EXIT_VIOLATION if self.mandatory else EXIT_OK


def planned_id(resource: dict[str, Any]) -> str:
    """The id the plan engine gave a resource: inputs that reference it (a node group's
    `subnetIds`) carry it, so rules can follow the reference."""
    args = MockResourceArgs(
        typ=resource["type"],
        name=resource["name"],
        inputs=resource.get("inputs") or {},
        provider=resource.get("provider") or "",
        resource_id="",
        custom=bool(resource.get("custom", True)),
    )
    return PlatformMocks(region="").provider_outputs(args)[0]


def resources_from_plan(document: dict[str, Any]) -> list[Resource]:
    return [
        Resource(
            type=r["type"],
            urn=r["urn"],
            name=r["name"],
            inputs=r.get("inputs") or {},
            parent=r.get("parent"),
            protect=bool(r.get("protect")),
            dependencies=tuple(r.get("dependencies") or ()),
            id=planned_id(r) if r.get("custom", True) else None,
            options=r.get("options") or {},
        )
        for r in document["resources"]
    ]


def load_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise PlanFileError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise PlanFileError(f"{path}: not valid JSON ({error})") from None
    resources = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(document.get("stack"), str):
        raise PlanFileError(f"{path}: not a pavedroad plan (expected 'stack' and 'resources')")
    if not isinstance(resources, list) or not all(
        isinstance(r, dict) and all(k in r for k in _RESOURCE_KEYS) for r in resources
    ):
        raise PlanFileError(f"{path}: resources: expected a list of {', '.join(_RESOURCE_KEYS)}")
    return document


def stack_production(root: Path, stack: str) -> Optional[bool]:
    """The stack file's `paved-road:production`; None when the project has no such stack file."""
    try:
        config, _ = load_stack_config(stack, root)
    except StackFileError:
        return None
    return config.get("paved-road:production", "false").strip().lower() == "true"


def pack_config(root: Path, stack: str, path: Optional[Path] = None) -> PackConfig:
    """The given pack config file, else `policies/config/<stack>.json` when it exists."""
    if path is None:
        default = root / CONFIG_DIR / f"{stack}.json"
        if not default.is_file():
            return PackConfig()
        path = default
    return PackConfig.load(path, RULES)


def check_resources(
    resources: Iterable[dict[str, Any]],
    stack: str,
    root: Path = ROOT,
    config: Optional[PackConfig] = None,
    domains: Optional[dict[str, dict[str, str]]] = None,
) -> PolicyReport:
    """Every rule over plan resources (as plan.json holds them), with the domains' levels (read
    from `root/domains/` unless given)."""
    config = config if config is not None else pack_config(root, stack)
    domains = domains if domains is not None else load_domain_levels(root)
    production = stack_production(root, stack)
    views = resources_from_plan({"resources": list(resources)})
    violations = evaluate(RULES, views, config, bool(production), domains)
    return PolicyReport(stack, len(views), production, config, tuple(violations), domains)


def render(report: PolicyReport) -> str:
    environment = {
        True: "production",
        False: "not production",
        None: f"no stacks/Pulumi.{report.stack}.yaml: not production",
    }[report.production]
    source = f"config {_shown(report.config.source)}" if report.config.source else "no config"
    header = (
        f"Policies: {len(RULES)} rules over {report.resources} resources of stack "
        f"{report.stack!r} ({environment}; {source})"
    )
    by_domain: dict[str, list[str]] = {}
    for rule, domains in raised(report.domains).items():
        for domain in domains:
            by_domain.setdefault(domain, []).append(rule)
    if by_domain:
        listed = ", ".join(f"{d} ({', '.join(rules)})" for d, rules in sorted(by_domain.items()))
        header += f"\nMandatory for a domain's tenants: {listed}"
    if not report.violations:
        return f"{header}\nNo policy violations."
    mandatory = len(report.mandatory)
    lines = [
        header,
        f"{len(report.violations)} policy violation(s): {mandatory} mandatory, "
        f"{len(report.violations) - mandatory} advisory",
    ]
    for violation in report.violations:
        lines.append(f"  {violation.level:<9} {violation.rule}  {violation.urn or '(stack)'}")
        lines.append(f"            {violation.message}")
    return "\n".join(lines)


def _shown(path: Optional[str]) -> str:
    if path is None:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def mandatory_notice(report: PolicyReport) -> Optional[str]:
    """The line for stderr when mandatory violations fail the run; None when none do."""
    if not report.mandatory:
        return None
    return (
        f"{len(report.mandatory)} mandatory policy violation(s): fix them (see "
        "README.md, 'Policies') before this reaches the cloud."
    )


def report_and_exit_code(report: PolicyReport) -> int:
    print(render(report))
    notice = mandatory_notice(report)
    if notice:
        print(notice, file=sys.stderr)
    return report.exit_code


def check_file(plan: Path, root: Path = ROOT, config_path: Optional[Path] = None) -> int:
    """`pavedroad check PLAN`: 0 clean or advisory only, 1 mandatory violations, 2 bad input."""
    try:
        document = load_plan(plan)
        config = pack_config(root, document["stack"], config_path)
        report = check_resources(document["resources"], document["stack"], root, config)
    except (PlanFileError, PolicyConfigError) as error:
        print(str(error), file=sys.stderr)
        return EXIT_BAD_INPUT
    return report_and_exit_code(report)
