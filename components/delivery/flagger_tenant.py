"""What Flagger's Canaries in a tenant namespace may name: the platform's MetricTemplates and the
tenant's Slack AlertProviders.

Flagger runs with `noCrossNamespaceRefs` (components/delivery/flagger.py), so both live in each
namespace where Flagger releases an app. The templates are the platform's (their queries are the
ClusterAnalysisTemplates', with Flagger's placeholders). An AlertProvider reads its Slack webhook
URL from a Secret's `address` key; the URL arrives from the tenant's own Secrets Manager prefix
through the namespace's SecretStore, as the tenant's Alertmanager receivers' do
(components/insight/routing.py): it is in no config value, plan or state.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.delivery import analysis, flagger
from components import kubernetes
from components.insight.routing import remote_key
from components.tenants_config import AlertReceiverConfig

# The Secret key Flagger reads a provider's webhook URL from (pkg/controller/events.go).
ADDRESS_KEY = "address"


def slack_receivers(receivers: Sequence[AlertReceiverConfig]) -> list[AlertReceiverConfig]:
    return [r for r in receivers if r.type == "slack" and r.secret_name is not None]


def provider_name(receiver: AlertReceiverConfig) -> str:
    return f"release-{receiver.receiver_name}"


def metric_templates(
    name: str,
    namespace: str,
    prometheus_url: str,
    *,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """Every template, so any app of the namespace may use any check."""
    return [
        k8s.apiextensions.CustomResource(
            f"{name}-{template}",
            api_version=flagger.API_VERSION,
            kind="MetricTemplate",
            metadata={"name": template, "namespace": namespace, "labels": dict(labels)},
            spec=flagger.metric_template_spec(template, prometheus_url),
            opts=opts,
        )
        for template in analysis.TEMPLATE_NAMES
    ]


def alert_providers(
    name: str,
    namespace: str,
    receivers: Sequence[AlertReceiverConfig],
    *,
    secret_prefix: str,
    store_name: str,
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """Per Slack receiver, the webhook URL's ExternalSecret and the AlertProvider reading it."""
    created: list[pulumi.Resource] = []
    for receiver in receivers:
        assert receiver.secret_name is not None
        provider = provider_name(receiver)
        remote = {"key": remote_key(secret_prefix, receiver.secret_name)}
        if receiver.key:
            remote["property"] = receiver.key
        manifest = kubernetes.external_secret(
            provider,
            namespace,
            labels,
            store_name=store_name,
            data=[{"secretKey": ADDRESS_KEY, "remoteRef": remote}],
        )
        secret = k8s.apiextensions.CustomResource(
            f"{name}-{provider}-secret",
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=opts,
        )
        created.append(secret)
        created.append(
            k8s.apiextensions.CustomResource(
                f"{name}-{provider}",
                api_version=flagger.API_VERSION,
                kind="AlertProvider",
                metadata={"name": provider, "namespace": namespace, "labels": dict(labels)},
                spec=flagger.alert_provider_spec(receiver.channel, provider),
                opts=pulumi.ResourceOptions.merge(
                    opts, pulumi.ResourceOptions(depends_on=[secret])
                ),
            )
        )
    return created
