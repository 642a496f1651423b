"""Who owns what: the governance file and the domains, read and checked like tenant files.

The platform is federated. A core platform team owns the program, the stacks and the standards;
the security team owns the policy pack with it; each product domain has a platform squad that
looks after its teams. Two kinds of file say so:

- `governance.yaml` (top level): the core and security teams' GitHub handles and IAM principals.
  The core team's principals are cluster admins in every environment; security's can read every
  namespace (not Secrets).
- `domains/<domain>.yaml`: the domain's name and platform squad (GitHub team, IAM principals, view
  or edit access to its teams' namespaces, its Argo CD SSO groups and alert receivers) and the
  policy rules the domain makes stricter for its teams (`policies:`, rule → level, raising only;
  checked by the policy pack's own `level_issues`).

Both are parsed before the first resource is registered; each problem names its file and field.
Domain files are written by people other than the core team, so the folder walk is as careful as
the tenant fragments' (components/tenant_fragments.py): no links, regular files only, bounded.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationError, field_validator

from components import safe_yaml
from components.config_base import (
    DNS_LABEL,
    IAM_PRINCIPAL_ARN,
    ConfigIssue,
    Model,
    check_github_team,
    check_pattern,
    github_org,
    issues_from,
)
from components.tenant_fragments import SUFFIX, entry_kind, list_folder
from components.tenants_config import AlertsConfig, TenantConfig, receiver_issues

GOVERNANCE_FILE = "governance.yaml"
DOMAINS_DIR = "domains"
MAX_DOMAIN_BYTES = 64 * 1024
# Names build on the domain's (`domain-<name>` AppProject, `paved-road:domain:<name>:<access>`).
DOMAIN_NAME_MAX = 30
# An SSO group as Argo CD matches it against the `groups` claim: printable, no commas (policy.csv).
SSO_GROUP = re.compile(r"^[^\s,]{1,128}\Z")


def check_principals(value: list[str]) -> list[str]:
    for arn in value:
        check_pattern(arn, IAM_PRINCIPAL_ARN, "an IAM role or user ARN")
    if len(set(value)) != len(value):
        raise ValueError("a principal is listed twice")
    return value


class Team(Model):
    """A team of the governance file: who reviews (GitHub) and who operates (IAM)."""

    github: str = Field(description="The team's GitHub handle, '@org/team'.")
    principals: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("github")
    @classmethod
    def _github(cls, value: str) -> str:
        return check_github_team(value)

    @field_validator("principals")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return check_principals(value)


class GovernanceConfig(Model):
    core: Team = Field(description="The core platform team: owns the program and the stacks.")
    security: Team = Field(description="The security team: owns the policy pack.")


class SquadConfig(Team):
    """A domain's platform squad: a team (GitHub handle, IAM principals) with a scope."""

    # `view` by default: a squad helps its teams; `edit` lets it change their workloads too.
    access: Literal["view", "edit"] = "view"
    # Groups of the SSO `groups` claim that act as the squad in Argo CD (its domain's project).
    sso_groups: list[str] = Field(default_factory=list, max_length=10)
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("sso_groups")
    @classmethod
    def _sso_groups(cls, value: list[str]) -> list[str]:
        for group in value:
            check_pattern(group, SSO_GROUP, "an SSO group name (no spaces or commas)")
        return value


class DomainConfig(Model):
    name: str
    display_name: Optional[str] = None
    squad: SquadConfig
    # Rule name → level (`advisory`, `mandatory`) for the domain's tenants; only ever stricter.
    policies: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        check_pattern(value, DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-')")
        if len(value) > DOMAIN_NAME_MAX:
            raise ValueError(f"{value!r} is longer than {DOMAIN_NAME_MAX} characters")
        return value

    @property
    def title(self) -> str:
        return self.display_name or self.name

    @property
    def file(self) -> str:
        return f"{DOMAINS_DIR}/{self.name}{SUFFIX}"


def load_governance(root: Path) -> tuple[Optional[GovernanceConfig], list[ConfigIssue]]:
    """`governance.yaml`, or (None, []) when the project has none."""
    try:
        document = safe_yaml.load_file(root, GOVERNANCE_FILE, MAX_DOMAIN_BYTES)
    except safe_yaml.MissingFileError:
        return None, []
    except safe_yaml.InputFileError as error:
        return None, [ConfigIssue(GOVERNANCE_FILE, p.where, p.message) for p in error.problems]
    if not isinstance(document, dict):
        return None, [ConfigIssue(GOVERNANCE_FILE, "(file)", "expected a mapping: core, security")]
    try:
        governance = GovernanceConfig.model_validate(document)
    except ValidationError as error:
        return None, issues_from(error, GOVERNANCE_FILE, "", GovernanceConfig)
    return governance, _org_issues(governance)


def _org_issues(governance: GovernanceConfig) -> list[ConfigIssue]:
    if github_org(governance.core.github) == github_org(governance.security.github):
        return []
    return [
        ConfigIssue(
            GOVERNANCE_FILE,
            "security.github",
            f"{governance.security.github!r} is not in the core team's organisation "
            f"({github_org(governance.core.github)!r}): CODEOWNERS names teams of the "
            "repository's own organisation",
        )
    ]


def load_domains(root: Path) -> tuple[list[DomainConfig], list[ConfigIssue]]:
    """Every `domains/<domain>.yaml`, sorted by name; ([], []) when there is no such folder."""
    kind = entry_kind(root / DOMAINS_DIR)
    if kind is None:
        return [], []
    if kind != "directory":
        what = "a symbolic link, refused" if kind == "a symbolic link" else f"{kind}, not a folder"
        return [], [ConfigIssue(DOMAINS_DIR, "(directory)", f"is {what}")]
    names, listing_issue = list_folder(root / DOMAINS_DIR, DOMAINS_DIR)
    if listing_issue:
        return [], [listing_issue]
    domains, issues = [], []
    for entry in names:
        relative = f"{DOMAINS_DIR}/{entry}"
        kind = entry_kind(root / relative)
        if kind != "file":
            issues.append(
                ConfigIssue(relative, "(file)", f"is {kind or 'gone'}, not a regular file: refused")
            )
            continue
        if not entry.endswith(SUFFIX) or entry == SUFFIX:
            issues.append(
                ConfigIssue(relative, "(file)", f"{DOMAINS_DIR}/ holds <domain>{SUFFIX} files only")
            )
            continue
        domain, found = _parse_domain(root, relative, entry[: -len(SUFFIX)])
        issues.extend(found)
        if domain is not None:
            domains.append(domain)
    return sorted(domains, key=lambda d: d.name), issues


def _parse_domain(
    root: Path, relative: str, stem: str
) -> tuple[Optional[DomainConfig], list[ConfigIssue]]:
    try:
        document: Any = safe_yaml.load_file(root, relative, MAX_DOMAIN_BYTES)
    except safe_yaml.InputFileError as error:
        return None, [ConfigIssue(relative, p.where, p.message) for p in error.problems]
    if not isinstance(document, dict):
        return None, [ConfigIssue(relative, "(file)", "expected a mapping of domain fields")]
    try:
        domain = DomainConfig.model_validate(document)
    except ValidationError as error:
        return None, issues_from(error, relative, "", DomainConfig)
    issues = []
    if domain.name != stem:
        issues.append(
            ConfigIssue(relative, "name", f"{domain.name!r} does not match the file name {stem!r}")
        )
    issues.extend(
        receiver_issues(domain.squad.alerts.receivers, relative, "squad.alerts.receivers")
    )
    issues.extend(_policy_issues(domain.policies, relative))
    return (domain if not issues else None), issues


def _policy_issues(policies: dict[str, str], file: str) -> list[ConfigIssue]:
    """The policy pack judges its own rule names and levels (it reads the same files)."""
    if not policies:
        return []
    from policies.paved_road_policies.domains import level_issues

    return [ConfigIssue(file, field, message) for field, message in level_issues(policies)]


def ownership_issues(
    tenants: list[TenantConfig],
    domains: list[DomainConfig],
    governance: Optional[GovernanceConfig],
    stack_admins: list[str],
) -> list[ConfigIssue]:
    """What no single file can see: each team in a known domain, and each IAM principal with one
    kind of cluster access (EKS allows one access entry per principal). `stack_admins`: the
    stack's cluster admins and deploy role; the core team's principals may repeat them (they are
    admins either way), the security team's may not."""
    issues = []
    known = {domain.name for domain in domains}
    listing = ", ".join(sorted(known))
    for tenant in tenants:
        file, field = tenant.source("domain")
        if tenant.domain is None and known:
            issues.append(
                ConfigIssue(
                    file,
                    field,
                    f"is required: name the domain whose platform squad looks after the team "
                    f"({DOMAINS_DIR}/: {listing})",
                )
            )
        elif tenant.domain is not None and tenant.domain not in known:
            issues.append(
                ConfigIssue(
                    file,
                    field,
                    f"{tenant.domain!r} is not a domain "
                    f"({f'{DOMAINS_DIR}/: {listing}' if known else f'there is no {DOMAINS_DIR}/'})",
                )
            )
    holders: dict[str, str] = {arn: "the platform admins" for arn in stack_admins}
    if governance is not None:
        holders.update({arn: "the platform admins" for arn in governance.core.principals})
        for index, arn in enumerate(governance.security.principals):
            holder = holders.setdefault(arn, "the security team")
            if holder != "the security team":
                issues.append(
                    ConfigIssue(
                        GOVERNANCE_FILE,
                        f"security.principals[{index}]",
                        f"{arn} already has cluster access through {holder}; an IAM principal "
                        "can hold one EKS access entry",
                    )
                )
    # A team's principal that is also a squad's: both files are told (either may be the new one).
    in_tenant: dict[str, tuple[str, str]] = {}
    for tenant in tenants:
        for role in ("owners", "developers", "viewers"):
            for index, arn in enumerate(getattr(tenant, role)):
                holders.setdefault(arn, f"tenant {tenant.name!r}")
                in_tenant.setdefault(arn, tenant.source(f"{role}[{index}]"))
    for domain in domains:
        for index, arn in enumerate(domain.squad.principals):
            holder = holders.setdefault(arn, f"the {domain.name!r} squad")
            if holder == f"the {domain.name!r} squad":
                continue
            issues.append(
                ConfigIssue(
                    domain.file,
                    f"squad.principals[{index}]",
                    f"{arn} already has cluster access through {holder}; an IAM principal "
                    "can hold one EKS access entry",
                )
            )
            if holder.startswith("tenant ") and arn in in_tenant:
                issues.append(
                    ConfigIssue(
                        *in_tenant[arn],
                        f"{arn} is a principal of the {domain.name!r} squad ({domain.file}); "
                        "an IAM principal can hold one EKS access entry",
                    )
                )
    if governance is not None:
        org = github_org(governance.core.github)
        handles = [(d.file, "squad.github", d.squad.github) for d in domains]
        handles += [(*t.source("github.team"), t.github.team) for t in tenants if t.github]
        for file, field, handle in handles:
            if github_org(handle) != org:
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        f"{handle!r} is not in the organisation of {GOVERNANCE_FILE} ({org!r}): "
                        "CODEOWNERS names teams of the repository's own organisation",
                    )
                )
    return issues
