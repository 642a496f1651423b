"""An app's release under Flagger: the same tenant-file `release:` block, as a Deployment and a
`Canary` (flagger.app/v1beta1) instead of a Rollout.

Flagger takes the Deployment as its target: it copies it to `<app>-primary` (which serves users),
scales the target to zero between releases, and on a new version scales it up again as the
canary. It creates the Services itself (`<app>` for users, `<app>-primary`, `<app>-canary`) and,
with the Gateway API provider, the app's HTTPRoute on the tenants' Gateway, whose weights it moves
step by step (components/flagger_config.py says how the steps translate). The analysis is the
Rollout's: the same checks and thresholds, through MetricTemplates the platform keeps in the
app's namespace (components/delivery/flagger.py), judged against the `<app>-canary` Service.

What stays the same as under Argo Rollouts: the pod (Pod Security `restricted`, resources,
probes), the autoscaler (Flagger gives the primary its own copy), the disruption budget and the
ServiceMonitor, whose selectors follow Flagger's names: Flagger labels the primary's pods
`<app>-primary` and each Service with its own name, so they list those names.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.apps import (
    APP_LABEL,
    SERVICE_PORT,
    AppTarget,
    _autoscaler,
    _logical,
    _metadata,
    _opts,
    _pod_disruption_budget,
    _pod_template,
    _service_monitor,
)
from components.apps_config import AppConfig
from components.delivery import analysis, flagger
from components.flagger_config import FlaggerSchedule, flagger_schedule
from components.kubernetes import DNS_PUBLISH

KEDA_API_VERSION = "keda.sh/v1alpha1"


def flagger_app(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """A canary or blue/green api-service, or a kafka-consumer, released by Flagger."""
    schedule = flagger_schedule(app)
    serves = app.template == "api-service"
    deployment = _deployment(app, target)
    created: list[pulumi.Resource] = [deployment]
    autoscaler: dict[str, str] | None = None
    if serves and app.autoscaling.enabled:
        created += _autoscaler(app, target, "Deployment", app.name, deployment, role="hpa")
        autoscaler = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "name": app.name,
        }
    elif target.scaled_externally:
        # KEDA's ScaledObject targets this Deployment; Flagger copies it for the primary.
        autoscaler = {"apiVersion": KEDA_API_VERSION, "kind": "ScaledObject", "name": app.name}
    created.append(_canary(app, target, schedule, autoscaler, after=[deployment, *created[1:]]))
    created.append(_pod_disruption_budget(app, target, _names_selector(app, f"{app.name}-primary")))
    if serves and target.monitoring:
        created.append(_service_monitor(app, target, _names_selector(app, f"{app.name}-canary")))
    return created


def _names_selector(app: AppConfig, other: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": APP_LABEL, "operator": "In", "values": [app.name, other]}]}


def _deployment(app: AppConfig, target: AppTarget) -> k8s.apps.v1.Deployment:
    """Flagger's target. Its replicas are set only where nothing scales it (as for a Rollout)."""
    spec: dict[str, Any] = {}
    autoscaled = app.template == "api-service" and app.autoscaling.enabled
    if not target.scaled_externally and not autoscaled:
        spec["replicas"] = app.replicas
    spec.update(
        {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {APP_LABEL: app.name}},
            "template": _pod_template(app, target, app.image, serves=True),
        }
    )
    return k8s.apps.v1.Deployment(
        _logical(target, app, "deployment"),
        metadata=_metadata(app, target, app.name),
        spec=spec,
        opts=_opts(target, *target.admission_policies),
    )


def canary_analysis(
    app: AppConfig, schedule: FlaggerSchedule, providers: tuple[str, ...]
) -> dict[str, Any]:
    """The Canary's `analysis`: when it moves, what it checks, whom it tells."""
    result: dict[str, Any] = {"interval": schedule.interval, "threshold": flagger.THRESHOLD}
    if schedule.step_weights:
        result["stepWeights"] = list(schedule.step_weights)
    if schedule.iterations is not None:
        result["iterations"] = schedule.iterations
    checks = app.release.analysis
    metrics: list[dict[str, Any]] = []
    if app.template == "kafka-consumer":
        assert app.kafka is not None
        metrics.append(
            {
                **flagger.metric(analysis.KAFKA_CONSUMER_LAG, maximum=app.kafka.max_lag),
                "templateVariables": {
                    flagger.TEMPLATE_VARIABLES["consumer-group"]: app.consumer_group,
                    flagger.TEMPLATE_VARIABLES["topic"]: app.kafka.topic,
                },
            }
        )
    else:
        metrics.append(flagger.metric(analysis.SUCCESS_RATE, minimum=checks.success_rate))
        if checks.latency_p99_ms is not None:
            metrics.append(flagger.metric(analysis.LATENCY_P99, maximum=checks.latency_p99_ms))
        if checks.burn_rate is not None:
            slo = app.service_level
            assert slo is not None, "apps_config refuses burnRate without an SLO"
            metrics.append(
                {
                    **flagger.metric(
                        analysis.BURN_RATE,
                        maximum=checks.burn_rate.max,
                        window=analysis.BURN_RATE_WINDOW,
                    ),
                    "templateVariables": {
                        flagger.TEMPLATE_VARIABLES["objective"]: analysis.objective_ratio(
                            slo.availability
                        )
                    },
                }
            )
    if checks.enabled:
        result["metrics"] = metrics
    if providers:
        result["alerts"] = flagger.alerts(providers)
    return result


def _canary(
    app: AppConfig,
    target: AppTarget,
    schedule: FlaggerSchedule,
    autoscaler: dict[str, str] | None,
    after: list[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    service: dict[str, Any] = {"port": SERVICE_PORT, "targetPort": "http", "portName": "http"}
    if app.template == "api-service":
        provider = flagger.PROVIDER
        assert app.host is not None and target.gateway_ref is not None, "config.py"
        service["hosts"] = [app.host, *(host for host, _ in target.aliases)]
        service["gatewayRefs"] = [dict(target.gateway_ref)]
        # Flagger copies the apex metadata onto the HTTPRoute it writes: external-dns publishes
        # the route's hosts (approved for this tenant, as its Gateway listeners are).
        service["apex"] = {"annotations": dict(DNS_PUBLISH)}
    else:
        provider = flagger.NO_ROUTING
    spec: dict[str, Any] = {
        "provider": provider,
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
        # A release that makes no progress for 10 minutes is rolled back, as a Rollout aborts.
        "progressDeadlineSeconds": 600,
        "service": service,
        "analysis": canary_analysis(app, schedule, target.alert_providers),
    }
    if autoscaler is not None:
        spec["autoscalerRef"] = autoscaler
    return k8s.apiextensions.CustomResource(
        _logical(target, app, "canary"),
        api_version=flagger.API_VERSION,
        kind="Canary",
        metadata=_metadata(app, target, app.name),
        spec=spec,
        opts=_opts(target, *target.rollouts, *target.release_objects, *after),
    )
