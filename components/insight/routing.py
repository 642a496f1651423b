"""Alerts reach their owner: each tenant's receivers, and the platform's for everything else.

A team's receivers are read from its own Secrets Manager prefix through its own SecretStore by an
ExternalSecret, into a Secret beside one AlertmanagerConfig per tenant namespace. The Alertmanager
merges those with the `OnNamespace` matcher strategy (components/core/observability.py): the
operator replaces any `namespace` matcher of a config's top route with `namespace="<its
namespace>"`, so a team's config only ever sees alerts from its own namespaces, whatever it says.

The platform's `platform-alerts` AlertmanagerConfig in the monitoring namespace is the
Alertmanager's top-level configuration (`alertmanagerConfiguration`, where the operator enforces
no namespace): it sends alerts that carry no `tenant` label to the platform's receivers and drops
tenants' alerts, which the tenants' own routes (always `continue: true` at the first level, so
they are seen before the top-level routes) have delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import kubernetes
from components.core.observability import (
    ALERT_RECEIVER_SECRET,
    ALERT_ROUTING_LABEL,
    PLATFORM_ALERTMANAGER_CONFIG,
    SMTP_PASSWORD_KEY,
)
from components.insight.contract import (
    APP_LABEL,
    KIND_LABEL,
    KIND_SLO,
    SEVERITY_PAGE,
    SEVERITY_TICKET,
    SLO_LABEL,
    TENANT_LABEL,
)
from components.tenants_config import AlertReceiverConfig

ALERTMANAGER_CONFIG_API_VERSION = "monitoring.coreos.com/v1alpha1"
# The Secret each namespace's receivers' credentials are delivered into.
RECEIVER_SECRET = ALERT_RECEIVER_SECRET
TENANT_CONFIG_NAME = "tenant-alerts"
# The two receivers every routing tree has: what wakes someone, what waits for working hours.
PAGE_RECEIVER = "page"
TICKET_RECEIVER = "ticket"
NULL_RECEIVER = "null"
GROUP_BY = ("alertname", APP_LABEL)
# The platform's own alerts come from kube-prometheus-stack's rules (critical/warning/info) and
# the insight rules (page/ticket).
PLATFORM_PAGE_SEVERITIES = (SEVERITY_PAGE, "critical")
PLATFORM_TICKET_SEVERITIES = (SEVERITY_TICKET, "warning")

SLACK_TITLE = (
    "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}"
    "{{ if .CommonLabels.app }} · {{ .CommonLabels.app }}{{ end }}"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }} · Dashboard: {{ .Annotations.dashboard }}\n{{ end }}"
)


@dataclass(frozen=True)
class RoutingTarget:
    """Where a routing tree and its secrets live, and which store reads its secrets."""

    namespace: str
    # The owner's Secrets Manager prefix, ending in `/`: receivers name secrets relative to it.
    secret_prefix: str
    store_name: str
    store_kind: str  # "SecretStore" (a tenant's own) or "ClusterSecretStore" (the platform's)
    labels: dict[str, str]


def remote_key(prefix: str, secret: str) -> str:
    """A receiver's secret as Secrets Manager names it: always under the owner's prefix (the
    config refuses names that would climb out)."""
    return f"{prefix}{secret}"


def _secret_ref(receiver: AlertReceiverConfig) -> dict[str, str]:
    return {"name": RECEIVER_SECRET, "key": receiver.receiver_name}


def secret_receivers(receivers: Iterable[AlertReceiverConfig]) -> list[AlertReceiverConfig]:
    return [receiver for receiver in receivers if receiver.secret_name is not None]


def external_secret(
    target: RoutingTarget,
    receivers: Sequence[AlertReceiverConfig],
    extra: Sequence[tuple[str, str, Optional[str]]] = (),
) -> dict[str, Any]:
    """The ExternalSecret delivering the receivers' credentials into RECEIVER_SECRET, one key per
    receiver (its name); `extra`: more (key, secret, property) entries (the SMTP password)."""
    entries = [(r.receiver_name, r.secret_name, r.key) for r in secret_receivers(receivers)]
    data = []
    for key, secret, prop in [*entries, *extra]:
        remote: dict[str, str] = {"key": remote_key(target.secret_prefix, secret)}
        if prop:
            remote["property"] = prop
        data.append({"secretKey": key, "remoteRef": remote})
    return kubernetes.external_secret(
        RECEIVER_SECRET,
        target.namespace,
        target.labels,
        store_name=target.store_name,
        store_kind=target.store_kind,
        data=data,
    )


def _configs(receivers: Sequence[AlertReceiverConfig]) -> dict[str, list[dict[str, Any]]]:
    """Alertmanager notifier configs of one receiver of the tree (PAGE or TICKET)."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for receiver in receivers:
        if receiver.type == "slack":
            slack = {
                "apiURL": _secret_ref(receiver),
                "sendResolved": True,
                "title": SLACK_TITLE,
                "text": SLACK_TEXT,
            }
            if receiver.channel:
                slack["channel"] = receiver.channel
            configs.setdefault("slackConfigs", []).append(slack)
        elif receiver.type == "pagerduty":
            configs.setdefault("pagerdutyConfigs", []).append(
                {
                    "routingKey": _secret_ref(receiver),
                    "sendResolved": True,
                    "description": "{{ .CommonAnnotations.summary }}",
                }
            )
        else:
            configs.setdefault("emailConfigs", []).extend(
                {"to": address, "sendResolved": True} for address in receiver.to
            )
    return configs


def by_severity(
    receivers: Sequence[AlertReceiverConfig],
) -> tuple[list[AlertReceiverConfig], list[AlertReceiverConfig]]:
    """(page, ticket) receivers: pages go to PagerDuty, tickets to Slack and e-mail; an owner
    with only one kind gets everything there, so no alert of theirs goes nowhere."""
    paging = [r for r in receivers if r.type == "pagerduty"]
    ticketing = [r for r in receivers if r.type != "pagerduty"]
    return paging or ticketing, ticketing or paging


def _matcher(name: str, value: str, match_type: str = "=") -> dict[str, str]:
    return {"name": name, "value": value, "matchType": match_type}


def _severities(values: Sequence[str]) -> dict[str, str]:
    return (
        _matcher("severity", values[0])
        if len(values) == 1
        else _matcher("severity", "|".join(values), "=~")
    )


def _receivers(receivers: Sequence[AlertReceiverConfig], prefix: str = "") -> list[dict[str, Any]]:
    page, ticket = by_severity(receivers)
    return [
        {"name": f"{prefix}{PAGE_RECEIVER}", **_configs(page)},
        {"name": f"{prefix}{TICKET_RECEIVER}", **_configs(ticket)},
    ]


@dataclass(frozen=True)
class DomainAlerts:
    """A domain squad's receivers, and the tenants (of this stack) whose alerts it also gets."""

    domain: str
    tenants: tuple[str, ...]
    receivers: tuple[AlertReceiverConfig, ...]

    @property
    def prefix(self) -> str:
        return f"domain-{self.domain}-"

    def platform_receivers(self) -> list[AlertReceiverConfig]:
        """The squad's receivers as the platform's tree holds them: named `domain-<d>-<name>`
        (their keys in the platform's receiver Secret) and read from `domains/<d>/` under the
        platform's prefix, where the squad's webhook URLs and routing keys are kept."""
        return [
            receiver.model_copy(
                update={
                    "name": f"{self.prefix}{receiver.receiver_name}",
                    "secret_name": (
                        f"{DOMAIN_SECRETS}/{self.domain}/{receiver.secret_name}"
                        if receiver.secret_name
                        else None
                    ),
                }
            )
            for receiver in self.receivers
        ]


# Where squads' receiver secrets live, under the platform's prefix (`<project>/<env>/platform/`).
DOMAIN_SECRETS = "domains"


def _domain_routes(domains: Sequence[DomainAlerts]) -> list[dict[str, Any]]:
    """A squad's second copy of its teams' alerts: a tenant's own routes (first, `continue`)
    have delivered them already; here they go to the squad's page and ticket receivers."""
    return [
        {
            "receiver": f"{domain.prefix}{TICKET_RECEIVER}",
            "matchers": [_matcher(TENANT_LABEL, "|".join(sorted(domain.tenants)), "=~")],
            "groupBy": list(GROUP_BY),
            "routes": [
                {
                    "receiver": f"{domain.prefix}{PAGE_RECEIVER}",
                    "matchers": [_matcher("severity", SEVERITY_PAGE)],
                    "repeatInterval": "1h",
                }
            ],
        }
        for domain in domains
        if domain.tenants and domain.receivers
    ]


def _inhibit_tickets_by_pages() -> list[dict[str, Any]]:
    """While an SLO pages, its slower-burn ticket for the same app and SLO says nothing new."""
    return [
        {
            "sourceMatch": [_matcher("severity", SEVERITY_PAGE), _matcher(KIND_LABEL, KIND_SLO)],
            "targetMatch": [_matcher("severity", SEVERITY_TICKET), _matcher(KIND_LABEL, KIND_SLO)],
            "equal": [SLO_LABEL, APP_LABEL],
        }
    ]


def tenant_alertmanager_config(
    tenant: str, target: RoutingTarget, receivers: Sequence[AlertReceiverConfig]
) -> dict[str, Any]:
    """The tenant's routing tree in one of its namespaces: its alerts (the `tenant` label every
    insight rule sets), grouped per alert and app, pages to the page receiver, the rest to the
    ticket receiver. No `namespace` matcher: the operator adds `namespace="<this namespace>"`."""
    return {
        "apiVersion": ALERTMANAGER_CONFIG_API_VERSION,
        "kind": "AlertmanagerConfig",
        "metadata": {
            "name": TENANT_CONFIG_NAME,
            "namespace": target.namespace,
            # What the Alertmanager's alertmanagerConfigSelector picks up.
            "labels": {**target.labels, ALERT_ROUTING_LABEL: "tenant"},
        },
        "spec": {
            "route": {
                "receiver": TICKET_RECEIVER,
                "matchers": [_matcher(TENANT_LABEL, tenant)],
                "groupBy": list(GROUP_BY),
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "routes": [
                    {
                        "receiver": PAGE_RECEIVER,
                        "matchers": [_matcher("severity", SEVERITY_PAGE)],
                        "repeatInterval": "1h",
                    }
                ],
            },
            "receivers": _receivers(receivers),
            "inhibitRules": _inhibit_tickets_by_pages(),
        },
    }


def platform_alertmanager_config(
    target: RoutingTarget,
    receivers: Sequence[AlertReceiverConfig],
    name: str = PLATFORM_ALERTMANAGER_CONFIG,
    domains: Sequence[DomainAlerts] = (),
) -> dict[str, Any]:
    """The Alertmanager's top-level tree: Watchdog to nowhere, a domain's tenants' alerts to its
    squad, other tenants' alerts to nowhere (tenants' own routes deliver them), the platform's
    pages and tickets to the platform's receivers, `info` and anything unlabelled nowhere.
    Without receivers, everything is only visible in Alertmanager's UI."""
    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": [_matcher("alertname", "Watchdog")]},
        *_domain_routes(domains),
        # Hands off: a tenant's alert belongs to the tenant's receivers only.
        {"receiver": NULL_RECEIVER, "matchers": [_matcher(TENANT_LABEL, ".+", "=~")]},
    ]
    receiver_list: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    if receivers:
        routes += [
            {
                "receiver": PAGE_RECEIVER,
                "matchers": [_severities(PLATFORM_PAGE_SEVERITIES)],
                "repeatInterval": "1h",
            },
            {"receiver": TICKET_RECEIVER, "matchers": [_severities(PLATFORM_TICKET_SEVERITIES)]},
        ]
        receiver_list += _receivers(receivers)
    for domain in domains:
        if domain.tenants and domain.receivers:
            receiver_list += _receivers(domain.platform_receivers(), domain.prefix)
    return {
        "apiVersion": ALERTMANAGER_CONFIG_API_VERSION,
        "kind": "AlertmanagerConfig",
        "metadata": {
            "name": name,
            "namespace": target.namespace,
            "labels": {**target.labels, ALERT_ROUTING_LABEL: "platform"},
        },
        "spec": {
            "route": {
                "receiver": NULL_RECEIVER,
                "groupBy": ["alertname", "namespace"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "12h",
                "routes": routes,
            },
            "receivers": receiver_list,
            "inhibitRules": [
                # kube-prometheus-stack's own: a critical alert silences its warnings.
                {
                    "sourceMatch": [_matcher("severity", "critical")],
                    "targetMatch": [_matcher("severity", "warning|info", "=~")],
                    "equal": ["namespace", "alertname"],
                },
                *_inhibit_tickets_by_pages(),
            ],
        },
    }


def _register(
    manifest: dict[str, Any], logical: str, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        logical,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


def build_tenant_routing(
    tenant: str,
    target: RoutingTarget,
    receivers: Sequence[AlertReceiverConfig],
    *,
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    secret_after: Sequence[pulumi.Resource],
    config_after: Sequence[pulumi.Resource],
    deliver_secrets: bool = True,
) -> list[k8s.apiextensions.CustomResource]:
    """One namespace's ExternalSecret (when a receiver has a secret and External Secrets runs;
    without it the team provides the `alert-receivers` Secret itself) and AlertmanagerConfig.
    `secret_after`: the namespace, its SecretStore and External Secrets' release (CRD and
    webhook); `config_after`: the namespace and the operator's release (the CRD)."""
    created = []
    secret = None
    if deliver_secrets and secret_receivers(receivers):
        secret = _register(
            external_secret(target, receivers),
            f"{target.namespace}-alert-receivers",
            pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(secret_after)),
        )
        created.append(secret)
    created.append(
        _register(
            tenant_alertmanager_config(tenant, target, receivers),
            f"{target.namespace}-alertmanager-config",
            pulumi.ResourceOptions(
                parent=parent,
                provider=provider,
                depends_on=[*config_after, *([secret] if secret else [])],
            ),
        )
    )
    return created


@dataclass(frozen=True)
class PlatformAlertsArgs:
    target: RoutingTarget
    receivers: tuple[AlertReceiverConfig, ...]
    # The SMTP password's secret under the platform prefix (and its JSON key), if any.
    smtp_password_secret: Optional[str] = None
    provider: Optional[pulumi.ProviderResource] = None
    # kube-prometheus-stack's release (the AlertmanagerConfig CRD).
    prometheus_operator: Optional[pulumi.Resource] = None
    # External Secrets' release and the platform's ClusterSecretStore (None: secrets off).
    external_secrets: tuple[pulumi.Resource, ...] = ()
    # Domain squads: their teams' alerts, a second time, to their own receivers.
    domains: tuple[DomainAlerts, ...] = ()


class PlatformAlerts(pulumi.ComponentResource):
    """The Alertmanager's top-level routing tree and the platform receivers' credentials."""

    def __init__(
        self, name: str, args: PlatformAlertsArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:insight:PlatformAlerts", name, None, opts)
        target = args.target
        extra = (
            [(SMTP_PASSWORD_KEY, args.smtp_password_secret, None)]
            if args.smtp_password_secret
            else []
        )
        after: list[pulumi.Resource] = []
        receivers = [
            *args.receivers,
            *(r for d in args.domains if d.tenants for r in d.platform_receivers()),
        ]
        if (secret_receivers(receivers) or extra) and args.external_secrets:
            after.append(
                _register(
                    external_secret(target, receivers, extra),
                    f"{name}-receivers",
                    pulumi.ResourceOptions(
                        parent=self,
                        provider=args.provider,
                        depends_on=list(args.external_secrets),
                    ),
                )
            )
        _register(
            platform_alertmanager_config(target, args.receivers, domains=args.domains),
            f"{name}-alertmanager-config",
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                depends_on=[*filter(None, [args.prometheus_operator]), *after],
            ),
        )
        self.register_outputs({"alertmanagerConfig": PLATFORM_ALERTMANAGER_CONFIG})
