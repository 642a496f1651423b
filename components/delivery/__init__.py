"""Delivery: the Argo Rollouts controller and the analysis templates that gate every release.

Teams release through Rollouts (canary or blue/green) that the app templates render; this layer
installs the controller those Rollouts need and the platform-owned ClusterAnalysisTemplates their
analysis refers to (`analysis.templates[].clusterScope: true`). It sits on the core services: the
controller's metrics go to core's Prometheus, the templates query it (or Datadog or New Relic,
whose API credentials arrive from Secrets Manager through core's ClusterSecretStore), and behind
core's ALB ingress the controller checks target groups before it scales old pods down. When a
team announces its releases to Slack, the controller reads notification configuration in the
Rollouts' own namespaces, which each tenant fills with its own
(components/insight/release_notifications.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import DeliveryConfig
from components.core.base import (
    service_role,
    ClusterContext,
    helm_release,
    platform_namespace,
)
from components.core import network_policies
from components.core.policy import cluster_policy, restrict_tenant_analysis
from components.core.secrets import platform_secret_prefix
from components.core import gateway
from components.delivery import analysis, flagger
from components.delivery.rollouts import (
    NAMESPACE,
    RELEASE_NAME,
    SERVICE_ACCOUNT,
    chart_values,
    target_group_policy,
)
from components.delivery.rollouts import NAMESPACES as ROLLOUTS_NAMESPACES

from components.kubernetes import MANAGED_BY_LABELS
from components.versions import CHARTS

__all__ = ["Delivery", "DeliveryArgs", "NAMESPACES", "engine_namespaces"]

# Reserved for the platform whichever engine runs, so switching engines never meets a team's
# namespace: each engine's controller, and the Gateway Flagger routes on.
NAMESPACES = (*ROLLOUTS_NAMESPACES, *flagger.NAMESPACES, *gateway.NAMESPACES)
CHART = CHARTS["argo-rollouts"]
FLAGGER_CHART = CHARTS["flagger"]
EXTERNAL_SECRET_API_VERSION = "external-secrets.io/v1"
# The Secret each provider reads from the controller's namespace, and the keys it reads
# (Argo Rollouts docs, analysis/datadog.md and analysis/newrelic.md). The same keys are the
# properties of the JSON secret at `<project>/<env>/platform/<provider>` in Secrets Manager.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "datadog": ("address", "api-key", "app-key"),
    "newrelic": ("personal-api-key", "account-id"),
}


def engine_namespaces(engine: str) -> tuple[str, ...]:
    """The namespaces the engine's controller runs in (the Gateway's is core's)."""
    return flagger.NAMESPACES if engine == "flagger" else ROLLOUTS_NAMESPACES


@dataclass(frozen=True)
class DeliveryArgs:
    context: ClusterContext
    config: DeliveryConfig
    # From the core services; None where that service is switched off.
    prometheus_url: Optional[str] = None
    ingress_class_name: Optional[str] = None
    cluster_secret_store_name: Optional[str] = None
    # The core releases this layer's objects need at creation (None: that service is off).
    # The chart's Services need the load balancer controller (its webhook fails closed), its
    # ServiceMonitor the Prometheus Operator's CRD; the provider credentials' ExternalSecret
    # needs the External Secrets release (CRD, webhook) and the store it reads through.
    load_balancer_controller: Optional[pulumi.Resource] = None
    prometheus_operator: Optional[pulumi.Resource] = None
    external_secrets: Optional[pulumi.Resource] = None
    cluster_secret_store: Optional[pulumi.Resource] = None
    # Kyverno's release (None: off): the chart aggregates AnalysisTemplates and AnalysisRuns
    # into tenants' `edit`, so this layer adds the policy that keeps tenant analysis to the
    # platform's templates, providers and the tenant's own namespace.
    admission_engine: Optional[pulumi.Resource] = None
    # Some tenant announces its releases to Slack and External Secrets can deliver its webhook
    # (plain data from the platform): the controller reads notification configuration in the
    # Rollouts' namespaces and may reach the internet over HTTPS.
    release_notifications: bool = False


class Delivery(pulumi.ComponentResource):
    # paved-road:delivery.engine: argo-rollouts or flagger.
    engine: str
    namespace: str
    # The controller sends notifications configured in tenants' namespaces
    # (components/insight/release_notifications.py).
    release_notifications: bool
    analysis_provider: str
    analysis_templates: list[str]
    # What a team's Rollout needs: the release (the Rollout CRD) and the ClusterAnalysisTemplates
    # its analysis names.
    rollout_dependencies: list[pulumi.Resource]

    def __init__(
        self, name: str, args: DeliveryArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        super().__init__("paved-road:delivery:Delivery", name, None, opts)
        context, config = args.context, args.config
        self.engine = config.engine
        # Argo Rollouts' notifications; under Flagger the Canaries' AlertProviders alert instead.
        self.release_notifications = args.release_notifications and config.engine != "flagger"
        if config.engine == "flagger":
            self._flagger(name, context, args)
            return
        self.namespace = NAMESPACE
        self.analysis_provider = config.analysis_provider
        self.analysis_templates = list(analysis.TEMPLATE_NAMES)

        # The controller calls the internet only when it must: a provider's API (Datadog, New
        # Relic), or the ELBv2 API to verify ALB target-group weights.
        calls_out = config.analysis_provider in CREDENTIALS or bool(args.ingress_class_name)
        openings = (
            network_policies.ROLLOUTS_INTERNET
            if calls_out
            else network_policies.openings_for(NAMESPACE)
        )
        if args.release_notifications:
            openings = network_policies.with_release_notifications(openings)
        namespace = platform_namespace(
            f"{name}-namespace",
            NAMESPACE,
            parent=self,
            provider=context.provider,
            openings=openings,
        )
        role = self._target_group_role(name, context) if args.ingress_class_name else None
        if config.analysis_provider in CREDENTIALS:
            if args.cluster_secret_store_name is None:
                raise ValueError(f"{config.analysis_provider} credentials need the secrets store")
            secrets = _present(args.external_secrets, args.cluster_secret_store)
            self._credentials(name, context, config.analysis_provider, args, [namespace, *secrets])
        release = helm_release(
            f"{name}-argo-rollouts",
            CHART,
            namespace=namespace.metadata.name,
            values=chart_values(
                production=context.production,
                region=context.region,
                dashboard=config.dashboard,
                metrics=args.prometheus_url is not None,
                alb_ingress_class=args.ingress_class_name,
                role_arn=role.arn if role is not None else None,
                release_notifications=args.release_notifications,
            ),
            parent=self,
            provider=context.provider,
            depends_on=[
                namespace,
                *([role] if role is not None else []),
                *_present(args.load_balancer_controller, args.prometheus_operator),
            ],
            release_name=RELEASE_NAME,
        )
        templates = [
            self._analysis_template(name, context, template, config, args.prometheus_url, release)
            for template in analysis.TEMPLATE_NAMES
        ]
        self.rollout_dependencies = [release, *templates]
        if args.admission_engine is not None:
            # Nothing of the platform's waits for it: it refuses tenants' own analysis objects,
            # and the platform creates none in tenant namespaces.
            cluster_policy(
                name,
                restrict_tenant_analysis((NAMESPACE, SERVICE_ACCOUNT), args.prometheus_url),
                args.admission_engine,
                parent=self,
                provider=context.provider,
                also_after=[release],
            )

        self.register_outputs(
            {
                "namespace": self.namespace,
                "chartVersion": CHART.version,
                "analysisProvider": self.analysis_provider,
                "analysisTemplates": self.analysis_templates,
                "controllerRoleArn": role.arn if role is not None else None,
                "releaseNotifications": self.release_notifications,
            }
        )

    def _flagger(self, name: str, context: ClusterContext, args: DeliveryArgs) -> None:
        """Flagger instead of Argo Rollouts: no ClusterAnalysisTemplates (its MetricTemplates
        live in each tenant namespace, see flagger.py) and no AWS permissions."""
        if args.prometheus_url is None:
            raise ValueError("config.py: the flagger engine needs the platform's Prometheus")
        self.namespace = flagger.NAMESPACE
        self.analysis_provider = "prometheus"
        self.analysis_templates = list(analysis.TEMPLATE_NAMES)
        namespace = platform_namespace(
            f"{name}-namespace", flagger.NAMESPACE, parent=self, provider=context.provider
        )
        # Prometheus admits the queries of the controllers that gate releases: Flagger's too.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-flagger-queries",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="allow-flagger-queries",
                namespace=network_policies.MONITORING,
                labels=dict(MANAGED_BY_LABELS),
            ),
            spec={
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [network_policies.namespace_peer(flagger.NAMESPACE)],
                        "ports": [{"protocol": "TCP", "port": 9090}],
                    }
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=context.provider,
                depends_on=_present(args.prometheus_operator),
            ),
        )
        release = helm_release(
            f"{name}-flagger",
            FLAGGER_CHART,
            namespace=namespace.metadata.name,
            values=flagger.chart_values(
                production=context.production,
                prometheus_url=args.prometheus_url,
                metrics=True,
                cluster_name=context.cluster_name,
            ),
            parent=self,
            provider=context.provider,
            depends_on=[
                namespace,
                *_present(args.load_balancer_controller, args.prometheus_operator),
            ],
            release_name=flagger.RELEASE_NAME,
        )
        self.rollout_dependencies = [release]
        self.register_outputs(
            {
                "engine": self.engine,
                "namespace": self.namespace,
                "chartVersion": FLAGGER_CHART.version,
                "analysisProvider": self.analysis_provider,
                "analysisTemplates": self.analysis_templates,
                "controllerRoleArn": None,
            }
        )

    def _target_group_role(self, name: str, context: ClusterContext) -> aws.iam.Role:
        return service_role(
            f"{name}-controller",
            context,
            role_suffix="argo-rollouts",
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            policy=target_group_policy(),
            parent=self,
        )

    def _credentials(
        self,
        name: str,
        context: ClusterContext,
        provider: str,
        args: DeliveryArgs,
        after: list[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """The provider's API keys, copied from the platform's Secrets Manager prefix into the
        Secret the controller reads; they never pass through config, values or the plan."""
        remote_key = platform_secret_prefix(context.project, context.environment) + provider
        return k8s.apiextensions.CustomResource(
            f"{name}-{provider}-credentials",
            api_version=EXTERNAL_SECRET_API_VERSION,
            kind="ExternalSecret",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=provider, namespace=NAMESPACE, labels=dict(MANAGED_BY_LABELS)
            ),
            spec={
                "refreshInterval": "1h",
                "secretStoreRef": {
                    "name": args.cluster_secret_store_name,
                    "kind": "ClusterSecretStore",
                },
                "target": {
                    "name": provider,
                    "creationPolicy": "Owner",
                    "template": {"metadata": {"labels": dict(MANAGED_BY_LABELS)}},
                },
                "data": [
                    {"secretKey": key, "remoteRef": {"key": remote_key, "property": key}}
                    for key in CREDENTIALS[provider]
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=after),
        )

    def _analysis_template(
        self,
        name: str,
        context: ClusterContext,
        template: str,
        config: DeliveryConfig,
        prometheus_url: Optional[str],
        release: pulumi.Resource,
    ) -> k8s.apiextensions.CustomResource:
        """A platform-owned template; it waits for the release, which brings its CRD."""
        return k8s.apiextensions.CustomResource(
            f"{name}-{template}",
            api_version=analysis.API_VERSION,
            kind=analysis.KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=template, labels=dict(MANAGED_BY_LABELS)),
            spec=analysis.template_spec(template, config.analysis_provider, prometheus_url),
            opts=pulumi.ResourceOptions(
                parent=self, provider=context.provider, depends_on=[release]
            ),
        )


def _present(*resources: Optional[pulumi.Resource]) -> list[pulumi.Resource]:
    """The resources of the services that are switched on."""
    return [resource for resource in resources if resource is not None]
