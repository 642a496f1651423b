"""App templates: the Kubernetes objects of one app a team declares in its tenant file.

One function per template. Every pod passes Pod Security `restricted`, has requests, limits and
(for anything that serves) probes, runs as the tenant's `workload` service account and carries
the tenant label. Releases are safe by default: an `api-service` is an Argo Rollouts canary
shifting ALB traffic in steps while a background analysis watches the canary's success rate (and,
when set, its p99 latency and how fast it burns its SLO's error budget); a failed analysis makes
the controller abort by itself — traffic goes back to the stable version — without anyone
watching. Names follow `components/apps_config.py`, which checks them for collisions before
anything is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.acm import validated_certificate
from components.alb import (
    ALB,
    GROUP_ANNOTATION,
    certificate_annotation,
    https_annotations,
    ingress_group,
)
from components.config_base import zone_for
from components.delivery import analysis as analysis_templates
from components.apps_config import (
    COLORS,
    IMAGE,
    AppConfig,
    Color,
    canary_service,
    color_workload,
    preview_service,
)
from components.flags import AppFlags
from components.kubernetes import CAPACITY_TYPE_KEY, DNS_PUBLISH, SPOT_TAINT

APP_LABEL = "app.kubernetes.io/name"
COLOR_LABEL = "paved-road/color"
ROLLOUT_API = "argoproj.io/v1alpha1"
SERVICE_PORT = 80
# Services and Ingresses whose readiness only the rollout controller brings about (it selects the
# pods and writes the ALB's weighted action): Pulumi must not wait for them before the Rollout
# exists, or the Rollout — which depends on them — would never be created.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
SLO_ANNOTATION = "paved-road/slo"
SLO_OPT_OUT = "opted out (slo: false)"
TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}


@dataclass(frozen=True)
class AppTarget:
    """Where an app lands and what it may use from the platform: plain values and resources."""

    tenant: str
    namespace: str
    # The tenant's labels (managed-by, tenant, cost center): on every object and pod.
    labels: Mapping[str, str]
    parent: pulumi.Resource
    provider: k8s.Provider
    production: bool
    service_account: str
    # The namespace and the service account: every object waits for them.
    depends_on: tuple[pulumi.Resource, ...] = ()
    # The delivery layer's release (Rollout CRD) and analysis templates (empty: off).
    rollouts: tuple[pulumi.Resource, ...] = ()
    ingress_class_name: Optional[str] = None
    # The AWS Load Balancer Controller's release: its webhooks admit every Service and Ingress
    # and fail closed, so each waits for the controller to be ready (None: ingress off).
    load_balancer_controller: Optional[pulumi.Resource] = None
    # Prometheus runs (ServiceMonitor CRD); the release that brings the CRD, when known.
    monitoring: bool = False
    prometheus_operator: Optional[pulumi.Resource] = None
    # The admission policies workloads (Rollouts, Deployments, CronJobs) are created after.
    admission_policies: tuple[pulumi.Resource, ...] = ()
    # Route 53 zone id by domain: where the certificates of app hosts are validated.
    dns_zones: Mapping[str, str] = field(default_factory=dict)
    # The tenant's AWS tags (environment, tenant, cost center): on every certificate.
    tags: Mapping[str, str] = field(default_factory=dict)
    # The OpenTelemetry collector's OTLP/HTTP endpoint (None: tracing off, no OTEL_* env).
    otlp_endpoint: Optional[str] = None
    # More names of this app (a tenant's `dns` resources, components/resources/dns.py), each with
    # its validated certificate's ARN (None: discovered, as for the app's own host).
    aliases: tuple[tuple[str, Optional[pulumi.Output[str]]], ...] = ()
    # KEDA scales the app on a queue's depth (components/resources/keda.py): its replica count
    # is KEDA's to set.
    scaled_externally: bool = False
    # On every Rollout: its release-notification subscriptions, or why it has none
    # (components/insight/release_notifications.py).
    rollout_annotations: Mapping[str, str] = field(default_factory=dict)
    # `flags: true`: what its pods carry to read the tenant's feature flags (components/flags.py).
    flags: Optional[AppFlags] = None
    # paved-road:delivery.engine: who releases the app's canary and blue/green versions. Under
    # Flagger (components/apps_flagger.py) they are Deployments with a Canary, routed on the
    # tenants' Gateway (`gateway_ref`), alerting the tenant's Slack `alert_providers`.
    engine: str = "argo-rollouts"
    gateway_ref: Optional[Mapping[str, str]] = None
    alert_providers: tuple[str, ...] = ()
    # The namespace's MetricTemplates and AlertProviders: a Canary is created after them.
    release_objects: tuple[pulumi.Resource, ...] = ()


def render_app(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    if target.engine == "flagger" and app.needs_rollout:
        from components.apps_flagger import flagger_app

        return flagger_app(app, target)
    templates: dict[str, Callable[[AppConfig, AppTarget], list[pulumi.Resource]]] = {
        "api-service": api_service,
        "batch-job": batch_job,
        "kafka-consumer": kafka_consumer,
    }
    return templates[app.template](app, target)


# --------------------------------------------------------------------------------------------------
# Templates


def api_service(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """An HTTP service behind its tenant's internet-facing HTTPS ALB, released by its strategy,
    scraped by Prometheus, autoscaled and protected from voluntary disruption."""
    strategy = app.release.strategy
    if strategy == "serviceSwitch":
        created = _service_switch(app, target)
    elif strategy == "blueGreen":
        created = _blue_green(app, target)
    else:
        created = _canary(app, target)
    created.append(_pod_disruption_budget(app, target))
    if target.monitoring:
        created.append(_service_monitor(app, target))
    return created


def batch_job(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """A CronJob. No probes: nothing routes traffic to a job, so readiness means nothing, and a
    hung run is ended by `activeDeadlineSeconds` rather than restarted by a liveness probe."""
    labels = _labels(app, target)
    pod = _pod_template(app, target, app.image, serves=False)
    pod["spec"]["restartPolicy"] = "Never"
    cron_job = k8s.batch.v1.CronJob(
        _logical(target, app, "cronjob"),
        metadata=_metadata(app, target, app.name),
        spec={
            "schedule": app.schedule,
            "timeZone": app.time_zone,
            "concurrencyPolicy": app.concurrency_policy,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": app.backoff_limit,
                    "activeDeadlineSeconds": app.active_deadline_seconds,
                    "template": pod,
                },
            },
        },
        opts=_opts(target, *target.admission_policies),
    )
    return [cron_job]


def kafka_consumer(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """A consumer released as a replica-weighted canary: no traffic routing (it takes no
    requests), each `setWeight` is the share of replicas on the new version, and consumer lag
    gates it."""
    assert app.kafka is not None
    release = app.release
    canary: dict[str, Any] = {"steps": [step.manifest() for step in release.steps]}
    if release.analysis.enabled:
        canary["analysis"] = {
            **_analysis(
                ["kafka-consumer-lag"],
                {
                    "consumer-group": app.consumer_group,
                    "topic": app.kafka.topic,
                    "max-lag": str(app.kafka.max_lag),
                },
            ),
            "startingStep": release.analysis.starting_step,
        }
    rollout = _rollout(app, target, {"canary": canary}, replicas=app.replicas, after=[])
    return [rollout, _pod_disruption_budget(app, target)]


# --------------------------------------------------------------------------------------------------
# api-service strategies


def _canary(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """Stable and canary Services; the ALB splits traffic between them by the step's weight
    (the controller writes the Ingress's weighted-forward action). The analysis watches the
    canary Service only, from `startingStep` on; failing it aborts the rollout."""
    release, canary_name = app.release, canary_service(app)
    routed = target.ingress_class_name is not None
    stable = _service(app, target, app.name, "stable-service", skip_await=True)
    canary_svc = _service(app, target, canary_name, "canary-service", skip_await=True)
    created: list[pulumi.Resource] = [stable, canary_svc]
    canary: dict[str, Any] = {"stableService": app.name, "canaryService": canary_name}
    if routed:
        # The Ingress's one rule names the root Service with the port `use-annotation`: the AWS
        # Load Balancer Controller then forwards by the action the rollout controller keeps in
        # `alb.ingress.kubernetes.io/actions.<rootService>`.
        created.append(_ingress(app, target, app.name, {"name": "use-annotation"}, True))
        canary["trafficRouting"] = {
            "alb": {"ingress": app.name, "rootService": app.name, "servicePort": SERVICE_PORT}
        }
    canary["steps"] = [step.manifest() for step in release.steps]
    if release.analysis.enabled:
        canary["analysis"] = {
            **_http_analysis(app, canary_name, target.namespace),
            "startingStep": release.analysis.starting_step,
        }
    rollout = _rollout(app, target, {"canary": canary}, replicas=None, after=list(created))
    return created + [rollout, *_autoscaler(app, target, "Rollout", app.name, rollout)]


def _blue_green(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """Active and preview Services. The new version comes up behind the preview Service, the
    analysis runs against it, and only then is the active Service switched — by the controller
    on its own, or in production by a person (`kubectl argo rollouts promote`)."""
    release, preview_name = app.release, preview_service(app)
    active = _service(app, target, app.name, "active-service", skip_await=True)
    preview = _service(app, target, preview_name, "preview-service", skip_await=True)
    auto_promotion = release.auto_promotion
    if auto_promotion is None:
        auto_promotion = not target.production
    blue_green: dict[str, Any] = {
        "activeService": app.name,
        "previewService": preview_name,
        "autoPromotionEnabled": auto_promotion,
    }
    if release.analysis.enabled:
        blue_green["prePromotionAnalysis"] = _http_analysis(app, preview_name, target.namespace)
    rollout = _rollout(
        app, target, {"blueGreen": blue_green}, replicas=None, after=[active, preview]
    )
    created: list[pulumi.Resource] = [active, preview, rollout]
    if target.ingress_class_name is not None:
        created.append(_ingress(app, target, app.name, {"name": "http"}, False))
    return created + _autoscaler(app, target, "Rollout", app.name, rollout)


def _service_switch(app: AppConfig, target: AppTarget) -> list[pulumi.Resource]:
    """Blue/green without a controller: two Deployments and one Service whose selector names
    the active color. Cutting over is the one-line change `active: green`, reviewed in a pull
    request; rolling back is the same line reverted."""
    created: list[pulumi.Resource] = []
    for color in COLORS:
        deployment = _deployment(app, target, color)
        created += [
            deployment,
            *_autoscaler(app, target, "Deployment", color_workload(app, color), deployment),
        ]
    selector = {APP_LABEL: app.name, COLOR_LABEL: app.release.active}
    created.insert(0, _service(app, target, app.name, "service", selector=selector))
    if target.ingress_class_name is not None:
        created.append(_ingress(app, target, app.name, {"name": "http"}, False))
    return created


# --------------------------------------------------------------------------------------------------
# Objects


def _rollout(
    app: AppConfig,
    target: AppTarget,
    strategy: dict[str, Any],
    *,
    replicas: Optional[int],
    after: Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """A Rollout. With an autoscaler, `replicas` is left to it: a value here would reset the
    scale on every update. A rollout that makes no progress for 10 minutes aborts itself."""
    spec: dict[str, Any] = {}
    if not target.scaled_externally and (replicas is not None or not app.autoscaling.enabled):
        spec["replicas"] = replicas if replicas is not None else app.replicas
    spec.update(
        {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {APP_LABEL: app.name}},
            "template": _pod_template(app, target, app.image, serves=True),
            "progressDeadlineSeconds": 600,
            "progressDeadlineAbort": True,
            "strategy": strategy,
        }
    )
    return k8s.apiextensions.CustomResource(
        _logical(target, app, "rollout"),
        api_version=ROLLOUT_API,
        kind="Rollout",
        metadata=_metadata(
            app, target, app.name, annotations=dict(target.rollout_annotations) or None
        ),
        spec=spec,
        opts=_opts(target, *target.rollouts, *target.admission_policies, *after),
    )


def _deployment(app: AppConfig, target: AppTarget, color: Color) -> k8s.apps.v1.Deployment:
    selector = {APP_LABEL: app.name, COLOR_LABEL: color}
    spec: dict[str, Any] = {}
    if not app.autoscaling.enabled:
        spec["replicas"] = app.replicas
    spec.update(
        {
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "template": _pod_template(
                app, target, app.image_of(color), serves=True, extra_labels={COLOR_LABEL: color}
            ),
        }
    )
    return k8s.apps.v1.Deployment(
        _logical(target, app, f"{color}-deployment"),
        metadata=_metadata(app, target, color_workload(app, color), {COLOR_LABEL: color}),
        spec=spec,
        opts=_opts(target, *target.admission_policies),
    )


def _service(
    app: AppConfig,
    target: AppTarget,
    name: str,
    role: str,
    *,
    selector: Optional[dict[str, str]] = None,
    skip_await: bool = False,
) -> k8s.core.v1.Service:
    """A ClusterIP Service on port 80 → the pods' `http` port. For a Rollout the controller
    adds the pod-template hash of the version each Service should reach to its selector."""
    return k8s.core.v1.Service(
        _logical(target, app, role),
        metadata=_metadata(app, target, name, annotations=SKIP_AWAIT if skip_await else None),
        spec={
            "type": "ClusterIP",
            "selector": selector or {APP_LABEL: app.name},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
        opts=_opts(target, *_admitted_by_load_balancer_controller(target)),
    )


def _ingress(
    app: AppConfig,
    target: AppTarget,
    service: str,
    port: dict[str, Any],
    skip_await: bool,
) -> k8s.networking.v1.Ingress:
    """The app's rule on its tenant's internet-facing ALB: HTTPS at the app's host with the
    host's certificate, traffic straight to pod IPs (`target-type: ip`), health checked on the
    readiness path. A requested certificate is validated before the Ingress is created, so the
    listener never serves a certificate ACM has not issued."""
    assert target.ingress_class_name is not None
    assert app.host is not None, "config.py gives every served app a host"
    certificate_arn = None
    if app.certificate == "request":
        zone = zone_for(app.host, target.dns_zones)
        assert zone is not None, "config.py checks every requested certificate's zone"
        certificate_arn = validated_certificate(
            _logical(target, app, "ingress"),
            host=app.host,
            zone_id=target.dns_zones[zone],
            tags=target.tags,
            parent=target.parent,
        )
    alias_arns = [arn for _, arn in target.aliases if arn is not None]
    if certificate_arn is not None and alias_arns:
        # The listener serves each host's certificate (SNI): the controller takes a list.
        certificate_arn = pulumi.Output.all(certificate_arn, *alias_arns).apply(",".join)
    annotations: dict[str, Any] = {
        **https_annotations("internet-facing", target.tags),
        **certificate_annotation(certificate_arn),
        GROUP_ANNOTATION: ingress_group(target.tenant),
        f"{ALB}/healthcheck-path": app.probes.readiness_path,
        # The host is the one config.py approved for this tenant: external-dns may publish it.
        **DNS_PUBLISH,
        **(SKIP_AWAIT if skip_await else {}),
    }
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": "/",
                    "pathType": "Prefix",
                    "backend": {"service": {"name": service, "port": port}},
                }
            ]
        }
    }
    hosts = [app.host, *(host for host, _ in target.aliases)]
    rules = [{"host": host, **rule} for host in hosts]
    # Without a certificate ARN the controller discovers an issued ACM certificate for these hosts.
    tls = [{"hosts": hosts}]
    return k8s.networking.v1.Ingress(
        _logical(target, app, "ingress"),
        metadata=_metadata(app, target, app.name, annotations=annotations),
        spec={"ingressClassName": target.ingress_class_name, "tls": tls, "rules": rules},
        opts=_opts(target, *_admitted_by_load_balancer_controller(target)),
    )


def _autoscaler(
    app: AppConfig,
    target: AppTarget,
    kind: str,
    name: str,
    workload: pulumi.Resource,
    role: Optional[str] = None,
) -> list[pulumi.Resource]:
    """CPU-based scaling between `replicas` and `maxReplicas`; none when switched off (the
    workload then keeps `replicas`)."""
    if not app.autoscaling.enabled:
        return []
    api_version = ROLLOUT_API if kind == "Rollout" else "apps/v1"
    if role is None:
        role = "hpa" if kind == "Rollout" else f"{name.removeprefix(app.name + '-')}-hpa"
    autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
        _logical(target, app, role),
        metadata=_metadata(app, target, name),
        spec={
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
            "minReplicas": app.replicas,
            "maxReplicas": app.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": app.autoscaling.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
        opts=_opts(target, workload),
    )
    return [autoscaler]


def _pod_disruption_budget(
    app: AppConfig, target: AppTarget, selector: Optional[dict[str, Any]] = None
) -> k8s.policy.v1.PodDisruptionBudget:
    """One pod at a time may be evicted (node drains, upgrades), across every version and color;
    pods that are not running well may always be evicted so they never block a drain."""
    return k8s.policy.v1.PodDisruptionBudget(
        _logical(target, app, "pdb"),
        metadata=_metadata(app, target, app.name),
        spec={
            "maxUnavailable": 1,
            "selector": selector or {"matchLabels": {APP_LABEL: app.name}},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
        opts=_opts(target),
    )


def _service_monitor(
    app: AppConfig, target: AppTarget, selector: Optional[dict[str, Any]] = None
) -> k8s.apiextensions.CustomResource:
    """Prometheus scrapes `/metrics` on the app port of every Service of the app; each series
    gets the `namespace` and `service` labels the analysis queries filter on."""
    monitoring = [target.prometheus_operator] if target.prometheus_operator is not None else []
    # An SLO opt-out stays visible where the app's metrics are collected (and in the plan).
    opted_out = {SLO_ANNOTATION: SLO_OPT_OUT} if app.service_level is None else None
    return k8s.apiextensions.CustomResource(
        _logical(target, app, "service-monitor"),
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata=_metadata(app, target, app.name, annotations=opted_out),
        spec={
            "selector": selector or {"matchLabels": {APP_LABEL: app.name}},
            "namespaceSelector": {"matchNames": [target.namespace]},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
        opts=_opts(target, *monitoring),
    )


# --------------------------------------------------------------------------------------------------
# Pods and analysis


def _pod_template(
    app: AppConfig,
    target: AppTarget,
    image: str,
    *,
    serves: bool,
    extra_labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """Pod Security `restricted` at pod and container level, bounded resources, a writable
    /tmp on an emptyDir (the root filesystem is read-only by default)."""
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if app.run_as_user is not None:
        pod_security.update({"runAsUser": app.run_as_user, "runAsGroup": app.run_as_user})
    container: dict[str, Any] = {
        "name": app.name,
        "image": image,
        "resources": {
            "requests": {
                "cpu": app.resources.requests.cpu,
                "memory": app.resources.requests.memory,
            },
            "limits": {"cpu": app.resources.limits.cpu, "memory": app.resources.limits.memory},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": app.read_only_root_filesystem,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    env = {**_otel_env(app, target, image), **app.env}
    env_vars: list[dict[str, Any]] = [{"name": key, "value": env[key]} for key in sorted(env)]
    if target.flags is not None:
        env_vars += [var for var in target.flags.env if var["name"] not in env]
    if env_vars:
        container["env"] = env_vars
    if serves:
        container["ports"] = [{"name": "http", "containerPort": app.port, "protocol": "TCP"}]
        container["readinessProbe"] = _http_probe(app.probes.readiness_path, period=5)
        container["livenessProbe"] = {
            **_http_probe(app.probes.liveness_path, period=10),
            "initialDelaySeconds": 10,
        }
    spec: dict[str, Any] = {
        "serviceAccountName": target.service_account,
        # The IRSA token is projected by EKS; no Kubernetes API token unless asked for.
        "automountServiceAccountToken": False,
        "securityContext": pod_security,
        "containers": [container],
        "volumes": [TMP_VOLUME],
    }
    if app.capacity == "spot":
        spec.update(_spot_placement())
    metadata: dict[str, Any] = {"labels": {**_labels(app, target), **(extra_labels or {})}}
    if target.flags is not None:
        metadata["labels"].update(target.flags.labels)
        if target.flags.annotations:
            metadata["annotations"] = dict(target.flags.annotations)
    return {"metadata": metadata, "spec": spec}


def _spot_placement() -> dict[str, Any]:
    """`capacity: spot`: the pod tolerates the spot pool's taint, and prefers spot nodes that are
    already up (Karpenter weighs its spot pool first when it launches one). Without spot
    capacity the preference is void and the pod runs on on-demand nodes."""
    return {
        "tolerations": [{**SPOT_TAINT, "operator": "Equal"}],
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {
                            "matchExpressions": [
                                {"key": CAPACITY_TYPE_KEY, "operator": "In", "values": ["spot"]}
                            ]
                        },
                    }
                ]
            }
        },
    }


def _otel_env(app: AppConfig, target: AppTarget, image: str) -> dict[str, str]:
    """OpenTelemetry SDK settings: the collector, and the tenant, app and version (the image
    tag, or digest) every span carries, as the app's metrics and logs do. An app's own `env`
    wins over these."""
    if target.otlp_endpoint is None:
        return {}
    match = IMAGE.fullmatch(image)
    version = (match.group("tag") or match.group("digest")) if match else image
    attributes = {
        "tenant": target.tenant,
        "app": app.name,
        "version": version,
        "service.namespace": target.tenant,
        "service.version": version,
        "k8s.namespace.name": target.namespace,
    }
    return {
        "OTEL_SERVICE_NAME": app.name,
        "OTEL_RESOURCE_ATTRIBUTES": ",".join(f"{k}={v}" for k, v in attributes.items()),
        "OTEL_EXPORTER_OTLP_ENDPOINT": target.otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }


def _http_probe(path: str, *, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _http_analysis(app: AppConfig, service: str, namespace: str) -> dict[str, Any]:
    """success-rate (and latency-p99 when a p99 bound is set, burn-rate when a burn-rate limit
    is) against one Service's series: the new version's, never the stable one's."""
    analysis = app.release.analysis
    templates, args = ["success-rate"], {
        "service-name": service,
        "namespace": namespace,
        "threshold": str(analysis.success_rate),
    }
    if analysis.latency_p99_ms is not None:
        templates.append("latency-p99")
        args["threshold-ms"] = str(analysis.latency_p99_ms)
    if analysis.burn_rate is not None:
        slo = app.service_level
        assert slo is not None, "apps_config refuses burnRate without an SLO"
        templates.append("burn-rate")
        args["objective"] = analysis_templates.objective_ratio(slo.availability)
        args["max-burn-rate"] = str(analysis.burn_rate.max)
    return _analysis(templates, args)


def _analysis(templates: list[str], args: dict[str, str]) -> dict[str, Any]:
    """The platform's ClusterAnalysisTemplates, with every argument they declare filled in."""
    return {
        "templates": [{"templateName": name, "clusterScope": True} for name in templates],
        "args": [{"name": name, "value": value} for name, value in args.items()],
    }


# --------------------------------------------------------------------------------------------------
# Names, labels, options


def _logical(target: AppTarget, app: AppConfig, role: str) -> str:
    """`<tenant>/<app>/<role>`: the separator no tenant or app name contains keeps names unique
    across tenants and apps (`payments-jobs` + `api` never meets `payments` + `jobs-api`)."""
    return f"{target.tenant}/{app.name}/{role}"


def _labels(app: AppConfig, target: AppTarget) -> dict[str, str]:
    return {**target.labels, APP_LABEL: app.name}


def _metadata(
    app: AppConfig,
    target: AppTarget,
    name: str,
    extra_labels: Optional[dict[str, str]] = None,
    annotations: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": target.namespace,
        "labels": {**_labels(app, target), **(extra_labels or {})},
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def _admitted_by_load_balancer_controller(target: AppTarget) -> list[pulumi.Resource]:
    """The controller's release, for a Service or an Ingress: its webhooks on both fail closed
    (eks-charts, aws-load-balancer-controller/templates/webhook.yaml, `mservice.elbv2.k8s.aws`
    and `vingress.elbv2.k8s.aws`), and an Ingress also needs the IngressClass it installs."""
    controller = target.load_balancer_controller
    return [controller] if controller is not None else []


def _opts(target: AppTarget, *after: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(
        parent=target.parent,
        provider=target.provider,
        depends_on=[*target.depends_on, *after],
    )
