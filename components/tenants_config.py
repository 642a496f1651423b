"""Tenant files: the contract a product team writes, and the checks that keep tenants apart.

A team owns `tenants/<name>.yaml`; a stack lists which tenants run in that environment, optionally
overriding fields (`- name: payments\n  quota: {cpu: "32"}`). A problem is reported against the
file that caused it: the tenant file for its own fields, the stack file for an override, a missing
file or a conflict between tenants.

An app or resource may also live in a file of its own beside the tenant file,
`tenants/<name>/apps/<app>.yaml` or `tenants/<name>/resources/<resource>.yaml`
(components/tenant_fragments.py): the items are appended after the tenant file's own, in file-name
order, and validated as one document, so a fragment obeys the tenant file's rules and its errors
name the fragment (`tenants/payments/apps/checkout-api.yaml: port`). A stack file's overrides merge
onto that combined document: a mapping merges key by key, a list replaces the whole list, so an
`apps:` (or `resources:`) override replaces the tenant file's items *and* its fragments. The
folder of a tenant the stack does not list is never read, like its tenant file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Optional

from pydantic import AfterValidator, Field, PrivateAttr, ValidationError, field_validator

from components import safe_yaml, tenant_fragments
from components.apps_config import AppConfig, Host, app_issues, serves_ingress
from components.flags_config import MAX_FLAGS, FlagConfig, check_flags
from components.resources_config import ResourceConfig, resource_issues
from components.config_base import (
    Cidr,
    DNS_LABEL,
    EMAIL,
    IAM_PRINCIPAL_ARN,
    LABEL_VALUE,
    QUANTITY,
    ConfigIssue,
    Model,
    check_github_team,
    check_pattern,
    covers_internet,
    issues_from,
    public_blocks,
)

TENANTS_DIR = "tenants"
# Namespaces no tenant may claim, besides the platform's own.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
# The key of a stack file's tenant entry that grants host names (TenantConfig.hosts).
GRANTED_HOSTS = "hosts"
# `repositories` become the AppProject's `sourceRepos`, glob patterns Argo CD matches against
# Applications' repository URLs. A pattern names a literal host and a literal organisation (the
# first path segment); wildcards may only follow it, so no pattern reaches another organisation's
# repositories: `https://github.com/acme/*` and `git@github.com:acme/*.git`, never
# `https://github.com/*`, `https://*/acme/x` or `https://**`.
_REPO_HOST = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
REPOSITORY = re.compile(
    rf"(?:https://(?P<https>{_REPO_HOST}(?::[0-9]{{1,5}})?)/"
    rf"|ssh://(?:[A-Za-z0-9._-]+@)?(?P<ssh>{_REPO_HOST}(?::[0-9]{{1,5}})?)/"
    rf"|git@(?P<scp>{_REPO_HOST}):)"
    r"(?P<org>[A-Za-z0-9_.~-]+)(?P<rest>/[\x21-\x7e]*)?\Z"
)


def check_repository(value: str) -> str:
    """An organisation-or-narrower repository pattern (see REPOSITORY)."""
    match = REPOSITORY.fullmatch(value) if isinstance(value, str) else None
    segments = [match.group("org"), *(match.group("rest") or "").split("/")] if match else []
    if not match or {".", ".."} & set(segments):
        raise ValueError(
            f"{value!r} is not a repository pattern of one organisation: expected "
            "https://HOST/ORG/..., ssh://HOST/ORG/... or git@HOST:ORG/... with a literal host and "
            "organisation and wildcards only after them (e.g. 'https://github.com/acme/*')"
        )
    return value


# A field holding one repository pattern; errors name the list item (`repositories[1]`).
Repository = Annotated[str, AfterValidator(check_repository)]


# The stack-only grant that lets a tenant's `network.egressCidrs` cover the internet.
ALLOW_INTERNET_EGRESS = "allowInternetEgress"
# Who owns a team (CODEOWNERS, its squad) is decided once, in its own file, for every stack.
OWNERSHIP_FIELDS = frozenset({"domain", "github"})


def _quantity(value: str) -> str:
    if not isinstance(value, str):
        value = str(value)
    return check_pattern(value, QUANTITY, "a Kubernetes quantity (e.g. '8', '500m', '16Gi')")


class QuotaConfig(Model):
    """Per namespace: what the tenant's pods may request and use in total."""

    cpu: str = Field(
        default="4",
        description="CPU cores the team's pods may request in total, per namespace (e.g. '4', "
        "'500m').",
    )
    memory: str = Field(
        default="8Gi",
        description="Memory the team's pods may request in total, per namespace (e.g. '8Gi').",
    )
    pods: int = Field(
        default=50, ge=1, le=10000, description="How many pods may run at once, per namespace."
    )
    storage: str = Field(
        default="100Gi",
        description="Persistent volume storage the team may claim, per namespace (e.g. '100Gi').",
    )
    load_balancers: int = Field(
        default=0,
        ge=0,
        le=50,
        description="Load balancer Services of the team's own, per namespace (apps served over "
        "HTTPS share the platform's load balancer and need none).",
    )

    @field_validator("cpu", "memory", "storage", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> str:
        return _quantity(value)


class TenantNetworkConfig(Model):
    allow_from: list[str] = Field(default_factory=list)
    # Destinations outside the cluster the tenant's pods may reach (e.g. a partner API).
    egress_cidrs: list[Cidr] = Field(default_factory=list)


# Alert receivers (components/insight/routing.py): where a team's alerts, or the platform's, go.
RECEIVER_TYPES = ("slack", "pagerduty", "email")
# A Secrets Manager name relative to its owner's prefix (`<project>/<env>/tenants/<name>/` for a
# team, `<project>/<env>/platform/` for the stack): AWS's name characters, `/`-separated.
SECRET_NAME = re.compile(r"^[A-Za-z0-9_+=.@-]+(/[A-Za-z0-9_+=.@-]+)*\Z")
# AWS allows 512 characters in all; the prefix takes at most about 130 of them.
SECRET_NAME_MAX = 256
# Segments that would make a relative name look like (or climb into) another owner's prefix.
_FOREIGN_SEGMENTS = {".", "..", "tenants", "platform"}
SLACK_CHANNEL = re.compile(r"^[#@]?[a-z0-9][a-z0-9._-]{0,79}\Z")


def check_secret_name(value: Any) -> str:
    """A secret of the file's own prefix, named relative to it; never an ARN, an absolute name
    or a path that climbs out (the workload role could not read it anyway: fail early)."""
    if not isinstance(value, str):
        raise ValueError(f"expected a secret name, got {value!r}")
    segments = value.split("/")
    if value.startswith(("arn:", "/")) or _FOREIGN_SEGMENTS & set(segments):
        raise ValueError(
            f"{value!r} is outside this file's secrets prefix: name the secret relative to it "
            "(e.g. 'alerts/slack' for <project>/<env>/tenants/<tenant>/alerts/slack, or "
            "<project>/<env>/platform/alerts/slack in a stack file)"
        )
    check_pattern(
        value,
        SECRET_NAME,
        "a Secrets Manager name (letters, digits, '/_+=.@-'; e.g. 'alerts/slack')",
    )
    if len(value) > SECRET_NAME_MAX:
        raise ValueError(f"{value!r} is longer than {SECRET_NAME_MAX} characters")
    return value


class AlertReceiverConfig(Model):
    """One destination: `slack` (webhook URL) or `pagerduty` (Events API v2 routing key), each
    read from a secret by reference, or `email` (addresses; the platform's mail server sends)."""

    type: str
    # Names the receiver (and its key in the delivered Secret); defaults to its type.
    name: Optional[str] = None
    # The secret holding the webhook URL or routing key, relative to the owner's prefix.
    secret_name: Optional[str] = None
    # The JSON key inside the secret, when the secret holds JSON rather than the bare value.
    key: Optional[str] = None
    channel: Optional[str] = None
    to: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value not in RECEIVER_TYPES:
            raise ValueError(
                f"unknown receiver type {value!r}: expected one of {', '.join(RECEIVER_TYPES)}"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            check_pattern(value, DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-')")
        return value

    @field_validator("secret_name", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        return value if value is None else check_secret_name(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            check_pattern(value, re.compile(r"^[A-Za-z0-9_.-]{1,128}\Z"), "a JSON key")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            check_pattern(value, SLACK_CHANNEL, "a Slack channel (e.g. '#payments-alerts')")
        return value

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for address in value:
            check_pattern(address, EMAIL, "an e-mail address")
        return value

    @property
    def receiver_name(self) -> str:
        return self.name or self.type


class AlertsConfig(Model):
    """Where the team's alerts go: pages to PagerDuty, tickets to Slack and e-mail."""

    receivers: list[AlertReceiverConfig] = Field(default_factory=list, max_length=10)


def receiver_issues(
    receivers: list[AlertReceiverConfig], file: str, where: str
) -> list[ConfigIssue]:
    """What one receiver's fields cannot check alone: each type's required and foreign fields,
    and unique names (a name is a key of the delivered Secret and a receiver of the route)."""
    issues, seen = [], set()
    for index, receiver in enumerate(receivers):
        at = f"{where}[{index}]"
        kind = receiver.type
        if kind in ("slack", "pagerduty") and receiver.secret_name is None:
            what = "webhook URL" if kind == "slack" else "routing key"
            issues.append(
                ConfigIssue(
                    file,
                    f"{at}.secretName",
                    f"a {kind} receiver needs the secret holding its {what}",
                )
            )
        if kind == "email" and not receiver.to:
            issues.append(ConfigIssue(file, f"{at}.to", "an email receiver needs addresses"))
        foreign = {
            "secretName": kind == "email" and receiver.secret_name is not None,
            "key": kind == "email" and receiver.key is not None,
            "to": kind != "email" and bool(receiver.to),
            "channel": kind != "slack" and receiver.channel is not None,
        }
        for field, present in foreign.items():
            if present:
                issues.append(ConfigIssue(file, f"{at}.{field}", f"is not a field of {kind}"))
        if receiver.receiver_name in seen:
            issues.append(
                ConfigIssue(
                    file,
                    f"{at}.name",
                    f"{receiver.receiver_name!r} names two receivers: give each its own `name`",
                )
            )
        seen.add(receiver.receiver_name)
    return issues


# A tenant's Slack receiver also announces its releases
# (components/insight/release_notifications.py): its name is the service in the Rollouts'
# annotation keys `notifications.argoproj.io/subscribe.<trigger>.<name>`, whose name part
# Kubernetes caps at 63 characters; the longest trigger, `subscribe.on-analysis-run-failed.`,
# leaves 30.
RELEASE_SERVICE_NAME_MAX = 30


def release_receiver_issues(
    receivers: list[AlertReceiverConfig], file: str, where: str
) -> list[ConfigIssue]:
    """A tenant's Slack receivers' names fit the annotation keys of release notifications."""
    return [
        ConfigIssue(
            file,
            f"{where}[{index}].name",
            f"{receiver.receiver_name!r} is longer than {RELEASE_SERVICE_NAME_MAX} characters: "
            "a slack receiver's name also names it in the Rollouts' notification subscriptions",
        )
        for index, receiver in enumerate(receivers)
        if receiver.type == "slack" and len(receiver.receiver_name) > RELEASE_SERVICE_NAME_MAX
    ]


# Names, namespaces and IAM roles build on a tenant's name.
TENANT_NAME_MAX = 40


# An AWS Budget's limit is a decimal amount of USD; a tenant's is whole dollars, within reason.
BUDGET_MAX_USD = 10_000_000


class BudgetConfig(Model):
    """The team's monthly AWS spending limit: an AWS Budget over the cost-allocation tag
    `paved-road:tenant`, whose alerts (80% spent, 100% forecast) go to `notify`."""

    monthly_usd: int = Field(
        ge=1,
        le=BUDGET_MAX_USD,
        strict=True,
        description="The team's monthly AWS spending limit in US dollars (e.g. 2000).",
    )
    notify: list[str] = Field(
        min_length=1,
        max_length=10,
        description="Who is e-mailed when 80% of the budget is spent or 100% is forecast.",
    )

    @field_validator("notify")
    @classmethod
    def _notify(cls, value: list[str]) -> list[str]:
        for address in value:
            check_pattern(address, EMAIL, "an e-mail address")
        if len(set(value)) != len(value):
            raise ValueError("lists an address twice")
        return value


class TenantGithubConfig(Model):
    team: str = Field(
        description="The team's GitHub handle, '@org/team': it owns the tenant file in "
        "CODEOWNERS, with the domain's platform squad."
    )

    @field_validator("team")
    @classmethod
    def _team(cls, value: str) -> str:
        return check_github_team(value)


class TenantConfig(Model):
    name: str = Field(
        description="The team's short name: lowercase letters, digits and '-' (it names the "
        "team's namespace, roles and catalog group)."
    )
    display_name: Optional[str] = Field(
        default=None, description="The team's name as people write it (e.g. 'Payments')."
    )
    cost_center: str = Field(
        description="The cost center the team's cloud spending is charged to (e.g. 'cc-1234')."
    )
    # The product domain whose platform squad looks after the team (domains/<domain>.yaml);
    # required once any domain exists.
    domain: Optional[str] = Field(
        default=None,
        description="The product domain the team belongs to (a file under domains/).",
    )
    github: Optional[TenantGithubConfig] = Field(
        default=None, description="Where the team lives on GitHub."
    )
    owners: list[str] = Field(
        min_length=1,
        description="IAM roles (or users) of the team's administrators, as ARNs: they get "
        "admin rights in the team's namespaces.",
    )
    developers: list[str] = Field(default_factory=list)
    viewers: list[str] = Field(default_factory=list)
    namespaces: Optional[list[str]] = Field(default=None, min_length=1, max_length=10)
    quota: QuotaConfig = Field(
        default=QuotaConfig(), description="What the team's pods may use in total."
    )
    network: TenantNetworkConfig = TenantNetworkConfig()
    repositories: list[Repository] = Field(default_factory=list)
    decommission: bool = False
    # Granted by the stack file only (`- name: payments\n  allowInternetEgress: true`), never by
    # the team's own file: `network.egressCidrs` may then cover the internet.
    allow_internet_egress: bool = False
    apps: list[AppConfig] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    # The team's monthly AWS budget (components/cost.py); None: no budget of its own.
    budget: Optional[BudgetConfig] = Field(
        default=None, description="The team's monthly AWS budget and who its alerts go to."
    )
    # Self-service infrastructure (components/resources/): databases, caches, names, triggers.
    resources: list[ResourceConfig] = Field(default_factory=list, max_length=20)
    # Feature flags (components/flags.py): with `paved-road:delivery.flags: openfeature`, the
    # tenant's FeatureFlag, read by its apps that set `flags: true`.
    flags: Annotated[list[FlagConfig], AfterValidator(check_flags)] = Field(
        default_factory=list,
        max_length=MAX_FLAGS,
        description="Feature flags the team's apps evaluate through OpenFeature: each a name, "
        "its variants, the default variant and an optional targeting rule.",
    )
    # Names outside `*.<tenant>.<zone>` the stack grants this tenant's apps (e.g. the shop's
    # apex name). Only a stack file's tenant entry may set it: a tenant cannot grant itself.
    hosts: list[Host] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        check_pattern(value, DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-')")
        if len(value) > TENANT_NAME_MAX:
            raise ValueError(
                f"{value!r} is longer than {TENANT_NAME_MAX} characters (names and roles build "
                "on it)"
            )
        return value

    @field_validator("cost_center")
    @classmethod
    def _cost_center(cls, value: str) -> str:
        return check_pattern(value, LABEL_VALUE, "a Kubernetes label value (e.g. 'cc-1234')")

    @field_validator("owners", "developers", "viewers")
    @classmethod
    def _arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            check_pattern(arn, IAM_PRINCIPAL_ARN, "an IAM role or user ARN")
        return value

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        for namespace in value or []:
            check_pattern(namespace, DNS_LABEL, "a DNS-1123 label")
        if value and len(set(value)) != len(value):
            raise ValueError("namespaces are listed twice")
        return value

    # Where the stack file overrides this tenant: (stack file, `paved-road:tenants[i]`, overrides).
    _source: Optional[tuple[str, str, dict[str, Any]]] = PrivateAttr(default=None)
    # The items that came from fragment files: ("apps" or "resources", index) → fragment path.
    _fragments: dict[tuple[str, int], str] = PrivateAttr(default_factory=dict)

    def source(self, field: str) -> tuple[str, str]:
        """The file a field's value came from and the field as named there: the stack file for an
        overridden field (`paved-road:tenants[1].apps[0].host`), the fragment for a field of an
        item written in one (`tenants/payments/apps/checkout-api.yaml`, `host`), else the
        tenant's own file."""
        if self._source is not None:
            stack_file, where, overrides = self._source
            loc = tuple(
                int(part) if part.isdigit() else part
                for part in re.split(r"[.\[\]]+", field)
                if part
            )
            if _overridden(overrides, loc):
                return stack_file, f"{where}.{field}"
        return tenant_fragments.locate(self._fragments, field) or (
            f"{TENANTS_DIR}/{self.name}.yaml",
            field,
        )

    def item_file(self, kind: str, index: int) -> str:
        """The team's file an item of `apps` or `resources` is written in: its fragment, or the
        tenant file (where an item the stack file overrides is also declared)."""
        return self._fragments.get((kind, index), f"{TENANTS_DIR}/{self.name}.yaml")

    @property
    def namespace_names(self) -> list[str]:
        return list(self.namespaces or [self.name])

    @property
    def approved_hosts(self) -> list[str]:
        """The names this tenant's Ingresses may carry: its served apps' hosts (as resolved by
        config.py) and the names the stack granted it."""
        served = {app.host for app in self.apps if serves_ingress(app) and app.host}
        return sorted(served | set(self.hosts))

    @property
    def title(self) -> str:
        return self.display_name or self.name


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _stack_entries(
    raw: Any, stack_file: str, key: str
) -> tuple[list[tuple[int, str, dict[str, Any]]], list[ConfigIssue]]:
    """`paved-road:tenants` as (index, name, overrides), or issues naming the stack file."""
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], [ConfigIssue(stack_file, key, f"expected a list of tenant names, got {raw!r}")]
    entries, issues, seen = [], [], set()
    for index, entry in enumerate(raw):
        where = f"{key}[{index}]"
        overrides: dict[str, Any] = {}
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            name, overrides = entry["name"], {k: v for k, v in entry.items() if k != "name"}
        elif isinstance(entry, str):
            name = entry
        else:
            issues.append(ConfigIssue(stack_file, where, f"expected a tenant name, got {entry!r}"))
            continue
        if name in seen:
            issues.append(ConfigIssue(stack_file, where, f"tenant {name!r} is listed twice"))
            continue
        seen.add(name)
        entries.append((index, name, overrides))
    return entries, issues


def _read_tenant_file(root: Path, name: str) -> tuple[Optional[dict[str, Any]], list[ConfigIssue]]:
    """The tenant's own file through the safe loader (regular file inside the project, bounded,
    strict YAML); (None, []) when there is no such file."""
    relative = f"{TENANTS_DIR}/{name}.yaml"
    if not DNS_LABEL.fullmatch(name):
        return None, []
    try:
        document = safe_yaml.load_file(root, relative)
    except safe_yaml.MissingFileError:
        return None, []
    except safe_yaml.InputFileError as error:
        return None, [
            ConfigIssue(relative, problem.where, problem.message) for problem in error.problems
        ]
    if not isinstance(document, dict):
        return None, [ConfigIssue(relative, "(file)", "expected a mapping of tenant fields")]
    return document, []


def _overridden(overrides: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Whether the value at `loc` (a pydantic error location, camelCase keys) comes from the stack
    file's overrides: a mapping override merges key by key, anything else replaces the whole."""
    current: Any = overrides
    for part in loc:
        if not isinstance(current, dict):
            return True
        if part not in current:
            return False
        current = current[part]
    return True


def _parse_tenant(
    index: int,
    name: str,
    overrides: dict[str, Any],
    document: dict[str, Any],
    stack_file: str,
    key: str,
    fragments: Iterable[tenant_fragments.Fragment] = (),
) -> tuple[Optional[TenantConfig], list[ConfigIssue]]:
    """Validate the file and its fragments alone, then with the stack's overrides: each error
    names its own file."""
    relative = f"{TENANTS_DIR}/{name}.yaml"
    where = f"{key}[{index}]"
    document, origins = tenant_fragments.combine(document, list(fragments))

    def place(kind: str, known: tenant_fragments.Origins = origins) -> Callable[[int], str]:
        return lambda item: tenant_fragments.describe(known, relative, kind, item)

    def attribute(found: list[ConfigIssue]) -> list[ConfigIssue]:
        return tenant_fragments.attribute(found, relative, origins)

    own: Optional[TenantConfig] = None
    issues: list[ConfigIssue] = []
    if GRANTED_HOSTS in document:
        issues.append(
            ConfigIssue(
                relative,
                GRANTED_HOSTS,
                f"is granted by the stack file, not the tenant file: ask the platform team to add "
                f"the names to tenant {name!r} in {key} of {stack_file}",
            )
        )
        document = {k: v for k, v in document.items() if k != GRANTED_HOSTS}
    try:
        own = TenantConfig.model_validate(document)
    except ValidationError as error:
        issues.extend(attribute(issues_from(error, relative, "", TenantConfig)))
    if own is not None:
        own._fragments = origins
        if own.name != name:
            issues.append(
                ConfigIssue(relative, "name", f"{own.name!r} does not match the file name {name!r}")
            )
        issues.extend(
            attribute(app_issues(own.apps, own.namespace_names, relative, place=place("apps")))
        )
        issues.extend(
            attribute(resource_issues(own.resources, own.apps, relative, place=place("resources")))
        )
        issues.extend(receiver_issues(own.alerts.receivers, relative, "alerts.receivers"))
        issues.extend(release_receiver_issues(own.alerts.receivers, relative, "alerts.receivers"))
        if ALLOW_INTERNET_EGRESS in document:
            issues.append(
                ConfigIssue(
                    relative,
                    ALLOW_INTERNET_EGRESS,
                    f"is granted by the stack file only ({key}: - name: {name} / "
                    f"{ALLOW_INTERNET_EGRESS}: true), not by the tenant's own file",
                )
            )
    for field in OWNERSHIP_FIELDS & set(overrides):
        issues.append(
            ConfigIssue(
                stack_file,
                f"{where}.{field}",
                f"is the team's own, the same in every environment: set it in {relative}",
            )
        )
    if not overrides:
        if own is not None:
            issues.extend(_internet_egress_issues(own, relative, "network.egressCidrs"))
        return (None if issues else own), issues
    try:
        merged = TenantConfig.model_validate(_deep_merge(document, overrides))
    except ValidationError as error:
        # Each error belongs to the file its value came from: an overridden field is the stack
        # file's; the tenant file's own errors were reported above.
        for detail, issue in zip(
            error.errors(), issues_from(error, stack_file, where, TenantConfig)
        ):
            loc = tuple(detail["loc"])
            if _overridden(overrides, loc) if loc else own is not None:
                issues.append(issue)
        return None, issues
    # A list override replaced the fragments of its kind along with the tenant file's items.
    kept = {item: file for item, file in origins.items() if item[0] not in overrides}
    if {"apps", "namespaces"} & set(overrides):
        issues.extend(
            app_issues(merged.apps, merged.namespace_names, stack_file, where, place("apps", kept))
        )
    if {"apps", "resources"} & set(overrides):
        issues.extend(
            resource_issues(
                merged.resources, merged.apps, stack_file, where, place("resources", kept)
            )
        )
    # The list is the stack's error when the stack replaced it, the tenant's otherwise.
    overridden = "egressCidrs" in (overrides.get("network") or {})
    issues.extend(
        _internet_egress_issues(
            merged,
            stack_file if overridden else relative,
            f"{key}[{index}].network.egressCidrs" if overridden else "network.egressCidrs",
        )
    )
    if issues:
        return None, issues
    merged._source = (stack_file, where, overrides)
    merged._fragments = kept
    return merged, issues


def _internet_egress_issues(tenant: TenantConfig, file: str, field: str) -> list[ConfigIssue]:
    """`egressCidrs` whose union covers the internet (policies/paved_road_policies/cidrs.py
    says what that means), unless the stack allows it for this tenant."""
    cidrs = tenant.network.egress_cidrs
    if tenant.allow_internet_egress or not covers_internet(cidrs):
        return []
    return [
        ConfigIssue(
            file,
            field,
            f"{', '.join(public_blocks(cidrs))} covers the internet (at least a /8's worth of "
            "public addresses), which would let the tenant's pods reach anywhere; list the "
            "partner ranges it needs, or have the stack file allow it for this tenant "
            f"({ALLOW_INTERNET_EGRESS}: true in its entry)",
        )
    ]


def _conflicts(
    tenants: list[TenantConfig],
    reserved: Iterable[str],
    admins: Iterable[str],
    listed: Iterable[str] = (),
) -> list[ConfigIssue]:
    """What no single file can see: shared namespaces, unknown peers, one principal twice.
    `listed`: every tenant the stack names, including those whose files failed to parse."""
    issues = []
    names = {t.name for t in tenants} | set(listed)
    reserved = set(reserved) | set(SYSTEM_NAMESPACES)
    claimed: dict[str, str] = {}
    principals: dict[str, str] = {arn: "the platform admins" for arn in admins}
    for tenant in tenants:
        for index, namespace in enumerate(tenant.namespace_names):
            file, field = tenant.source(f"namespaces[{index}]" if tenant.namespaces else "name")
            if namespace in reserved:
                issues.append(
                    ConfigIssue(file, field, f"{namespace!r} is reserved for the platform")
                )
            elif namespace in claimed:
                issues.append(
                    ConfigIssue(
                        file,
                        field,
                        f"namespace {namespace!r} is already claimed by tenant "
                        f"{claimed[namespace]!r}",
                    )
                )
            elif namespace in names and namespace != tenant.name:
                issues.append(
                    ConfigIssue(file, field, f"{namespace!r} is the name of another tenant")
                )
            claimed.setdefault(namespace, tenant.name)
        for index, peer in enumerate(tenant.network.allow_from):
            if peer not in names:
                file, field = tenant.source(f"network.allowFrom[{index}]")
                issues.append(ConfigIssue(file, field, f"{peer!r} is not a tenant of this stack"))
        for role in ("owners", "developers", "viewers"):
            for index, arn in enumerate(getattr(tenant, role)):
                file, field = tenant.source(f"{role}[{index}]")
                holder = principals.setdefault(arn, f"tenant {tenant.name!r}")
                if holder != f"tenant {tenant.name!r}":
                    issues.append(
                        ConfigIssue(
                            file,
                            field,
                            f"{arn} already has cluster access through {holder}; "
                            "an IAM principal can hold one EKS access entry",
                        )
                    )
                elif (
                    sum(arn in getattr(tenant, r) for r in ("owners", "developers", "viewers")) > 1
                ):
                    issues.append(ConfigIssue(file, field, f"{arn} is listed in two roles"))
                    break
    return issues


def load_tenants(
    raw: Any,
    *,
    root: Path,
    stack_file: str,
    key: str,
    reserved_namespaces: Iterable[str],
    admins: Iterable[str],
) -> tuple[list[TenantConfig], list[ConfigIssue]]:
    """The stack's tenants, parsed and cross-checked, sorted by name for stable plans."""
    entries, issues = _stack_entries(raw, stack_file, key)
    tenants = []
    for index, name, overrides in entries:
        document, file_issues = _read_tenant_file(root, name)
        issues.extend(file_issues)
        if document is None:
            if not file_issues:
                issues.append(
                    ConfigIssue(
                        stack_file,
                        f"{key}[{index}]",
                        f"tenant {name!r} has no file {TENANTS_DIR}/{name}.yaml",
                    )
                )
            continue
        fragments, fragment_issues = tenant_fragments.read_fragments(root, TENANTS_DIR, name)
        tenant, tenant_issues = _parse_tenant(
            index, name, overrides, document, stack_file, key, fragments
        )
        issues.extend(fragment_issues)
        issues.extend(tenant_issues)
        if tenant is not None and not fragment_issues:
            tenants.append(tenant)
    # Cross-tenant checks run even when a file failed, so one run lists every problem; a tenant
    # whose file failed still counts as listed (a peer naming it is not an unknown tenant).
    listed = [name for _, name, _ in entries]
    issues.extend(_conflicts(tenants, reserved_namespaces, admins, listed))
    return sorted(tenants, key=lambda t: t.name), issues


def load_tenant_file(root: Path, name: str) -> tuple[Optional[TenantConfig], list[ConfigIssue]]:
    """One team's file and fragments on their own, as no stack overrides them: what is the same
    in every environment (its ownership, for CODEOWNERS)."""
    document, issues = _read_tenant_file(root, name)
    if document is None:
        return None, issues or [
            ConfigIssue(f"{TENANTS_DIR}/{name}.yaml", "(file)", "no such tenant file")
        ]
    fragments, fragment_issues = tenant_fragments.read_fragments(root, TENANTS_DIR, name)
    tenant, tenant_issues = _parse_tenant(0, name, {}, document, "", "", fragments)
    issues = fragment_issues + tenant_issues
    return (tenant if not issues else None), issues
